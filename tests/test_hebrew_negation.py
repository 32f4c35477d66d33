"""Negation, self-correction and replacement inside one sentence (voicectl.hebrew.negation).

A mention the caller negated ("לא בערב"), took back ("ביום ראשון - לא, שני") or replaced
("במקום רקמות עמוק ... ספורט") must never win - in the date/time resolver, the service
matcher and the agent. Hypothesis builds the sentences from the shapes callers use, in
both genders and with and without prefixes.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicectl.booking.policy import load_policies
from voicectl.hebrew.negation import cancelled, phrase_breaks
from voicectl.hebrew.services import match_service
from voicectl.hebrew.when import resolve_when
from voicectl.hebrew.when.cli import all_day_hours, spa_hours

TZ = ZoneInfo("Asia/Jerusalem")
SUNDAY = dt.datetime(2026, 11, 22, 8, 0, tzinfo=TZ)
SERVICES = load_policies()["demo-spa"].services

PARTS = {
    "בבוקר": "morning",
    "בצהריים": "noon",
    "אחר הצהריים": "afternoon",
    "אחרי הצהריים": "afternoon",
    "בערב": "evening",
    "בלילה": "night",
}
WEEKDAYS = {  # said, Python weekday
    "ביום ראשון": 6,
    "ביום שני": 0,
    "ביום שלישי": 1,
    "ביום רביעי": 2,
    "ביום חמישי": 3,
    "בשישי": 4,
}
SERVICE_NAMES = {
    "שוודי": "swedish",
    "עיסוי שוודי": "swedish",
    "רקמות עמוק": "deep_tissue",
    "ספורט": "sports",
    "עיסוי ספורט": "sports",
    "רפלקסולוגיה": "reflexology",
}
# X is taken back, Y stands. Each shape as callers say it.
SHAPES = (
    "לא {x}, {y}",
    "{y}, לא {x}",
    "{x}, לא סליחה, {y}",
    "{x} - לא, {y}",
    "{x}, לא, {y}",
    "במקום {x}, {y}",
    "{y} במקום {x}",
    "{x}, סליחה, {y}",
    "ולא {x}, {y}",
    "ובמקום {x} אז {y}",
)
LEADS = ("", "אני רוצה ", "אפשר ", "תן לי ", "תני לי ", "אני מעדיפה ", "אני מעדיף ")


def _pairs(vocab: dict[str, object]) -> st.SearchStrategy[tuple[str, str]]:
    keys = sorted(vocab)
    return st.tuples(st.sampled_from(keys), st.sampled_from(keys)).filter(
        lambda p: vocab[p[0]] != vocab[p[1]]
    )


@settings(max_examples=300, deadline=None)
@given(_pairs(PARTS), st.sampled_from(SHAPES), st.sampled_from(LEADS))
def test_a_negated_part_of_day_never_wins(pair: tuple[str, str], shape: str, lead: str) -> None:
    x, y = pair
    text = lead + "מחר " + shape.format(x=x, y=y)
    res = resolve_when(text, SUNDAY, spa_hours)
    assert res.part_of_day == PARTS[y], text


@settings(max_examples=300, deadline=None)
@given(_pairs(WEEKDAYS), st.sampled_from(SHAPES), st.sampled_from(LEADS))
def test_a_negated_weekday_never_wins(pair: tuple[str, str], shape: str, lead: str) -> None:
    x, y = pair
    text = lead + shape.format(x=x, y=y)
    res = resolve_when(text, SUNDAY, spa_hours)
    assert res.date is not None and res.date.weekday() == WEEKDAYS[y], text


@settings(max_examples=300, deadline=None)
@given(_pairs(SERVICE_NAMES), st.sampled_from(SHAPES), st.sampled_from(LEADS))
def test_a_negated_or_replaced_service_never_wins(
    pair: tuple[str, str], shape: str, lead: str
) -> None:
    x, y = pair
    text = lead + shape.format(x=x, y=y)
    svc = match_service(text, SERVICES)
    assert svc is not None and svc.id == SERVICE_NAMES[y], text


@pytest.mark.parametrize(
    ("text", "weekday", "hour"),
    [
        ("ביום ראשון - לא, שני", 0, None),
        ("ביום ראשון, לא סליחה, שני", 0, None),
        ("בראשון, לא, בשני", 0, None),
        ("ביום שלישי בשלוש, לא, בארבע", 1, 16),
        ("ביום שלישי בשלוש, לא, ארבע", 1, 16),
        ("ביום רביעי, לא בארבע, בחמש", 2, 17),
        ("במקום ביום חמישי, ביום רביעי בעשר", 2, 10),
        ("ביום רביעי במקום חמישי", 2, None),
    ],
)
def test_corrections_of_day_and_hour(text: str, weekday: int, hour: int | None) -> None:
    res = resolve_when(text, SUNDAY, spa_hours)
    assert res.date is not None and res.date.weekday() == weekday
    assert (res.time.hour if res.time else None) == hour


@pytest.mark.parametrize(
    "text",
    ["לא בארבע", "ולא בשלוש", "לא מחר", "לא בערב"],
)
def test_only_a_negation_leaves_nothing(text: str) -> None:
    res = resolve_when(text, SUNDAY, spa_hours)
    assert res.date is None and res.time is None and res.part_of_day is None


@pytest.mark.parametrize(
    ("text", "hour"),
    [
        ("לא לפני ארבע", 16),  # a bound, not a negation
        ("אני לא יכול בשלוש, רק בארבע", 16),
        ("לא משנה לי, בארבע", 16),
    ],
)
def test_bounds_and_other_uses_of_lo_are_not_negations(text: str, hour: int) -> None:
    res = resolve_when(text, SUNDAY, spa_hours)
    assert res.time is not None and res.time.hour == hour


def test_after_noon_spellings_are_the_same() -> None:
    for text in ("אחר הצהריים", "אחרי הצהריים", 'אחה"צ', "ואחרי הצהריים", "באחרי הצהריים"):
        assert resolve_when("מחר " + text, SUNDAY, spa_hours).part_of_day == "afternoon", text


@pytest.mark.parametrize(
    ("now", "text", "expected"),
    [
        ("2026-11-22T23:30", "הלילה בשלוש", "2026-11-23T03:00"),
        ("2026-11-22T23:30", "הלילה ב-3", "2026-11-23T03:00"),
        ("2026-11-22T21:00", "הלילה באחת וחצי", "2026-11-23T01:30"),
        ("2026-11-22T10:00", "הלילה בשתיים", "2026-11-23T02:00"),
        ("2026-11-22T21:00", "הלילה באחת עשרה", "2026-11-22T23:00"),
        ("2026-11-23T01:00", "הלילה בשלוש", "2026-11-23T03:00"),  # already in that night
    ],
)
def test_tonight_small_hours_are_the_coming_night(now: str, text: str, expected: str) -> None:
    res = resolve_when(text, dt.datetime.fromisoformat(now).replace(tzinfo=TZ), all_day_hours)
    assert res.date is not None and res.time is not None
    assert dt.datetime.combine(res.date, res.time).isoformat(timespec="minutes") == expected


def test_a_weekday_with_its_day_of_month() -> None:
    thursday = dt.datetime(2026, 11, 19, 10, 0, tzinfo=TZ)
    for text in ("ביום שני ה-30", "אפשר ביום שני ה-30?", "ביום שני, ה-30", "בשני ה30"):
        assert resolve_when(text, thursday, spa_hours).date == dt.date(2026, 11, 30), text
    assert resolve_when("ביום שלישי ה-30", thursday, spa_hours).ambiguous == ("date_conflict",)


def test_cancelled_is_general_over_spans() -> None:
    words, breaks = phrase_breaks("לא שוודי, ספורט")
    assert words == ["לא", "שוודי", "ספורט"] and breaks == [False, False, True]
    assert cancelled(words, breaks, [(1, 2), (2, 3)]) == {0}
    words, breaks = phrase_breaks("ב-12:30, לא, ב-13:00")
    assert words == ["ב12:30", "לא", "ב13:00"]
    assert cancelled(words, breaks, [(0, 1), (2, 3)]) == {0}
    assert cancelled(["לא"], [False], []) == set()
