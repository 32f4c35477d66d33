"""BookingTools: the API the agent calls, traces (seed 002 H.3), never raising."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from voicectl.booking.policy import UnknownBusinessError, seed_policies
from voicectl.booking.tools import BookingTools, ToolTrace, mask_args
from voicectl.store.booking import ToolTraceRow
from voicectl.store.db import Database

TZ = ZoneInfo("Asia/Jerusalem")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    d = Database(db_url)
    yield d
    d.dispose()


def test_seed_000_flow_find_then_book_without_phone(db: Database) -> None:
    seen: list[ToolTrace] = []
    tools = BookingTools(
        db,
        "demo-spa",
        lambda: NOW,
        call_sid="CA1",
        session={"caller_number": "anonymous"},
        on_trace=seen.append,
    )
    slots = tools.find_slots("2026-11-22", "שוודי")
    assert slots["ok"] and "2026-11-22T12:00:00+02:00" in [s["start_iso"] for s in slots["slots"]]
    r = tools.create_appointment("2026-11-22T12:00:00+02:00", "שוודי", "דני")
    assert r["ok"] and r["customer_phone"] is None and r["appointment_id"]
    assert [t.tool for t in seen] == ["find_slots", "create_appointment"]
    assert [t.mark for t in seen] == ["TOOL_FIND_SLOTS_MS", "TOOL_CREATE_APPOINTMENT_MS"]
    assert tools.traces == seen
    assert all(t.ok and t.error is None and t.latency_ms >= 0 for t in seen)
    (appt,) = tools.list_appointments("CA1")
    assert appt["call_sid"] == "CA1" and tools.find_appointment(r["appointment_id"]) == appt
    assert tools.list_appointments("other") == []


def test_traces_in_db_with_masked_phones(db: Database) -> None:
    class Session:
        caller_number = "+972509999999"

    tools = BookingTools(db, "demo-clinic", lambda: NOW, call_sid="CA7", session=Session())
    tools.create_appointment(
        "2026-11-22T12:10",
        "ספורט",
        "דני",
        "050-123-4567",
        context={"customer_phone": "0527654321", "note": "call me at 0541112222"},
    )
    r = tools.create_appointment("2026-11-22T12:00", "ספורט", "דני")
    assert r["customer_phone"] == "+972509999999"  # the session's caller number
    tools.attach_phone(r["appointment_id"], "0501234567")
    with db.session() as s:
        traces = list(s.scalars(select(ToolTraceRow).order_by(ToolTraceRow.id)))
    assert [(t.tool, t.ok, t.error, t.call_sid) for t in traces] == [
        ("create_appointment", False, "off_grid", "CA7"),
        ("create_appointment", True, None, "CA7"),
        ("attach_phone", True, None, "CA7"),
    ]
    blob = " ".join(t.args_json for t in traces)
    for digits in ("1234567", "7654321", "1112222", "9999999"):
        assert digits not in blob
    args = json.loads(traces[0].args_json)
    assert args["customer_phone"] == "+97250****567"
    assert args["context"]["customer_phone"] == "+97252****321"
    assert args["start_iso"] == "2026-11-22T12:10"  # dates are not mistaken for phones
    assert all(t.latency_ms >= 0 for t in traces)


def test_need_phone_then_dtmf_then_book(db: Database) -> None:
    session = {"caller_number": None}
    tools = BookingTools(db, "demo-clinic", lambda: NOW, session=session)
    assert tools.create_appointment("2026-11-22T12:00", "swedish", "דני")["error"] == "need_phone"
    session["caller_number"] = "+972501234567"  # typed with DTMF, committed with #
    assert tools.create_appointment("2026-11-22T12:00", "swedish", "דני")["ok"]


def test_overrides_and_prompt(db: Database) -> None:
    tools = BookingTools(
        db, "demo-clinic", lambda: NOW, policy_overrides={"require_phone_before_booking": False}
    )
    assert tools.create_appointment("2026-11-22T12:00", "swedish", "דני")["ok"]
    tools = BookingTools(
        db, "demo-spa", lambda: NOW, business_prompt="פתוחים 24/7, תורים כל 15 דקות"
    )
    r = tools.find_slots("2026-11-21", "reflexology")  # Saturday, now open
    assert r["slot_size_min"] == 15 and len(r["slots"]) == 95  # last start 23:30


def test_unknown_business_raises_at_construction(db: Database) -> None:
    with pytest.raises(UnknownBusinessError):
        BookingTools(db, "nope", lambda: NOW)


def test_db_policy_is_used(db: Database) -> None:
    seed_policies(db)
    tools = BookingTools(db, "demo-spa", lambda: NOW)
    assert tools.policy.name == "ספא דמו"


def test_tools_never_raise(db: Database) -> None:
    def bad_trace(_t: ToolTrace) -> None:
        raise RuntimeError("observer down")

    def bad_now() -> datetime:
        raise ValueError("clock broken")

    tools = BookingTools(db, "demo-spa", bad_now, on_trace=bad_trace)
    assert tools.find_slots("2026-11-22")["error"] == "validation_error"
    assert tools.create_appointment(None, None, None, None, None)["error"] == "validation_error"  # type: ignore[arg-type]
    assert tools.attach_phone(None, None)["error"] == "validation_error"  # type: ignore[arg-type]
    assert tools.find_appointment(object()) is None  # type: ignore[arg-type]
    assert len(tools.traces) == 3
    db.dispose()
    tools.db = Database.__new__(Database)  # broken database: traces fail, tools still answer
    assert tools.find_slots("2026-11-22")["ok"] is False
    assert tools.list_appointments() == []


def test_mask_args() -> None:
    masked = mask_args(
        {
            "customer_phone": "0501234567",
            "caller_number": 501234567,
            "customer_name": "דני",
            "free": "my number is 050-123-4567",
            "date_iso": "2026-11-22",
            "n": [1, None],
        }
    )
    assert masked["customer_phone"] == "+97250****567"
    assert "1234567" not in json.dumps(masked)
    assert masked["customer_name"] == "דני" and masked["date_iso"] == "2026-11-22"
    assert masked["n"] == [1, None]
