"""Hebrew text as the rest of the package sees it: cleaned, normalised, tokenised.

Two views of one transcript, built on one clean-up (`clean`):

- `clean(text)` keeps every character position meaningful: niqqud, cantillation and
  bidi/zero-width controls are removed (with an index map back to the input), and the
  quote family (geresh, gershayim, curly quotes), maqaf and dashes are unified to ``'``,
  ``"`` and ``-``. The date/time resolver tokenises this (`tokenize`: words and numbers
  with their character offsets, whether punctuation or a hyphen stands before them, and
  whether they belong to a phone number) so that spans map back to what was said.
- `normalize(text)` is the lossy matching form: `clean`, then quotes dropped, maqaf and
  hyphens to spaces (a lone prefix letter left by "ב-12" is glued back: "ב12"), other
  punctuation to spaces, "12:30"-style clock digits kept, lower case, spaces collapsed.
  `tokens` splits it; `fold` maps final letters (ך ם ן ף ץ -> כ מ נ פ צ) for comparison.

Nothing here raises on any string.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from voicectl.hebrew.cache import text_cache
from voicectl.hebrew.letters import PREFIX_LETTERS, fold

__all__ = [
    "HEB",
    "NUM",
    "Token",
    "clean",
    "fold",
    "normalize",
    "tokenize",
    "tokens",
]

# -- clean: the one character-level clean-up ------------------------------------------------
_TRANSLATE = str.maketrans(
    {
        "\u05f4": '"',  # gershayim
        "\u05f3": "'",  # geresh
        "\u2019": "'",
        "\u2018": "'",
        "`": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u05be": "-",  # maqaf
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u05c0": " ",
        "\u05c3": ".",
    }
)
# niqqud and cantillation, bidi and zero-width controls: removed (offsets are remapped).
_DROP_RE = re.compile(
    "[\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u200b-\u200f"
    "\u202a-\u202e\u2066-\u2069\ufeff]"
)


def clean(text: str) -> tuple[str, list[int] | None]:
    """Strip niqqud/controls and unify quotes, geresh and dashes.

    Args:
        text: raw transcript.

    Returns:
        ``(normalised, index_map)``: ``index_map[i]`` is the input offset of normalised
        character ``i`` (None when no character was removed: offsets are identical).
    """
    if _DROP_RE.search(text) is None:
        return text.translate(_TRANSLATE), None
    out: list[str] = []
    idx: list[int] = []
    for i, ch in enumerate(text):
        if _DROP_RE.match(ch):
            continue
        out.append(ch)
        idx.append(i)
    return "".join(out).translate(_TRANSLATE), idx


_TOKEN_RE = re.compile(r"[\u05d0-\u05ea]+(?:[\"'][\u05d0-\u05ea]+)*'?|[0-9]+(?:[:./][0-9]+)*")
_PHONE_RE = re.compile(r"(?<![0-9])\+?[0-9](?:[0-9 \-]*[0-9])?(?![0-9])")
_BREAK_CHARS = frozenset(",.;:!?\u2026\n\r\t()[]{}|/\\")

HEB, NUM = 0, 1


@dataclass(slots=True)
class Token:
    text: str
    start: int
    end: int
    kind: int
    brk: bool  # punctuation (a phrase break) between the previous token and this one
    tight: bool  # written attached to the previous token, or with only a hyphen between
    phone: bool = False


def tokenize(norm: str) -> list[Token]:
    toks: list[Token] = []
    prev_end = 0
    for m in _TOKEN_RE.finditer(norm):
        s, e = m.span()
        text = m.group()
        if text[-1] == "'" and len(text) > 2:  # a closing quote, not "יום א'"
            text = text[:-1]
            e -= 1
        gap = norm[prev_end:s]
        brk = any(c in _BREAK_CHARS for c in gap)
        tight = gap == "" or gap.strip(" ") == "-"
        kind = NUM if text[0].isdigit() else HEB
        toks.append(Token(text, s, e, kind, brk, tight))
        prev_end = e
    if any(t.kind == NUM for t in toks):
        for m in _PHONE_RE.finditer(norm):
            if sum(c.isdigit() for c in m.group()) >= 7:
                s, e = m.span()
                for t in toks:
                    if t.kind == NUM and t.start < e and t.end > s:
                        t.phone = True
        for t in toks:
            if t.kind == NUM and t.text.isdigit() and len(t.text) >= 7:
                t.phone = True
    return toks


# -- normalize: the matching form ------------------------------------------------------------

_DASHES = "\u05be-\u2010\u2011\u2012\u2013\u2014\u2015\u2212_/"
_QUOTES = "\"'`\u05f3\u05f4\u2018\u2019\u201c\u201d\u201e"
_CLOCK_SEP_RE = re.compile(r"(?<=\d)\s*([:.])\s*(?=\d)")
_NON_WORD_RE = re.compile(r"[^\w:.\s]")
_HYPHEN_PREFIX_RE = re.compile(
    r"(?<![\u05D0-\u05EA])([\u05D5\u05D4\u05D1\u05DC\u05E9\u05DE\u05DB]{1,2})"
    r"[\u05BE\-\u2010-\u2015]\s*"
)
_LONE_PREFIX_RE = re.compile(rf"(?:(?<=\s)|^)([{PREFIX_LETTERS}])\s+(?=\S)")


@text_cache(maxsize=1024, max_chars=512)
def normalize(text: str) -> str:
    """Return `text` normalised for matching (see the module docstring).

    Example: "תקבע לי מחר ב-12:30, השם דָּנִי!" -> "תקבע לי מחר ב12:30 השם דני".
    Cached (every matcher of a turn normalises the same utterance).
    """
    if not text:
        return ""
    s = clean(unicodedata.normalize("NFC", str(text)))[0]
    for q in _QUOTES:
        s = s.replace(q, "")
    s = _CLOCK_SEP_RE.sub(lambda m: m.group(1), s)
    s = _HYPHEN_PREFIX_RE.sub(lambda m: m.group(1), s)
    for d in _DASHES:
        s = s.replace(d, " ")
    s = _NON_WORD_RE.sub(" ", s)
    s = re.sub(r"(?<!\d)[:.]|[:.](?!\d)", " ", s)
    s = " ".join(s.lower().split())
    s = _LONE_PREFIX_RE.sub(lambda m: m.group(1), s)
    return s


def tokens(text: str) -> list[str]:
    """Normalised words of `text` (`normalize(text).split()`)."""
    return normalize(text).split()
