"""Hebrew words for numbers, clock times, dates and phone digits, for speech synthesis.

Everything here returns unvocalised Hebrew text meant to be *spoken* by a TTS engine, in the
register an Israeli receptionist uses on the phone, e.g. ``number_to_words(21)`` ->
``"עשרים ואחת"``, ``time_to_words(14, 45)`` -> ``"רבע לשלוש"``,
``date_to_words(21, 11)`` -> ``"עשרים ואחד בנובמבר"``.

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

import datetime as _dt
from typing import Literal

Gender = Literal["f", "m"]

__all__ = [
    "Gender",
    "MONTHS",
    "WEEKDAYS",
    "count_noun",
    "date_to_words",
    "digits_to_words",
    "number_to_words",
    "spoken_date",
    "time_to_words",
    "weekday_to_words",
]

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

#: Month names, index 1..12 (index 0 unused).
MONTHS: tuple[str, ...] = (
    "",
    "ינואר",
    "פברואר",
    "מרץ",
    "אפריל",
    "מאי",
    "יוני",
    "יולי",
    "אוגוסט",
    "ספטמבר",
    "אוקטובר",
    "נובמבר",
    "דצמבר",
)
#: Day names indexed like `datetime.date.weekday()` (Monday = 0 ... Sunday = 6).
WEEKDAYS: tuple[str, ...] = ("שני", "שלישי", "רביעי", "חמישי", "שישי", "שבת", "ראשון")

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


def _hour_words(hour24: int) -> str:
    """A clock hour on the 12-hour dial, feminine ("שעה"): 0 and 12 -> "שתים עשרה"."""
    h = hour24 % 12
    return number_to_words(12 if h == 0 else h, "f")


def day_period(hh: int) -> str:
    """The spoken part of the day for an hour 0..23: בבוקר (5-11), בצהריים (12-14),
    אחר הצהריים (15-17), בערב (18-21), בלילה (22-4). The one definition used by the
    TTS normaliser and the agent's phrases."""
    if 5 <= hh < 12:
        return "בבוקר"
    if 12 <= hh < 15:
        return "בצהריים"
    if 15 <= hh < 18:
        return "אחר הצהריים"
    if 18 <= hh < 22:
        return "בערב"
    return "בלילה"


def time_to_words(hh: int, mm: int, *, period: bool = False) -> str:
    """Say a clock time the way Israelis say it, on the 12-hour dial.

    Forms used: "שתים עשרה" (12:00), "תשע וחמישה" (9:05), "תשע ועשרה" (9:10),
    "ארבע ורבע" (16:15), "חמש ועשרים" (17:20), "תשע עשרים וחמש" (9:25),
    "שתים עשרה וחצי" (12:30), "תשע שלושים וחמש" (9:35), "עשרים לעשר" (9:40),
    "רבע לשלוש" (14:45), "עשרה לשש" (17:50), "חמישה לשש" (17:55); other minutes are
    read digitally ("תשע ושבע דקות" for 9:07, "עשר חמישים ושתיים" for 10:52).

    Args:
        hh: hour 0..23 (13..23 are spoken as 1..11).
        mm: minute 0..59.
        period: append the part of the day of `hh` ("בבוקר", "בצהריים", "אחר הצהריים",
            "בערב", "בלילה"), e.g. 20:00 -> "שמונה בערב".

    Returns:
        The spoken time.

    Raises:
        ValueError: hour or minute out of range.
    """
    if not (0 <= hh <= 23 and 0 <= mm <= 59):
        raise ValueError(f"not a clock time: {hh}:{mm:02d}")
    hour = _hour_words(hh)
    nxt = _hour_words(hh + 1)
    to_next = {40: "עשרים", 45: "רבע", 50: "עשרה", 55: "חמישה"}
    special = {5: "וחמישה", 10: "ועשרה", 15: "ורבע", 20: "ועשרים", 30: "וחצי"}
    if mm == 0:
        words = hour
    elif mm in to_next:
        words = f"{to_next[mm]} ל{nxt}"
    elif mm in special:
        words = f"{hour} {special[mm]}"
    elif mm == 1:
        words = f"{hour} ודקה"
    elif mm == 2:
        words = f"{hour} ושתי דקות"
    elif mm < 20:
        words = f"{hour} ו{number_to_words(mm, 'f')} דקות"
    else:
        words = f"{hour} {number_to_words(mm, 'f')}"
    return f"{words} {day_period(hh)}" if period else words


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


def weekday_to_words(weekday: int, *, with_yom: bool = True) -> str:
    """Name a day of the week.

    Args:
        weekday: 0..6 as `datetime.date.weekday()` (Monday = 0, Sunday = 6).
        with_yom: prefix "יום" ("יום ראשון"); Saturday is then "יום שבת".

    Returns:
        The day name, e.g. 6 -> "יום ראשון", 5 -> "יום שבת".

    Raises:
        ValueError: weekday outside 0..6.
    """
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0..6, got {weekday}")
    name = WEEKDAYS[weekday]
    return f"יום {name}" if with_yom else name


def date_to_words(day: int, month: int, year: int | None = None) -> str:
    """Say a calendar date: day of the month (masculine cardinal, implied "יום") + "ב" + month.

    Args:
        day: 1..31.
        month: 1..12.
        year: optional year (1..999999), read as a feminine number ("אלפיים עשרים ושש").

    Returns:
        E.g. (21, 11) -> "עשרים ואחד בנובמבר", (1, 1, 2027) -> "אחד בינואר אלפיים עשרים ושבע".

    Raises:
        ValueError: day or month out of range.
    """
    if not (1 <= day <= 31 and 1 <= month <= 12):
        raise ValueError(f"not a date: {day}/{month}")
    words = f"{number_to_words(day, 'm')} ב{MONTHS[month]}"
    if year is not None:
        words += f" {number_to_words(year, 'f')}"
    return words


def spoken_date(d: _dt.date, *, weekday: bool = True, year: bool = False) -> str:
    """Say a `datetime.date`, e.g. "יום שבת, עשרים ואחד בנובמבר".

    Args:
        d: the date.
        weekday: start with the day name.
        year: end with the year.

    Returns:
        The spoken date.
    """
    words = date_to_words(d.day, d.month, d.year if year else None)
    return f"{weekday_to_words(d.weekday())}, {words}" if weekday else words
