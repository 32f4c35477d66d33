"""Hebrew number, time, date and digit words (voicectl.hebrew.numbers, .calendar)."""

from __future__ import annotations

import datetime as dt

import pytest

from voicectl.hebrew.calendar import date_to_words, spoken_date, time_to_words, weekday_to_words
from voicectl.hebrew.numbers import count_noun, digits_to_words, number_to_words

# n, feminine, masculine
NUMBERS = [
    (0, "אפס", "אפס"),
    (1, "אחת", "אחד"),
    (2, "שתיים", "שניים"),
    (3, "שלוש", "שלושה"),
    (5, "חמש", "חמישה"),
    (7, "שבע", "שבעה"),
    (8, "שמונה", "שמונה"),
    (10, "עשר", "עשרה"),
    (11, "אחת עשרה", "אחד עשר"),
    (12, "שתים עשרה", "שנים עשר"),
    (15, "חמש עשרה", "חמישה עשר"),
    (19, "תשע עשרה", "תשעה עשר"),
    (20, "עשרים", "עשרים"),
    (21, "עשרים ואחת", "עשרים ואחד"),
    (22, "עשרים ושתיים", "עשרים ושניים"),
    (35, "שלושים וחמש", "שלושים וחמישה"),
    (60, "שישים", "שישים"),
    (99, "תשעים ותשע", "תשעים ותשעה"),
    (100, "מאה", "מאה"),
    (101, "מאה ואחת", "מאה ואחד"),
    (110, "מאה ועשר", "מאה ועשרה"),
    (112, "מאה ושתים עשרה", "מאה ושנים עשר"),
    (120, "מאה ועשרים", "מאה ועשרים"),
    (123, "מאה עשרים ושלוש", "מאה עשרים ושלושה"),
    (200, "מאתיים", "מאתיים"),
    (300, "שלוש מאות", "שלוש מאות"),
    (999, "תשע מאות תשעים ותשע", "תשע מאות תשעים ותשעה"),
    (1000, "אלף", "אלף"),
    (1001, "אלף ואחת", "אלף ואחד"),
    (1500, "אלף וחמש מאות", "אלף וחמש מאות"),
    (2000, "אלפיים", "אלפיים"),
    (2020, "אלפיים ועשרים", "אלפיים ועשרים"),
    (2026, "אלפיים עשרים ושש", "אלפיים עשרים ושישה"),
    (3000, "שלושת אלפים", "שלושת אלפים"),
    (10000, "עשרת אלפים", "עשרת אלפים"),
    (11000, "אחד עשר אלף", "אחד עשר אלף"),
    (21000, "עשרים ואחד אלף", "עשרים ואחד אלף"),
    (100000, "מאה אלף", "מאה אלף"),
    (100001, "מאה אלף ואחת", "מאה אלף ואחד"),
    (123456, "מאה עשרים ושלושה אלף ארבע מאות חמישים ושש", None),
    (999999, "תשע מאות תשעים ותשעה אלף תשע מאות תשעים ותשע", None),
]


@pytest.mark.parametrize(("n", "fem", "masc"), NUMBERS)
def test_number_to_words(n: int, fem: str, masc: str | None) -> None:
    assert number_to_words(n) == fem
    assert number_to_words(n, "f") == fem
    if masc is not None:
        assert number_to_words(n, "m") == masc


@pytest.mark.parametrize("bad", [-1, 1_000_000, 1.5, True, "3"])
def test_number_to_words_rejects_out_of_range(bad: object) -> None:
    with pytest.raises(ValueError):
        number_to_words(bad)  # type: ignore[arg-type]


def test_number_to_words_rejects_unknown_gender() -> None:
    with pytest.raises(ValueError):
        number_to_words(3, "x")  # type: ignore[arg-type]


def test_every_number_has_words() -> None:
    for n in range(0, 1_000_000, 7):
        words = number_to_words(n)
        assert words and "  " not in words and not any(ch.isdigit() for ch in words)


