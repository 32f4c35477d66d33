"""Hebrew number words, in both directions: reading what a caller said, saying a number.

Saying (`number_to_words`, `count_noun`, `digits_to_words`) returns unvocalised Hebrew
meant to be *spoken* by a TTS engine, in the register an Israeli receptionist uses on the
phone, e.g. ``number_to_words(21)`` -> ``"עשרים ואחת"``. Reading: `CARDINALS` lists what a
recogniser writes - both genders, both spellings (שתיים/שתים, שלוש/שלש) and the construct
forms (שתי, שני) - and `voicectl.hebrew.lexicon.parse_number_words` reads a number in a
transcript with it (prefixes, teens as one word or two, tens with "ו": "עשרים וחמש").

Grammar rules (source: standard Hebrew grammar as taught by the Academy of the Hebrew
Language; the spoken choices are the everyday Israeli ones):

* Counting, clock hours and bare numbers use the feminine forms (אחת, שתיים, שלוש ...);
  masculine forms (אחד, שניים, שלושה ...) go with masculine nouns and with the day of the
  month (implied "יום").
* The conjunction "ו" joins the last element of a number: 123 -> "מאה עשרים ושלוש",
  1500 -> "אלף וחמש מאות", 2020 -> "אלפיים ועשרים".
* Hundreds are always feminine (מאה is feminine): "שלוש מאות". Thousands 3-10 use the
  construct form ("שלושת אלפים", "עשרת אלפים"); from 11 thousand on the count is masculine
  because אלף is masculine ("אחד עשר אלף", "עשרים ואחד אלף").
* Before a noun, two takes the construct form: "שתי דקות", "שני תורים" (`count_noun`).
"""

from __future__ import annotations

from typing import Literal

Gender = Literal["f", "m"]

__all__ = [
    "BOTH",
    "CARDINALS",
    "FEM",
    "Gender",
    "MASC",
    "TEEN_WORDS",
    "TENS_WORDS",
    "count_noun",
    "digits_to_words",
    "number_to_words",
]

# -- saying a number ----------------------------------------------------------------------

_UNITS_F = ("אפס", "אחת", "שתיים", "שלוש", "ארבע", "חמש", "שש", "שבע", "שמונה", "תשע", "עשר")
_UNITS_M = (
    "אפס",
    "אחד",
    "שניים",
    "שלושה",
    "ארבעה",
    "חמישה",
    "שישה",
    "שבעה",
    "שמונה",
    "תשעה",
    "עשרה",
)
_TEENS_F = (
    "",
    "אחת עשרה",
    "שתים עשרה",
    "שלוש עשרה",
    "ארבע עשרה",
    "חמש עשרה",
    "שש עשרה",
    "שבע עשרה",
    "שמונה עשרה",
    "תשע עשרה",
)
_TEENS_M = (
    "",
    "אחד עשר",
    "שנים עשר",
    "שלושה עשר",
    "ארבעה עשר",
    "חמישה עשר",
    "שישה עשר",
    "שבעה עשר",
    "שמונה עשר",
    "תשעה עשר",
)
_TENS = ("", "", "עשרים", "שלושים", "ארבעים", "חמישים", "שישים", "שבעים", "שמונים", "תשעים")
_HUNDREDS = (
    "",
    "מאה",
    "מאתיים",
    "שלוש מאות",
    "ארבע מאות",
    "חמש מאות",
    "שש מאות",
    "שבע מאות",
    "שמונה מאות",
    "תשע מאות",
)
# 1000..10000 in round thousands: construct forms for 3-10 ("שלושת אלפים").
_THOUSANDS = (
    "",
    "אלף",
    "אלפיים",
    "שלושת אלפים",
    "ארבעת אלפים",
    "חמשת אלפים",
    "ששת אלפים",
    "שבעת אלפים",
    "שמונת אלפים",
    "תשעת אלפים",
    "עשרת אלפים",
)

_MAX = 999_999


def _check_gender(gender: str) -> None:
    if gender not in ("f", "m"):
        raise ValueError(f"gender must be 'f' or 'm', not {gender!r}")


def _below_100(n: int, gender: Gender) -> list[str]:
    """Elements of 1..99 (without the final "ו", which `_join` adds)."""
    units = _UNITS_F if gender == "f" else _UNITS_M
    if n <= 10:
        return [units[n]]
    if n < 20:
        return [(_TEENS_F if gender == "f" else _TEENS_M)[n - 10]]
    tens, unit = divmod(n, 10)
    return [_TENS[tens]] if unit == 0 else [_TENS[tens], units[unit]]


def _below_1000(n: int, gender: Gender) -> list[str]:
    """Elements of 1..999, e.g. 123 -> ["מאה", "עשרים", "שלוש"]."""
    hundreds, rest = divmod(n, 100)
    parts = [_HUNDREDS[hundreds]] if hundreds else []
    if rest:
        parts += _below_100(rest, gender)
    return parts


def _join(parts: list[str]) -> str:
    """Join number elements, putting "ו" before the last one when there are several."""
    if len(parts) == 1:
        return parts[0]
    return " ".join(parts[:-1]) + " ו" + parts[-1]


