"""find_slots: grid, hours, notice, window, overlap, closed days, 24/7, DST (seed 002 C.1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicectl.booking.appointments import create_appointment
from voicectl.booking.policy import get_business_policy
from voicectl.booking.slots import find_slots
from voicectl.store.db import Database

TZ = ZoneInfo("Asia/Jerusalem")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)  # a Friday


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    d = Database(db_url)
    yield d
    d.dispose()


def starts(result: dict) -> list[str]:
    return [s["start_iso"] for s in result["slots"]]


def test_open_day_grid_and_hours(db: Database) -> None:
    spa = get_business_policy("demo-spa")
    r = find_slots(db, spa, NOW, "2026-11-22", "swedish")  # Sunday 09-20, 60 min
    assert r["ok"] and r["date_iso"] == "2026-11-22" and r["service"] == "swedish"
    assert r["closed"] is False and r["reason"] is None and r["alternatives"] == []
    assert starts(r)[0] == "2026-11-22T09:00:00+02:00"
    assert starts(r)[-1] == "2026-11-22T19:00:00+02:00"  # ends 20:00 = closing
    assert len(r["slots"]) == 21
    assert r["slots"][0]["end_iso"] == "2026-11-22T10:00:00+02:00"
    r = find_slots(db, spa, NOW, "2026-11-22", "sports")  # 45 min: 19:00 ends 19:45
    assert starts(r)[-1] == "2026-11-22T19:00:00+02:00"
    assert r["slots"][-1]["end_iso"] == "2026-11-22T19:45:00+02:00"
    r = find_slots(db, spa, NOW, "2026-11-22")  # no service: one 30-min slot
    assert len(r["slots"]) == 22 and starts(r)[-1] == "2026-11-22T19:30:00+02:00"


def test_min_notice_today(db: Database) -> None:
    spa = get_business_policy("demo-spa")
    r = find_slots(db, spa, NOW, "2026-11-20", "reflexology")  # Friday 09-14, now 10:00
    assert starts(r)[0] == "2026-11-20T11:00:00+02:00"
    assert starts(r)[-1] == "2026-11-20T13:30:00+02:00"
    late = NOW.replace(hour=13)
    r = find_slots(db, spa, late, "2026-11-20", "reflexology")
    assert r["slots"] == [] and r["reason"] == "too_soon"
    assert r["alternatives"][0] == {
        "date_iso": "2026-11-22",
        "first_slot_iso": "2026-11-22T09:00:00+02:00",
    }


def test_window_and_past(db: Database) -> None:
    spa = get_business_policy("demo-spa")
    assert find_slots(db, spa, NOW, "2026-12-20", "swedish")["slots"]  # today + 30 (Sunday)
    r = find_slots(db, spa, NOW, "2026-12-21", "swedish")
    assert r["slots"] == [] and r["reason"] == "beyond_window" and r["alternatives"] == []
    r = find_slots(db, spa, NOW, "2026-11-19", "swedish")
    assert r["slots"] == [] and r["reason"] == "past"
    assert r["alternatives"][0]["date_iso"] == "2026-11-20"


def test_closed_day_alternatives(db: Database) -> None:
    spa = get_business_policy("demo-spa")
    r = find_slots(db, spa, NOW, "2026-11-21", "swedish")  # Saturday
    assert r["ok"] is True and r["slots"] == [] and r["closed"] is True
    assert r["reason"] == "closed"
    assert r["alternatives"] == [
        {"date_iso": "2026-11-22", "first_slot_iso": "2026-11-22T09:00:00+02:00"},
        {"date_iso": "2026-11-23", "first_slot_iso": "2026-11-23T09:00:00+02:00"},
        {"date_iso": "2026-11-24", "first_slot_iso": "2026-11-24T09:00:00+02:00"},
    ]


def test_overlap_with_existing(db: Database) -> None:
    spa = get_business_policy("demo-spa")
    ok = create_appointment(db, spa, NOW, "2026-11-22T12:00:00+02:00", "sports", "דני")
    assert ok["ok"], ok  # 12:00-12:45 occupies 12:00 and 12:30
    r = find_slots(db, spa, NOW, "2026-11-22", "reflexology")
    assert "2026-11-22T12:00:00+02:00" not in starts(r)
    assert "2026-11-22T12:30:00+02:00" not in starts(r)
    assert "2026-11-22T13:00:00+02:00" in starts(r)
    assert "2026-11-22T11:30:00+02:00" in starts(r)
    r = find_slots(db, spa, NOW, "2026-11-22", "swedish")  # 60 min: 11:30 would overlap
    assert "2026-11-22T11:30:00+02:00" not in starts(r)
    assert "2026-11-22T11:00:00+02:00" in starts(r)
    # other businesses are independent
    other = get_business_policy("demo-clinic")
    assert "2026-11-22T12:00:00+02:00" in starts(find_slots(db, other, NOW, "2026-11-22"))


def test_fully_booked_day(db: Database) -> None:
    spa = get_business_policy("demo-spa")
    friday = datetime(2026, 11, 27, 9, 0, tzinfo=TZ)
    t = friday
    while t.hour < 14:
        assert create_appointment(db, spa, NOW, t.isoformat(), "reflexology", "x")["ok"]
        t += timedelta(minutes=30)
    r = find_slots(db, spa, NOW, "2026-11-27", "reflexology")
    assert r["slots"] == [] and r["reason"] == "fully_booked"
    assert r["alternatives"][0]["date_iso"] == "2026-11-29"


def test_after(db: Database) -> None:
    spa = get_business_policy("demo-spa")
    r = find_slots(db, spa, NOW, "2026-11-22", "swedish", after="2026-11-22T17:00:00+02:00")
    assert starts(r) == [
        f"2026-11-22T{h}:00+02:00" for h in ("17:00", "17:30", "18:00", "18:30", "19:00")
    ]
    r2 = find_slots(db, spa, NOW, "2026-11-22", "swedish", after="17:00")
    assert r2["slots"] == r["slots"]
    r = find_slots(db, spa, NOW, "2026-11-22", "swedish", after="2026-11-22T17:10")
    assert starts(r)[0] == "2026-11-22T17:30:00+02:00"


def test_24_7(db: Database) -> None:
    p = get_business_policy("demo-24-7")
    r = find_slots(db, p, NOW, "2026-11-21", "reflexology")  # Saturday, still open
    assert len(r["slots"]) == 48
    assert starts(r)[0] == "2026-11-21T00:00:00+02:00"
    assert r["slots"][-1] == {
        "start_iso": "2026-11-21T23:30:00+02:00",
        "end_iso": "2026-11-22T00:00:00+02:00",
    }
    r = find_slots(db, p, NOW, "2026-11-21", "swedish")  # a 60-min service may end at midnight
    assert starts(r)[-1] == "2026-11-21T23:00:00+02:00"


def test_lunch_break(db: Database) -> None:
    p = get_business_policy("demo-lunch")  # 09-13, 14-19, 15-min grid
    r = find_slots(db, p, NOW, "2026-11-22", "swedish")
    s = starts(r)
    assert "2026-11-22T12:00:00+02:00" in s and "2026-11-22T12:15:00+02:00" not in s
    assert "2026-11-22T13:30:00+02:00" not in s and "2026-11-22T14:00:00+02:00" in s
    assert s[-1] == "2026-11-22T18:00:00+02:00"


def test_dst_spring_forward_business_hours(db: Database) -> None:
    spa = get_business_policy("demo-spa")
    now = datetime(2026, 3, 20, 8, 0, tzinfo=TZ)
    r = find_slots(db, spa, now, "2026-03-27", "swedish")  # Friday, DST starts 02:00
    assert starts(r)[0] == "2026-03-27T09:00:00+03:00"
    assert starts(r)[-1] == "2026-03-27T13:00:00+03:00"
    first = datetime.fromisoformat(starts(r)[0])
    assert first.astimezone(UTC) == datetime(2026, 3, 27, 6, 0, tzinfo=UTC)
    r = find_slots(db, spa, now, "2026-03-26", "swedish")  # the day before: +02:00
    assert starts(r)[0] == "2026-03-26T09:00:00+02:00"


def test_dst_autumn_business_hours(db: Database) -> None:
    spa = get_business_policy("demo-spa")
    now = datetime(2026, 10, 20, 8, 0, tzinfo=TZ)
    r = find_slots(db, spa, now, "2026-10-25", "swedish")  # Sunday, DST ended 02:00
    assert starts(r)[0] == "2026-10-25T09:00:00+02:00"
    assert r["slots"][-1] == {
        "start_iso": "2026-10-25T19:00:00+02:00",
        "end_iso": "2026-10-25T20:00:00+02:00",
    }
    assert datetime.fromisoformat(starts(r)[0]).astimezone(UTC).hour == 7
    r = find_slots(db, spa, now, "2026-10-22", "swedish")  # Thursday before: +03:00
    assert starts(r)[0] == "2026-10-22T09:00:00+03:00"


def test_dst_24_7_spring_gap(db: Database) -> None:
    p = get_business_policy("demo-24-7")
    now = datetime(2026, 3, 20, 8, 0, tzinfo=TZ)
    r = find_slots(db, p, now, "2026-03-27", "reflexology")
    s = starts(r)
    assert len(s) == 46  # a 23-hour day
    assert s[:6] == [
        "2026-03-27T00:00:00+02:00",
        "2026-03-27T00:30:00+02:00",
        "2026-03-27T01:00:00+02:00",
        "2026-03-27T01:30:00+02:00",
        "2026-03-27T03:00:00+03:00",  # 02:00-03:00 does not exist
        "2026-03-27T03:30:00+03:00",
    ]
    assert r["slots"][3]["end_iso"] == "2026-03-27T03:00:00+03:00"
    utc = [datetime.fromisoformat(x).astimezone(UTC) for x in s]
    assert all(b - a == timedelta(minutes=30) for a, b in zip(utc, utc[1:], strict=False))


def test_dst_24_7_autumn_fold(db: Database) -> None:
    p = get_business_policy("demo-24-7")
    now = datetime(2026, 10, 20, 8, 0, tzinfo=TZ)
    r = find_slots(db, p, now, "2026-10-25", "reflexology")
    s = starts(r)
    assert len(s) == 50  # a 25-hour day: 01:00-02:00 happens twice
    assert s[2:6] == [
        "2026-10-25T01:00:00+03:00",
        "2026-10-25T01:30:00+03:00",
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T01:30:00+02:00",
    ]
    utc = [datetime.fromisoformat(x).astimezone(UTC) for x in s]
    assert all(b - a == timedelta(minutes=30) for a, b in zip(utc, utc[1:], strict=False))
    # booking the second 01:00 leaves the first free
    assert create_appointment(db, p, now, "2026-10-25T01:00:00+02:00", "reflexology", "x")["ok"]
    s2 = starts(find_slots(db, p, now, "2026-10-25", "reflexology"))
    assert "2026-10-25T01:00:00+03:00" in s2 and "2026-10-25T01:00:00+02:00" not in s2


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"date_iso": "tomorrow"}, "date_iso"),
        ({"date_iso": ""}, "date_iso"),
        ({"date_iso": None}, "date_iso"),
        ({"date_iso": "2026-13-45"}, "date_iso"),
        ({"date_iso": "2026-11-22", "service": "pedicure"}, "unknown service"),
        ({"date_iso": "2026-11-22", "after": "noon"}, "after"),
    ],
)
def test_validation_errors(db: Database, kwargs: dict, needle: str) -> None:
    spa = get_business_policy("demo-spa")
    r = find_slots(db, spa, NOW, **kwargs)
    assert r["ok"] is False and r["error"] == "validation_error"
    assert needle in r["message"] and len(r["message"]) <= 120


def test_now_callable_and_naive(db: Database) -> None:
    spa = get_business_policy("demo-spa")
    a = find_slots(db, spa, lambda: NOW, "2026-11-22")
    b = find_slots(db, spa, NOW.replace(tzinfo=None), "2026-11-22")
    assert a == b and a["ok"]
    assert find_slots(db, spa, lambda: "now", "2026-11-22")["error"] == "validation_error"


# -- properties ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_db(module_db_url: str) -> Iterator[Database]:
    d = Database(module_db_url)
    yield d
    d.dispose()


BUSINESSES = st.sampled_from(["demo-spa", "demo-24-7", "demo-lunch", "demo-clinic"])
SERVICES = st.sampled_from([None, "swedish", "deep_tissue", "sports", "reflexology"])
NOWS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(TZ)
).map(lambda d: d.replace(second=0, microsecond=0))


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    business=BUSINESSES,
    service=SERVICES,
    now=NOWS,
    offset=st.integers(min_value=-2, max_value=40),
    book=st.lists(st.integers(min_value=0, max_value=40), max_size=4),
)
def test_every_slot_is_valid(
    shared_db: Database,
    business: str,
    service: str | None,
    now: datetime,
    offset: int,
    book: list[int],
) -> None:
    p = get_business_policy(business)
    day = now.date() + timedelta(days=offset)
    first = find_slots(shared_db, p, now, day.isoformat(), service)
    assert first["ok"], first
    # book a few of the offered slots, then check every remaining slot
    for i in book:
        if first["slots"]:
            slot = first["slots"][i % len(first["slots"])]
            create_appointment(shared_db, p, now, slot["start_iso"], service or "reflexology", "p")
    r = find_slots(shared_db, p, now, day.isoformat(), service)
    duration = r["duration_min"]
    booked = [
        (datetime.fromisoformat(a["start_iso"]), datetime.fromisoformat(a["end_iso"]))
        for a in _appointments(shared_db, business)
    ]
    for slot in r["slots"]:
        start = datetime.fromisoformat(slot["start_iso"])
        end = datetime.fromisoformat(slot["end_iso"])
        local = start.astimezone(p.tz)
        assert start.utcoffset() == local.utcoffset()  # the offset printed is the real one
        assert local.date() == day
        assert (local.hour * 60 + local.minute) % p.slot_size_min == 0 and local.second == 0
        assert end - start == timedelta(minutes=duration)
        assert start >= now + timedelta(minutes=p.min_notice_min)
        assert day <= now.date() + timedelta(days=p.booking_window_days)
        assert _inside_hours(p, day, start, end)
        assert all(end <= b0 or start >= b1 for b0, b1 in booked)


def _appointments(db: Database, business: str) -> list[dict]:
    from voicectl.booking.appointments import list_appointments

    return list_appointments(db, business)


def _inside_hours(p, day: date, start: datetime, end: datetime) -> bool:  # noqa: ANN001
    from voicectl.booking.slots import local_at

    for a, b in p.hours_on(day):
        lo = local_at(p.tz, day, a).astimezone(UTC)
        hi = local_at(p.tz, day, b, fold=1).astimezone(UTC)
        if lo <= start.astimezone(UTC) and end.astimezone(UTC) <= hi:
            return True
    return False
