"""Hebrew one-letter prefixes: ו/ה/ב/ל/ש/מ/כ and their combinations ("וב", "שב", "כש", "ומה").

Spoken Hebrew glues prefixes onto words (ו "and", ש "that", כש "when", ב "at/in",
ל "to/for", מ "from", כ "about", ה "the"), so "וביום", "שבשלוש" and "לחמישי" must be split
before a vocabulary lookup. Two tools, for two jobs:

- `split_prefix` parses a string of prefix letters in the grammatical order
  ו -> ש/כש -> ב/כ/ל/מ -> ה into a `Prefix` (what each letter means), for the date/time
  lexicon, where the preposition matters ("ב" before an hour makes it a clock time);
- `variants` lists a word with up to three leading prefix letters stripped, for matching
  against a known vocabulary, where a spurious form is harmless.

Source of the rules: standard Modern Hebrew grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from voicectl.hebrew.cache import text_cache
from voicectl.hebrew.letters import PREFIX_LETTERS, fold

__all__ = ["Prefix", "split_prefix", "variants"]


@dataclass(frozen=True, slots=True)
class Prefix:
    """The prefix letters split off a word.

    Attributes:
        raw: the letters as written ("" when none), e.g. "וב".
        conj: ו ("and") present.
        rel: ש or כש ("that"/"when") present.
        prep: one of "ב", "ל", "מ", "כ" or "" (the preposition).
        det: ה ("the") present, written after the preposition (e.g. "מה", "ה").
    """

    raw: str
    conj: bool
    rel: bool
    prep: str
    det: bool


_PREFIX_RE = re.compile(r"^(ו)?(ש|כש)?([בלמכ])?(ה)?$")
_NO_PREFIX = Prefix("", False, False, "", False)


@lru_cache(maxsize=64)
def split_prefix(raw: str) -> Prefix | None:
    """Parse a string of Hebrew prefix letters.

    Args:
        raw: candidate prefix letters, e.g. "וב", "שב", "ל", "".

    Returns:
        A `Prefix`, or None if the letters are not a valid prefix sequence
        (order ו -> ש/כש -> ב/כ/ל/מ -> ה).
    """
    if not raw:
        return _NO_PREFIX
    m = _PREFIX_RE.match(raw)
    if m is None:
        return None
    return Prefix(raw, bool(m.group(1)), bool(m.group(2)), m.group(3) or "", bool(m.group(4)))


@text_cache(maxsize=4096, max_chars=32)
def variants(word: str, max_prefixes: int = 3) -> tuple[str, ...]:
    """`word` folded, then with up to `max_prefixes` one-letter prefixes stripped.

    Only strips while at least two letters remain. "ובשוודי" -> ("ובשוודי", "בשוודי", "שוודי",
    "וודי"); callers compare against known vocabularies, so spurious forms are harmless.
    Cached (every matcher of a turn asks it of the same words).
    """
    w = fold(word)
    out = [w]
    cur = w
    for _ in range(max_prefixes):
        if len(cur) > 2 and cur[0] in PREFIX_LETTERS and not cur[1].isdigit():
            cur = cur[1:]
            out.append(cur)
        elif len(cur) > 1 and cur[0] in PREFIX_LETTERS and cur[1:].replace(":", "").isdigit():
            cur = cur[1:]
            out.append(cur)
            break
        else:
            break
    return tuple(out)
