"""Tests for outcome checks against the server's call record."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from voicectl.sim.checks import Check, check_bot_texts, check_expectations, normalise_text
from voicectl.sim.scenario import Expect

RECORD: dict[str, Any] = {
    "call_sid": "CA123",
    "business_id": "demo-spa",
    "caller_number": None,
    "turns": [
        {
            "index": 0,
            "kind": "greeting",
            "user_text": None,
            "bot_text": "שלום, הגעתם לספא דמו. איך אפשר לעזור?",
            "marks": {},
            "barged_in": False,
        },
        {
            "index": 1,
            "kind": "speech",
            "user_text": "תקבע לי מחר ב-12 שוודי, השם דני",
            "bot_text": "קבעתי לך  עיסוי שוודי\nמחר ב-12:00, Danny.",
            "marks": {"STT_FINAL_MS": 130.0},
            "barged_in": False,
        },
    ],
    "tool_calls": [
        {"name": "find_slots", "args": {}, "ok": True, "error": None, "latency_ms": 1.2},
        {
            "name": "create_appointment",
            "args": {},
            "ok": False,
            "error": "validation_error",
            "latency_ms": 0.8,
        },
        {"name": "create_appointment", "args": {}, "ok": True, "error": None, "latency_ms": 2.0},
    ],
    "appointments": [
        {
            "appointment_id": 7,
            "start_iso": "2026-11-21T12:00:00+02:00",
            "end_iso": "2026-11-21T13:00:00+02:00",
            "service": "swedish",
            "customer_name": "דני",
            "customer_phone": None,
        },
    ],
    "events": [
        {"type": "call.started", "payload": {}},
        {"type": "appointment.created", "payload": {}},
        {"type": "call.ended", "payload": {}},
    ],
    "log": [
        "INFO voicectl.call: call started",
        "INFO voicectl.call: DTMF phone captured: +97250****567, waiting_for_dtmf=false",
    ],
    "errors": [],
}


def _expect(**kw: Any) -> Expect:
    return Expect.model_validate(kw)


def _one(checks: list[Check], name: str) -> Check:
    found = [c for c in checks if c.name == name]
    assert len(found) == 1, checks
    return found[0]


def _rec(**changes: Any) -> dict[str, Any]:
    rec = copy.deepcopy(RECORD)
    rec.update(changes)
    return rec


def test_only_written_expectations_are_checked() -> None:
    checks = check_expectations(_expect(), RECORD)
    assert [c.name for c in checks] == ["no_errors"]
    assert checks[0].ok
    assert check_expectations(_expect(no_errors=False), RECORD) == []


def test_all_pass_on_design_example() -> None:
    exp = _expect(
        tool_calls=["find_slots", "create_appointment"],
        appointment={
            "start": "2026-11-21T10:00:00Z",
            "service": "swedish",
            "customer_name": "דני",
            "customer_phone": None,
        },
        caller_number=None,
        events=["appointment.created"],
        log_contains=["DTMF phone captured"],
    )
    checks = check_expectations(exp, RECORD)
    assert [c.name for c in checks] == [
        "tool_calls",
        "appointment",
        "caller_number",
        "events",
        "log_contains[0]",
        "no_errors",
    ]
    assert all(c.ok for c in checks), checks


# ----------------------------------------------------------------- tool calls / events


def test_tool_calls_detail_shows_actual_sequence() -> None:
    c = _one(
        check_expectations(_expect(tool_calls=["find_slots", "create_appointment"]), RECORD),
        "tool_calls",
    )
    assert c.ok
    assert "find_slots(ok) -> create_appointment(error=validation_error)" in c.detail


def test_tool_calls_missing_and_out_of_order() -> None:
    missing = _one(
        check_expectations(_expect(tool_calls=["find_slots", "cancel"]), RECORD), "tool_calls"
    )
    assert not missing.ok
    assert "expected find_slots -> cancel" in missing.detail
    assert "'cancel' never happened" in missing.detail

    order = _one(
        check_expectations(_expect(tool_calls=["create_appointment", "find_slots"]), RECORD),
        "tool_calls",
    )
    assert not order.ok
    assert "'find_slots' did not happen after 'create_appointment'" in order.detail


def test_tool_calls_none_made() -> None:
    c = _one(
        check_expectations(_expect(tool_calls=["find_slots"]), _rec(tool_calls=[])), "tool_calls"
    )
    assert not c.ok and "got no tool calls" in c.detail


def test_events_subsequence() -> None:
    ok = _one(check_expectations(_expect(events=["call.started", "call.ended"]), RECORD), "events")
    assert ok.ok
    bad = _one(
        check_expectations(_expect(events=["call.ended", "appointment.created"]), RECORD), "events"
    )
    assert not bad.ok
    assert "call.started -> appointment.created -> call.ended" in bad.detail


# ----------------------------------------------------------------- appointment


def test_appointment_absent_is_not_checked() -> None:
    names = [c.name for c in check_expectations(_expect(), _rec(appointments=[]))]
    assert "appointment" not in names


def test_appointment_null_means_no_booking() -> None:
    ok = _one(check_expectations(_expect(appointment=None), _rec(appointments=[])), "appointment")
    assert ok.ok and "no booking" in ok.detail
    bad = _one(check_expectations(_expect(appointment=None), RECORD), "appointment")
    assert not bad.ok
    assert "expected no booking; got 1" in bad.detail and "swedish" in bad.detail


def test_appointment_expected_but_none_made_mentions_failed_tools() -> None:
    c = _one(
        check_expectations(_expect(appointment={"service": "swedish"}), _rec(appointments=[])),
        "appointment",
    )
    assert not c.ok
    assert "none was made" in c.detail and "service='swedish'" in c.detail
    assert "create_appointment(error=validation_error)" in c.detail


def test_appointment_start_compared_as_instant() -> None:
    for start in ("2026-11-21T12:00:00+02:00", "2026-11-21T10:00:00Z", "2026-11-21T10:00:00+00:00"):
        c = _one(check_expectations(_expect(appointment={"start": start}), RECORD), "appointment")
        assert c.ok, c.detail
    c = _one(
        check_expectations(_expect(appointment={"start": "2026-11-21T12:00:00Z"}), RECORD),
        "appointment",
    )
    assert not c.ok
    assert "start: expected '2026-11-21T12:00:00+00:00', got '2026-11-21T12:00:00+02:00'" in (
        c.detail
    )


def test_appointment_uses_last_one() -> None:
    rec = _rec(
        appointments=[
            RECORD["appointments"][0],
            {**RECORD["appointments"][0], "appointment_id": 8, "service": "sports"},
        ]
    )
    c = _one(check_expectations(_expect(appointment={"service": "swedish"}), rec), "appointment")
    assert not c.ok
    assert "service: expected 'swedish', got 'sports'" in c.detail
    assert "last of 2" in c.detail


def test_appointment_phone_spaces_and_null() -> None:
    rec = _rec(appointments=[{**RECORD["appointments"][0], "customer_phone": "+972 50 123 4567"}])
    ok = _one(
        check_expectations(_expect(appointment={"customer_phone": "+972501234567"}), rec),
        "appointment",
    )
    assert ok.ok, ok.detail
    bad = _one(
        check_expectations(_expect(appointment={"customer_phone": None}), rec), "appointment"
    )
    assert not bad.ok
    assert "customer_phone: expected None, got '+972 50 123 4567'" in bad.detail


def test_appointment_name_mismatch_and_subset() -> None:
    c = _one(
        check_expectations(_expect(appointment={"customer_name": "שי"}), RECORD), "appointment"
    )
    assert not c.ok and "customer_name: expected 'שי', got 'דני'" in c.detail
    any_booking = _one(check_expectations(_expect(appointment={}), RECORD), "appointment")
    assert any_booking.ok and "any booking" in any_booking.detail


def test_appointment_unparsable_start_fails() -> None:
    rec = _rec(appointments=[{**RECORD["appointments"][0], "start_iso": "tomorrow"}])
    c = _one(
        check_expectations(_expect(appointment={"start": "2026-11-21T10:00:00Z"}), rec),
        "appointment",
    )
    assert not c.ok and "got 'tomorrow'" in c.detail


# ----------------------------------------------------------------- caller number, log, errors


@pytest.mark.parametrize(
    ("want", "got", "ok"),
    [
        (None, None, True),
        ("+972501234567", "+972501234567", True),
        (None, "+972501234567", False),
        ("+972501234567", None, False),
    ],
)
def test_caller_number(want: str | None, got: str | None, ok: bool) -> None:
    c = _one(
        check_expectations(_expect(caller_number=want), _rec(caller_number=got)), "caller_number"
    )
    assert c.ok is ok
    assert repr(want) in c.detail and repr(got) in c.detail


def test_log_contains_one_check_per_substring() -> None:
    checks = check_expectations(
        _expect(log_contains=["DTMF phone captured", "APP_START"], no_errors=False), RECORD
    )
    first, second = checks
    assert first.name == "log_contains[0]" and first.ok and "log line 2" in first.detail
    assert second.name == "log_contains[1]" and not second.ok
    assert "'APP_START' not in any of 2 log lines" in second.detail


def test_no_errors_lists_first_errors() -> None:
    errors = [f"ValueError: boom {i}" for i in range(5)]
    c = _one(check_expectations(_expect(), _rec(errors=errors)), "no_errors")
    assert not c.ok
    assert "5 error(s): ValueError: boom 0 | ValueError: boom 1 | ValueError: boom 2" in c.detail
    assert "(+2 more)" in c.detail


def test_no_errors_catches_error_level_log_lines() -> None:
    rec = _rec(log=[*RECORD["log"], "ERROR voicectl.call: turn dropped"])
    c = _one(check_expectations(_expect(), rec), "no_errors")
    assert not c.ok and "1 error-level log line(s): ERROR voicectl.call: turn dropped" in c.detail


def test_missing_record_keys_read_as_empty() -> None:
    checks = check_expectations(
        _expect(tool_calls=[], events=[], appointment=None, log_contains=[]), {}
    )
    assert all(c.ok for c in checks), checks


# ----------------------------------------------------------------- bot texts


def test_bot_texts_case_and_whitespace_insensitive() -> None:
    checks = check_bot_texts([(0, ["ספא דמו"]), (1, ["עיסוי שוודי מחר", "danny"])], RECORD)
    assert [c.name for c in checks] == ["expect_bot turn 0", "expect_bot turn 1"]
    assert all(c.ok for c in checks), checks


def test_bot_texts_missing_substring_and_turn() -> None:
    bad, gone, empty = check_bot_texts([(1, ["שוודי", "ספורט"]), (5, []), (0, [])], RECORD)
    assert not bad.ok
    assert "missing 'ספורט' in bot reply" in bad.detail and "קבעתי" in bad.detail
    assert not gone.ok and "no turn 5 (turns recorded: 0, 1)" in gone.detail
    assert empty.ok


def test_normalise_text() -> None:
    assert normalise_text("  Hello\n\tWORLD ") == "hello world"
    assert normalise_text(None) == ""