def number_to_words(n: int, gender: Gender = "f") -> str:
    """Spell out a cardinal number in Hebrew.

    Args:
        n: 0..999999.
        gender: "f" (default: counting, clock hours, bare numbers, feminine nouns) or "m"
            (masculine nouns, day of the month).

    Returns:
        The number in words, e.g. 21 -> "עשרים ואחת" ("עשרים ואחד" for "m"),
        12 -> "שתים עשרה" ("שנים עשר"), 2000 -> "אלפיים", 1500 -> "אלף וחמש מאות".

    Raises:
        ValueError: `n` outside 0..999999 or not an int, or an unknown gender.
    """
    _check_gender(gender)
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"n must be an int, not {type(n).__name__}")
    if not 0 <= n <= _MAX:
        raise ValueError(f"n must be in 0..{_MAX}, got {n}")
    if n == 0:
        return _UNITS_F[0]
    thousands, rest = divmod(n, 1000)
    parts: list[str] = []
    if thousands:
        if thousands <= 10:
            parts.append(_THOUSANDS[thousands])
        else:
            # The count of thousands agrees with אלף (masculine) and keeps its own "ו".
            parts.append(_join(_below_1000(thousands, "m")) + " אלף")
    if rest:
        parts += _below_1000(rest, gender)
    return _join(parts)


def count_noun(n: int, noun: str, gender: Gender) -> str:
    """Say "`n` `noun`" with the number in the right form for a noun of `gender`.

    One follows the noun ("דקה אחת", "תור אחד"); two takes the construct form
    ("שתי דקות", "שני תורים"); everything else is the absolute form before the noun
    ("שלוש דקות", "שלושה תורים", "עשרים ושתיים דקות").

    Args:
        n: 0..999999.
        noun: the noun as it should be spoken (singular for 1, plural otherwise).
        gender: the noun's grammatical gender.

    Returns:
        The counted phrase.

    Raises:
        ValueError: as `number_to_words`.
    """
    _check_gender(gender)
    if n == 1:
        return f"{noun} {number_to_words(1, gender)}"
    if n == 2:
        return f"{'שתי' if gender == 'f' else 'שני'} {noun}"
    return f"{number_to_words(n, gender)} {noun}"


def digits_to_words(s: str, *, group: bool = False) -> str:
    """Read the digits of `s` one by one ("050" -> "אפס חמש אפס"); other characters are ignored.

    A leading "+972" (Israel's country code) is read as the local trunk prefix "0", since a
    caller recognises their number in the local form.

    Args:
        s: text containing digits, e.g. "0501234567", "+972-50-123-4567", "1234".
        group: insert commas (short pauses) between the usual Israeli groups:
            3-3-4 for 10 digits (mobile: "050, 123, 4567"), 2-3-4 for 9 digits (landline),
            otherwise groups of three.

    Returns:
        The digits as feminine digit names separated by spaces (empty if `s` has none).
    """
    text = s.strip()
    digits = "".join(ch for ch in text if ch.isascii() and ch.isdigit())
    if text.startswith("+972") and len(digits) > 3:
        digits = "0" + digits[3:]
    names = [_UNITS_F[int(d)] for d in digits]
    if not group or len(names) <= 4:
        return " ".join(names)
    if len(names) == 10:
        sizes = [3, 3, 4]
    elif len(names) == 9:
        sizes = [2, 3, 4]
    else:
        sizes = [3] * (len(names) // 3) + ([len(names) % 3] if len(names) % 3 else [])
    groups, i = [], 0
    for size in sizes:
        groups.append(" ".join(names[i : i + size]))
        i += size
    return ", ".join(groups)


# -- reading a number ---------------------------------------------------------------------

FEM, MASC, BOTH = "f", "m", "b"

# Cardinals. Construct forms (שתי, שני) and "שנים" (also "years") are kept so
# teens and "שני ימים" parse, but flagged as not usable as a bare hour.
CARDINALS: dict[str, tuple[int, str, bool]] = {
    # word: (value, gender, usable as a bare hour word)
    "אפס": (0, BOTH, False),
    "אחת": (1, FEM, True),
    "אחד": (1, MASC, False),
    "שתיים": (2, FEM, True),
    "שתים": (2, FEM, True),
    "שתי": (2, FEM, False),
    "שניים": (2, MASC, False),
    "שנים": (2, MASC, False),
    "שני": (2, MASC, False),
    "שלוש": (3, FEM, True),
    "שלש": (3, FEM, True),
    "שלושה": (3, MASC, True),
    "שלשה": (3, MASC, True),
    "ארבע": (4, FEM, True),
    "ארבעה": (4, MASC, True),
    "חמש": (5, FEM, True),
    "חמישה": (5, MASC, True),
    "חמשה": (5, MASC, True),
    "שש": (6, FEM, True),
    "שישה": (6, MASC, True),
    "ששה": (6, MASC, True),
    "שבע": (7, FEM, True),
    "שבעה": (7, MASC, True),
    "שמונה": (8, BOTH, True),
    "תשע": (9, FEM, True),
    "תשעה": (9, MASC, True),
    "עשר": (10, FEM, True),
    "עשרה": (10, MASC, True),
}
TENS_WORDS = {
    "עשרים": 20,
    "שלושים": 30,
    "שלשים": 30,
    "ארבעים": 40,
    "חמישים": 50,
    "חמשים": 50,
}
TEEN_WORDS = ("עשר", "עשרה")
