"""The Hebrew alphabet facts the rest of the package builds on.

- Final letters (ך ם ן ף ץ) are positional forms of כ מ נ פ צ: `fold` maps them to the
  regular forms so "שלום" and a prefix-stripped or mis-split "שלומ" compare equal.
- The one-letter prefixes (ו "and", ה "the", ב "at/in", ל "to/for", ש "that", מ "from",
  כ "like/about") glue onto the next word; `voicectl.hebrew.prefixes` splits them.

Source: standard Modern Hebrew orthography.
"""

from __future__ import annotations

__all__ = ["HEBREW_LETTERS", "PREFIX_LETTERS", "fold"]

HEBREW_LETTERS = "\u05d0-\u05ea"
"""The letters alef..tav, as a regular-expression character range."""

PREFIX_LETTERS = "והבלשמכ"
"""The letters that can be a one-letter prefix."""

_FINALS = str.maketrans("ךםןףץ", "כמנפצ")


def fold(word: str) -> str:
    """Fold Hebrew final letters to their regular forms ("שלום" -> "שלומ")."""
    return word.translate(_FINALS)
