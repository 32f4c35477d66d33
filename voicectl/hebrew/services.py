"""One service matcher: which of a business's services a caller (or a prompt) names.

Matches the policy's names, aliases and ids, as callers say them: with prefixes
("לשוודי", "ברקמות עמוק"), with or without the generic word ("עיסוי שוודי" / "שוודי"),
common spellings ("שבדי", "עמוקות", "ספורטיבי"), niqqud and punctuation; a distinctive
single word of a multi-word alias ("רקמות" -> deep tissue) when only one service has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from voicectl.hebrew.letters import fold
from voicectl.hebrew.negation import cancelled, phrase_breaks
from voicectl.hebrew.prefixes import variants
from voicectl.hebrew.text import normalize, tokens
from voicectl.hebrew.vocab import fset, in_vocab

if TYPE_CHECKING:
    from voicectl.booking.policy import Service

__all__ = [
    "GENERIC_SERVICE_WORDS",
    "ServiceMention",
    "match_service",
    "mentions_generic_service",
    "service_mentions",
]

GENERIC_SERVICE_WORDS = fset(["עיסוי", "טיפול", "מסאז", "מסז", "massage"])
_SPELLING = {
    fold("שבדי"): fold("שוודי"),
    fold("שוודית"): fold("שוודי"),
    fold("שבדית"): fold("שוודי"),
    fold("שויידי"): fold("שוודי"),
    fold("סוידי"): fold("שוודי"),
    fold("עמוקות"): fold("עמוק"),
    fold("עמוקה"): fold("עמוק"),
    fold("רפלקסולוגי"): fold("רפלקסולוגיה"),
    fold("רפלקסולוגית"): fold("רפלקסולוגיה"),
    fold("ספורטיבי"): fold("ספורט"),
    fold("ספורטאים"): fold("ספורט"),
}


def _canon(word: str) -> str:
    w = fold(word)
    return _SPELLING.get(w, w)


def _service_names(service: Service) -> list[str]:
    names = [service.name, *service.aliases, service.id.replace("_", " ")]
    return [n for n in names if n]


@lru_cache(maxsize=256)
def _alias_token_lists(service: Service) -> tuple[tuple[str, ...], ...]:
    """The words of each of `service`'s names, with and without the generic word (cached:
    a policy's services are few and immutable)."""
    out: list[tuple[str, ...]] = []
    for name in _service_names(service):
        toks = tuple(_canon(t) for t in normalize(name).split())
        if not toks:
            continue
        out.append(toks)
        core = tuple(t for t in toks if t not in GENERIC_SERVICE_WORDS)
        if core and core != toks:
            out.append(core)
    return tuple(out)


def _forms(text_word: str, allow_prefix: bool) -> tuple[str, ...]:
    """The forms of a transcript word an alias word is compared with: the word (or, with
    `allow_prefix`, each of its prefix-stripped `variants`), common spellings mapped."""
    cands = variants(text_word) if allow_prefix else (fold(text_word),)
    return tuple(_SPELLING.get(c, c) for c in cands)


def _word_match(forms: tuple[str, ...], alias_word: str) -> bool:
    """True when one of a transcript word's `_forms` is `alias_word`, or - for an alias
    word of 4+ letters - starts with it and has at most two letters more."""
    for c in forms:
        if c == alias_word:
            return True
        if len(alias_word) >= 4 and c.startswith(alias_word) and len(c) - len(alias_word) <= 2:
            return True
    return False


@dataclass(frozen=True)
class ServiceMention:
    """A service named in a transcript, at token positions [`start`, `end`) of `tokens`."""

    service: Service
    start: int
    end: int


def service_mentions(text: str, services: Sequence[Service]) -> list[ServiceMention]:
    """Every service named in `text`, in the order said (longest alias at each place).

    Whole aliases are tried first ("רקמות עמוק", "עיסוי שוודי", with or without "עיסוי",
    with prefixes: "לשוודי"); where none matches, a distinctive single word of a multi-word
    alias ("רקמות" -> deep tissue) counts when only one service has it.

    Args:
        text: the caller's words (any string).
        services: the policy's services.

    Returns:
        Mentions with token positions in the words of
        `voicectl.hebrew.negation.phrase_breaks(text)`.
    """
    toks, _ = phrase_breaks(text)
    if not toks or not services:
        return []
    # A prefix is allowed on an alias's first word only ("לשוודי", not "עיסוי לשוודי").
    first = [_forms(t, True) for t in toks]
    rest = [_forms(t, False) for t in toks]
    found: list[ServiceMention] = []
    for svc in services:
        for alias in _alias_token_lists(svc):
            n = len(alias)
            for i in range(len(toks) - n + 1):
                if _word_match(first[i], alias[0]) and all(
                    _word_match(rest[i + k], alias[k]) for k in range(1, n)
                ):
                    found.append(ServiceMention(svc, i, i + n))
    if not found:
        owners: dict[str, set[int]] = {}
        for idx, svc in enumerate(services):
            for alias in _alias_token_lists(svc):
                if len(alias) < 2:
                    continue
                for w in alias:
                    if len(w) >= 4 and w not in GENERIC_SERVICE_WORDS:
                        owners.setdefault(w, set()).add(idx)
        for i in range(len(toks)):
            for w, idxs in owners.items():
                if len(idxs) == 1 and _word_match(first[i], w):
                    found.append(ServiceMention(services[next(iter(idxs))], i, i + 1))
    # At each place keep the longest match; drop a match inside a longer one.
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[ServiceMention] = []
    for m in found:
        if any(k.start <= m.start and m.end <= k.end for k in kept):
            continue
        kept.append(m)
    return kept


def match_service(text: str, services: Sequence[Service]) -> Service | None:
    """The one service `text` names (by Hebrew name, any alias, or id), or None.

    Mentions the caller negated, retracted or replaced ("לא שוודי, ספורט", "שוודי, לא
    סליחה, ספורט", "במקום רקמות עמוק תן לי ספורט") do not count
    (`voicectl.hebrew.negation.cancelled`). Of the rest the longest alias wins; two
    different services named equally well are a choice the caller has not made
    ("שוודי או ספורט") -> None.

    Args:
        text: the caller's words, or a tool argument ("deep_tissue", "עיסוי שוודי").
        services: the policy's services.

    Returns:
        The service, or None when none or more than one is named.
    """
    mentions = service_mentions(text, services)
    words, breaks = phrase_breaks(text)
    gone = cancelled(words, breaks, [(m.start, m.end) for m in mentions])
    mentions = [m for k, m in enumerate(mentions) if k not in gone]
    if not mentions:
        return None
    longest = max(m.end - m.start for m in mentions)
    best = [m for m in mentions if m.end - m.start == longest]
    if len({m.service.id for m in best}) == 1:
        return best[0].service
    return None


def mentions_generic_service(text: str) -> bool:
    """True when the caller says "עיסוי"/"טיפול"/"מסאז'" without naming which."""
    return any(in_vocab(t, GENERIC_SERVICE_WORDS) for t in tokens(text))
