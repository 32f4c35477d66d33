"""The Hebrew calendar words: weekdays, months, relative days and parts of the day.

Both directions live here: the words a caller uses and how they map to dates and hours
(`HEB_WEEKDAY`, `WEEKDAY_LETTERS`, `MONTH_NUMBERS`, `RELDAYS`, `PART_WORDS`,
`PART_WINDOWS`), and how the agent and the TTS normaliser say a day, a date or a clock
time (`WEEKDAYS`, `MONTHS`, `day_period`, `time_to_words`, `weekday_to_words`,
`date_to_words`, `spoken_date`).

Weekday numbers are Python's (`datetime.date.weekday()`: Monday 0 .. Sunday 6); the Israeli
week starts on Sunday ("יום ראשון", the first day).
"""

from __future__ import annotations

import datetime as _dt

from voicectl.hebrew.numbers import number_to_words

__all__ = [
    "HEB_WEEKDAY",
    "MONTHS",
    "MONTH_NUMBERS",
    "ORDINALS",
    "PART_OF_DAY",
    "PART_SAID",
    "PART_WINDOWS",
    "PART_WORDS",
    "RELDAYS",
    "WEEKDAYS",
    "WEEKDAY_LETTERS",
    "date_to_words",
    "day_period",
    "spoken_date",
    "time_to_words",
    "weekday_to_words",
]

# -- what a caller says ------------------------------------------------------------------

# Python weekday numbers (Mon=0 .. Sun=6) of the Hebrew day names.
HEB_WEEKDAY: dict[str, int] = {
    "ראשון": 6,
    "שני": 0,
    "שלישי": 1,
    "רביעי": 2,
    "חמישי": 3,
    "חמשי": 3,
    "שישי": 4,
    "ששי": 4,
    "שבת": 5,
}
# "יום א'" .. "יום ש'" (letter names of the days); only valid right after "יום".
WEEKDAY_LETTERS: dict[str, int] = {
    "א'": 6,
    "ב'": 0,
    "ג'": 1,
    "ד'": 2,
    "ה'": 3,
    "ו'": 4,
    "ש'": 5,
}
# Ordinal day-of-month words ("הראשון לחודש", "שלישי בדצמבר").
ORDINALS: dict[str, int] = {
    "ראשון": 1,
    "שני": 2,
    "שלישי": 3,
    "רביעי": 4,
    "חמישי": 5,
    "שישי": 6,
    "שביעי": 7,
    "שמיני": 8,
    "תשיעי": 9,
    "עשירי": 10,
}

MONTH_NUMBERS: dict[str, int] = {
    "ינואר": 1,
    "פברואר": 2,
    "מרץ": 3,
    "מרס": 3,
    "אפריל": 4,
    "מאי": 5,
    "יוני": 6,
    "יולי": 7,
    "אוגוסט": 8,
    "ספטמבר": 9,
    "אוקטובר": 10,
    "נובמבר": 11,
    "דצמבר": 12,
}

RELDAYS: dict[str, int] = {
    "היום": 0,
    "מחר": 1,
    "מחרתיים": 2,
    "מחרתים": 2,
    "מחרותיים": 2,
}

# Parts of day. "צהריים" alone is noon; after "אחר/אחרי" it is afternoon.
PART_WORDS: dict[str, str] = {
    "בוקר": "morning",
    "צהריים": "noon",
    "צהרים": "noon",
    "ערב": "evening",
    "לילה": "night",
    'אחה"צ': "afternoon",
    "אחהצ": "afternoon",
    "אחה'צ": "afternoon",
    'לפנה"צ': "morning",
    "לפנהצ": "morning",
    "חצות": "midnight",
    'מוצ"ש': "saturday_night",
    "מוצש": "saturday_night",
    "מוצאי": "motzei",
}

PART_OF_DAY = ("morning", "noon", "afternoon", "evening", "night")
"""The parts of the day a caller can ask for (the values of `PART_WORDS` a date/time
resolution reports; "midnight"/"saturday_night"/"motzei" are resolved to times/dates)."""

# What a caller asking for a part of the day wants searched: local hours [start, end).
# "אחר הצהריים" starts at 14:00: 12:00-13:30 is "בצהריים", not what the caller asked
# for. How an hour is *said* is `day_period` (a different, non-overlapping table).
PART_WINDOWS: dict[str, tuple[int, int]] = {
    "morning": (5, 12),
    "noon": (12, 14),
    "afternoon": (14, 18),
    "evening": (17, 24),
    "night": (20, 24),
}
PART_SAID: dict[str, str] = {
    "morning": "בבוקר",
    "noon": "בצהריים",
    "afternoon": "אחר הצהריים",
    "evening": "בערב",
    "night": "בלילה",
}
"""How the agent names a part of the day it searched ("בערב אין תורים פנויים")."""

# -- saying a day, a date, a time ---------------------------------------------------------

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