@pytest.mark.parametrize(
    ("n", "noun", "gender", "expected"),
    [
        (1, "דקה", "f", "דקה אחת"),
        (1, "תור", "m", "תור אחד"),
        (2, "דקות", "f", "שתי דקות"),
        (2, "תורים", "m", "שני תורים"),
        (3, "תורים", "m", "שלושה תורים"),
        (22, "דקות", "f", "עשרים ושתיים דקות"),
    ],
)
def test_count_noun(n: int, noun: str, gender: str, expected: str) -> None:
    assert count_noun(n, noun, gender) == expected  # type: ignore[arg-type]


TIMES = [
    (12, 0, "שתים עשרה"),
    (0, 0, "שתים עשרה"),
    (12, 30, "שתים עשרה וחצי"),
    (9, 30, "תשע וחצי"),
    (13, 0, "אחת"),
    (15, 0, "שלוש"),
    (16, 15, "ארבע ורבע"),
    (14, 45, "רבע לשלוש"),
    (11, 45, "רבע לשתים עשרה"),
    (12, 45, "רבע לאחת"),
    (17, 20, "חמש ועשרים"),
    (9, 5, "תשע וחמישה"),
    (9, 10, "תשע ועשרה"),
    (9, 1, "תשע ודקה"),
    (9, 2, "תשע ושתי דקות"),
    (9, 7, "תשע ושבע דקות"),
    (9, 25, "תשע עשרים וחמש"),
    (9, 35, "תשע שלושים וחמש"),
    (9, 40, "עשרים לעשר"),
    (17, 50, "עשרה לשש"),
    (17, 55, "חמישה לשש"),
    (10, 52, "עשר חמישים ושתיים"),
]


@pytest.mark.parametrize(("hh", "mm", "expected"), TIMES)
def test_time_to_words(hh: int, mm: int, expected: str) -> None:
    assert time_to_words(hh, mm) == expected


@pytest.mark.parametrize(
    ("hh", "mm", "expected"),
    [
        (20, 0, "שמונה בערב"),
        (9, 0, "תשע בבוקר"),
        (14, 45, "רבע לשלוש בצהריים"),
        (16, 30, "ארבע וחצי אחר הצהריים"),
        (23, 0, "אחת עשרה בלילה"),
    ],
)
def test_time_to_words_with_period(hh: int, mm: int, expected: str) -> None:
    assert time_to_words(hh, mm, period=True) == expected


@pytest.mark.parametrize(("hh", "mm"), [(24, 0), (-1, 0), (9, 60)])
def test_time_to_words_rejects_bad_time(hh: int, mm: int) -> None:
    with pytest.raises(ValueError):
        time_to_words(hh, mm)


def test_every_clock_time_has_words() -> None:
    for hh in range(24):
        for mm in range(60):
            assert time_to_words(hh, mm)


def test_digits_to_words() -> None:
    expected = "אפס חמש אפס אחת שתיים שלוש ארבע חמש שש שבע"
    assert digits_to_words("0501234567") == expected
    assert digits_to_words("050-123-4567") == expected
    assert digits_to_words("+972501234567") == expected  # read in the local form
    assert digits_to_words("") == ""
    assert digits_to_words("0501234567", group=True) == (
        "אפס חמש אפס, אחת שתיים שלוש, ארבע חמש שש שבע"
    )
    assert digits_to_words("03-1234567", group=True) == (
        "אפס שלוש, אחת שתיים שלוש, ארבע חמש שש שבע"
    )


def test_dates_and_weekdays() -> None:
    assert date_to_words(21, 11) == "עשרים ואחד בנובמבר"
    assert date_to_words(1, 1, 2027) == "אחד בינואר אלפיים עשרים ושבע"
    assert date_to_words(3, 12) == "שלושה בדצמבר"
    assert weekday_to_words(6) == "יום ראשון"
    assert weekday_to_words(5) == "יום שבת"
    assert weekday_to_words(3, with_yom=False) == "חמישי"
    # 2026-11-21 is a Saturday.
    assert spoken_date(dt.date(2026, 11, 21)) == "יום שבת, עשרים ואחד בנובמבר"
    assert spoken_date(dt.date(2026, 11, 22), weekday=False, year=True) == (
        "עשרים ושניים בנובמבר אלפיים עשרים ושש"
    )
    with pytest.raises(ValueError):
        date_to_words(32, 1)
    with pytest.raises(ValueError):
        date_to_words(1, 13)
    with pytest.raises(ValueError):
        weekday_to_words(7)
