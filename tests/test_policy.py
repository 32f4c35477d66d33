"""Business policy: shipped YAML, database seeding, overrides, prompt, services."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from voicectl.booking.policy import (
    END_OF_DAY,
    BusinessPolicy,
    PolicyError,
    UnknownBusinessError,
    business_for_number,
    get_business_policy,
    load_policies,
    prompt_overrides,
    seed_policies,
)
from voicectl.store.db import Database

SUNDAY = date(2026, 11, 22)
FRIDAY = date(2026, 11, 20)
SATURDAY = date(2026, 11, 21)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    d = Database(tmp_path / "policy.db")
    yield d
    d.dispose()


def test_shipped_demo_spa_matches_design() -> None:
    p = load_policies()["demo-spa"]
    assert p.name == "ספא דמו"
    assert p.tz == ZoneInfo("Asia/Jerusalem")
    assert p.hours_on(SUNDAY) == [(time(9), time(20))]
    assert p.hours_on(date(2026, 11, 26)) == [(time(9), time(20))]  # Thursday
    assert p.hours_on(FRIDAY) == [(time(9), time(14))]
    assert p.hours_on(SATURDAY) == []
    assert (p.slot_size_min, p.min_notice_min, p.booking_window_days) == (30, 60, 30)
    assert p.require_phone_before_booking is False and p.allow_24_7 is False
    assert [(s.id, s.name, s.duration_min) for s in p.services] == [
        ("swedish", "שוודי", 60),
        ("deep_tissue", "רקמות עמוק", 60),
        ("sports", "ספורט", 45),
        ("reflexology", "רפלקסולוגיה", 30),
    ]


def test_shipped_other_businesses() -> None:
    ps = load_policies()
    clinic = ps["demo-clinic"]
    assert clinic.require_phone_before_booking is True and clinic.allow_24_7 is False
    assert ps["demo-24-7"].allow_24_7 is True
    assert ps["demo-24-7"].hours_on(SATURDAY) == [(time(0), END_OF_DAY)]
    assert ps["demo-lunch"].hours_on(SUNDAY) == [(time(9), time(13)), (time(14), time(19))]


@pytest.mark.parametrize(
    ("text", "service_id"),
    [
        ("swedish", "swedish"),
        ("Swedish", "swedish"),
        ("שוודי", "swedish"),
        ("עיסוי שוודי", "swedish"),
        ("שוודית", "swedish"),
        ("לעיסוי שוודי", "swedish"),
        ("העיסוי השוודי", "swedish"),
        ("בשוודי", "swedish"),
        ("עיסוי שוודי של שעה", "swedish"),
        ("רקמות", "deep_tissue"),
        ("רקמות עמוק", "deep_tissue"),
        ("עיסוי רקמות עמוקות", "deep_tissue"),
        ("deep tissue", "deep_tissue"),
        ("deep_tissue", "deep_tissue"),
        ("עיסוי ספורט", "sports"),
        ("ספורט", "sports"),
        ("לספורט", "sports"),
        ("רפלקסולוגיה", "reflexology"),
        ("ברפלקסולוגיה", "reflexology"),
        ("  רִפְלֶקְסוֹלוֹגְיָה!  ", "reflexology"),
    ],
)
def test_service_by_name(text: str, service_id: str) -> None:
    svc = load_policies()["demo-spa"].service_by_name(text)
    assert svc is not None and svc.id == service_id


@pytest.mark.parametrize("text", ["", "  ", "פדיקור", "שוודי או ספורט", "עיסוי", None])
def test_service_by_name_none(text: str | None) -> None:
    assert load_policies()["demo-spa"].service_by_name(text) is None


def test_unknown_business() -> None:
    with pytest.raises(UnknownBusinessError, match="unknown business 'nope'.*demo-spa"):
        get_business_policy("nope")
    assert issubclass(UnknownBusinessError, ValueError)


def test_overrides() -> None:
    p = get_business_policy(
        "demo-clinic", overrides={"require_phone_before_booking": False, "slot_size_min": "15"}
    )
    assert p.require_phone_before_booking is False and p.slot_size_min == 15
    assert p.applied_overrides
    p = get_business_policy(
        "demo-spa", overrides={"opening_hours": {"sat": ["10:00-12:00"]}, "timezone": "UTC"}
    )
    assert p.hours_on(SATURDAY) == [(time(10), time(12))] and p.hours_on(SUNDAY) == []
    assert p.tz == ZoneInfo("UTC")
    with pytest.raises(PolicyError, match="unknown policy field"):
        get_business_policy("demo-spa", overrides={"colour": "red"})
    with pytest.raises(PolicyError):
        get_business_policy("demo-spa", overrides={"slot_size_min": "often"})
    with pytest.raises(PolicyError):
        get_business_policy("demo-spa", overrides={"opening_hours": {"sun": ["20:00-09:00"]}})


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("אנחנו פתוחים 24/7", {"allow_24_7": True}),
        ("פתוח 24 שעות ביממה, תורים כל 15 דקות", {"allow_24_7": True, "slot_size_min": 15}),
        ("We are open 24 hours. Slots of 20 minutes.", {"allow_24_7": True, "slot_size_min": 20}),
        ("תורים כל חצי שעה", {"slot_size_min": 30}),
        ("לא פתוחים 24/7", {}),
        ("ביטול עד 24 שעות מראש", {}),
        ("קובעים לפחות שעתיים מראש", {"min_notice_min": 120}),
        ("at least 90 minutes notice", {"min_notice_min": 90}),
        ("אפשר לקבוע עד 14 ימים מראש", {"booking_window_days": 14}),
        ("מספר טלפון חובה", {"require_phone_before_booking": True}),
        ("ספא נעים בתל אביב", {}),
        ("", {}),
    ],
)
def test_prompt_overrides(prompt: str, expected: dict) -> None:
    assert prompt_overrides(prompt) == expected


def test_prompt_then_explicit_override() -> None:
    p = get_business_policy("demo-spa", "פתוחים 24/7, תורים כל 15 דקות")
    assert p.allow_24_7 and p.slot_size_min == 15
    assert p.hours_on(SATURDAY) == [(time(0), END_OF_DAY)]
    p = get_business_policy("demo-spa", "תורים כל 15 דקות", overrides={"slot_size_min": 60})
    assert p.slot_size_min == 60


def test_seed_is_idempotent_and_db_wins(db: Database) -> None:
    assert seed_policies(db) == seed_policies(db) == len(load_policies())
    from_db = get_business_policy("demo-spa", db=db)
    assert from_db == load_policies()["demo-spa"]
    # a changed file re-seeds in place
    doc = Path(__file__).resolve().parents[1] / "voicectl" / "data" / "businesses.yaml"
    text = doc.read_text(encoding="utf-8").replace("slot_size_min: 30", "slot_size_min: 20")
    alt = db.url.replace("sqlite:///", "")
    alt_yaml = Path(alt).with_suffix(".yaml")
    alt_yaml.write_text(text, encoding="utf-8")
    seed_policies(db, alt_yaml)
    assert get_business_policy("demo-spa", db=db).slot_size_min == 20
    assert get_business_policy("demo-spa").slot_size_min == 30  # the shipped file
    from sqlalchemy import func, select

    from voicectl.store.booking import ServiceRow

    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ServiceRow)) == 4 * len(load_policies())


def test_another_processes_seed_reaches_new_calls_within_the_cache_time(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Policies read from the database are reused for `POLICY_CACHE_S`: a change seeded by
    another process (here: another `Database` on the same file) is seen once that has
    passed, and this process's own seeding is seen at once."""
    from voicectl.booking import policy as policy_mod

    clock = [1000.0]
    monkeypatch.setattr(policy_mod._time, "monotonic", lambda: clock[0])
    seed_policies(db)
    assert get_business_policy("demo-spa", db=db).slot_size_min == 30
    doc = Path(policy_mod.DEFAULT_POLICY_PATH)
    alt_yaml = tmp_path / "other.yaml"
    alt_yaml.write_text(
        doc.read_text(encoding="utf-8")
        .replace("slot_size_min: 30", "slot_size_min: 20")
        .replace("+97233720100", "+97233720199"),
        encoding="utf-8",
    )
    other = Database(db.url)
    try:
        seed_policies(other, alt_yaml)  # "another process"
    finally:
        other.dispose()
    clock[0] += policy_mod.POLICY_CACHE_S / 2
    assert get_business_policy("demo-spa", db=db).slot_size_min == 30  # still the copy
    clock[0] += policy_mod.POLICY_CACHE_S
    assert get_business_policy("demo-spa", db=db).slot_size_min == 20
    assert business_for_number("+97233720199", db=db) == "demo-spa"
    seed_policies(db)  # this process: at once
    assert get_business_policy("demo-spa", db=db).slot_size_min == 30


