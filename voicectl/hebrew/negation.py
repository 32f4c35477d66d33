"""Negation and self-correction scope: which mentions of a sentence the caller took back.

Callers correct themselves inside one sentence, and the mention they took back must not
win (issue 11). Three shapes, each cancelling one mention:

- "לא X" - X is negated: "לא בערב, בבוקר", "לא שוודי אלא ספורט", "ולא ביום שני". Only the
  mention right after "לא" (a preposition or "יום" may stand between, no punctuation), so
  in "לא בערב בבוקר" the morning stands. "לא לפני / לא אחרי / לא יותר מאוחר" are bounds,
  not negations, and are left alone.
- "X, לא, Y" / "X - לא, Y" / "X, לא סליחה, Y" / "X, סליחה, Y" / "X בעצם Y" - a retraction:
  the mention *before* it is cancelled, when another mention of the same kind follows.
  "לא" followed by punctuation or a correction word ("סליחה", "רגע", "בעצם", "טעיתי") is a
  retraction, not a negation of what follows.
- "במקום X, Y" / "Y במקום X" - X is replaced.

The rules work on any sequence of words with their phrase breaks and any mentions given
as token spans, so the date/time resolver, the service matcher and the agent share them.
Source: how Israeli callers correct themselves on the phone (the issue's examples and
their variants); standard Hebrew negation ("לא" precedes what it negates).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from voicectl.hebrew.letters import fold
from voicectl.hebrew.prefixes import variants
from voicectl.hebrew.text import tokens

__all__ = ["CORRECTION_WORDS", "cancelled", "phrase_breaks"]

_NOT = fold("לא")
_INSTEAD = frozenset(fold(w) for w in ("במקום", "ובמקום"))
CORRECTION_WORDS = frozenset(
    fold(w) for w in ("סליחה", "רגע", "בעצם", "טעיתי", "התכוונתי", "אופס", "כלומר", "אה", "אמ")
)
"""Words that turn a following "לא" (or stand alone) into a retraction of what came before."""
# Words that may stand between "לא"/"במקום" and the mention they scope over.
_BRIDGE = frozenset(fold(w) for w in ("ב", "ביום", "יום", "ל", "ליום", "את", "עם", "של", "ה"))
# "לא לפני ארבע" = at four or later: a bound, not a negation of four.
_NOON = frozenset(fold(w) for w in ("הצהריים", "הצהרים", "צהריים", "צהרים"))
_BOUNDS = frozenset(fold(w) for w in ("לפני", "אחרי", "יותר", "מאוחר", "מוקדם", "רק", "משנה"))


def _is_not(word: str) -> bool:
    f = fold(word)
    return f == _NOT or (f.startswith(("ו", "א")) and f[1:] == _NOT and len(f) == 3)


def _is(word: str, vocab: frozenset[str]) -> bool:
    return any(v in vocab for v in variants(word, 1))


def cancelled(
    words: Sequence[str],
    breaks: Sequence[bool],
    mentions: Sequence[tuple[int, int]],
) -> set[int]:
    """Which `mentions` the caller negated, retracted or replaced.

    Args:
        words: the sentence's words (normalised or cleaned; prefixes still attached).
        breaks: ``breaks[i]`` is True when punctuation stands between ``words[i-1]`` and
            ``words[i]`` (same length as `words`).
        mentions: mentions of one kind (dates, times, parts of day, services) as token
            spans ``(start, end)``, end excluded, in any order.

    Returns:
        The indices into `mentions` of the cancelled ones (possibly empty). A cancelled
        mention never wins; what remains is read as if the caller had said only that.
    """
    n = len(words)
    order = sorted(range(len(mentions)), key=lambda k: mentions[k])
    out: set[int] = set()

    def next_mention(i: int) -> int | None:
        """The mention starting within two bridge words after token i, no break between."""
        for k in order:
            s = mentions[k][0]
            if s <= i:
                continue
            gap = range(i + 1, s)
            if s - i > 3 or any(breaks[j] for j in range(i + 1, s + 1) if j < n):
                return None
            if all(_is(words[j], _BRIDGE) for j in gap):
                return k
            return None
        return None

    def prev_mention(i: int) -> int | None:
        before = [k for k in order if mentions[k][1] <= i]
        return before[-1] if before else None

    def later_mention(i: int) -> bool:
        return any(mentions[k][0] > i for k in order)

    for i, w in enumerate(words):
        if _is_not(w):
            nxt = words[i + 1] if i + 1 < n else ""
            retraction = i + 1 >= n or breaks[i + 1] or _is(nxt, CORRECTION_WORDS)
            if retraction:
                k = prev_mention(i)
                if k is not None and later_mention(i):
                    out.add(k)
                continue
            after = fold(words[i + 2]) if i + 2 < n else ""
            if nxt and _is(nxt, _BOUNDS) and after not in _NOON:  # not "לא אחרי הצהריים"
                continue
            k = next_mention(i)
            if k is not None:
                out.add(k)
        elif fold(w) in _INSTEAD:
            k = next_mention(i)
            if k is not None:
                out.add(k)
        elif fold(w) in CORRECTION_WORDS and i > 0:
            # "שוודי, סליחה, ספורט" / "מחר בעצם מחרתיים": the earlier one is taken back.
            k = prev_mention(i)
            if k is not None and later_mention(i) and mentions[k][1] >= i - 1:
                out.add(k)
    return out


# Punctuation between words; ":" and "." inside a clock time ("12:30", "9.30") are not.
_BREAK_RE = re.compile(
    r"[,;!?\u2026\n\u05c3]|(?<!\d)[:.]|[:.](?!\d)|\s[-\u2013\u2014\u05be]+\s|\s[-\u2013\u2014]+$"
)


def phrase_breaks(text: str) -> tuple[list[str], list[bool]]:
    """The normalised words of `text` and, for each, whether punctuation precedes it.

    `voicectl.hebrew.text.normalize` drops punctuation; this keeps where it stood, so
    that `cancelled` can tell "לא, שני" (a retraction) from "לא שני" (a negation).

    Args:
        text: the caller's words.

    Returns:
        ``(words, breaks)`` with ``words == tokens(text)`` whenever no word is split by
        punctuation.
    """
    words: list[str] = []
    breaks: list[bool] = []
    for chunk in _BREAK_RE.split(text or ""):
        toks = tokens(chunk)
        for j, t in enumerate(toks):
            words.append(t)
            breaks.append(j == 0 and bool(words[:-1]))
    return words, breaks