def test_unseeded_db_falls_back_to_yaml(db: Database) -> None:
    assert get_business_policy("demo-spa", db=db) == load_policies()["demo-spa"]
    with pytest.raises(UnknownBusinessError):
        get_business_policy("nope", db=db)


def test_business_for_number(db: Database) -> None:
    assert business_for_number("+97233720100") == "demo-spa"
    assert business_for_number("03-372-0101") == "demo-clinic"
    assert business_for_number("+97233720102", db=db) == "demo-24-7"
    assert business_for_number("+15005550006") is None
    assert business_for_number(None) is None
    assert business_for_number("anonymous") is None


def test_roundtrip_dict() -> None:
    for bid, p in load_policies().items():
        assert BusinessPolicy.from_dict(bid, p.to_dict()) == p


def test_bad_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "b.yaml"
    bad.write_text("nothing: here\n", encoding="utf-8")
    with pytest.raises(PolicyError):
        load_policies(bad)
    bad.write_text("businesses:\n  x:\n    slot_size_min: 0\n", encoding="utf-8")
    with pytest.raises(PolicyError):
        load_policies(bad)


def test_prompt_overrides_read_through_the_hebrew_clean_up() -> None:
    """Niqqud, geresh and maqaf in a business prompt do not hide what it says."""
    assert prompt_overrides("פתוחים 24 שָׁעוֹת") == {"allow_24_7": True}
    assert prompt_overrides("תורים כל 15 דקות, לְפָחוֹת שעתיים מראש") == {
        "slot_size_min": 15,
        "min_notice_min": 120,
    }
    assert prompt_overrides("משבצות של 20 דק\u05f3") == {"slot_size_min": 20}
