"""Held reservations (`store/holds.py`): a speculative turn's booking is written at once
as a hold - the slot taken in the database, no lead, no outbox event - and becomes the
booking when its turn commits, or goes away when it is taken back or its process dies.
Real SQLite and real PostgreSQL (`db_url`); expiry is simulated by moving `hold_until`
into the past (what a dead process's hold looks like 30 s later), so nothing sleeps.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import race
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

from voicectl.booking import appointments
from voicectl.booking.appointments import (
    CONFIRM_BACKOFF_S,
    CONFIRM_RETRY_S,
    attach_phone,
    confirm_hold,
    create_appointment,
    list_appointments,
)
from voicectl.booking.policy import get_business_policy, seed_policies
from voicectl.booking.slots import find_slots
from voicectl.booking.tools import BookingTools
from voicectl.call.commit import CONFIRM, HOLD, KEEP, REFUSE, RELEASE, WRITE, CommitGate
from voicectl.flows.dispatcher import Dispatcher
from voicectl.flows.engine import FlowEngine
from voicectl.flows.summary import UNSAVED_HE, OfflineSummarizer, call_facts
from voicectl.store import holds
from voicectl.store.booking import (
    AppointmentRow,
    AppointmentSlotRow,
    EventRow,
    LeadRow,
)
from voicectl.store.call_end import write_call_ended
from voicectl.store.calls import CallRow
from voicectl.store.db import Database
from voicectl.store.flows import DeliveryRow

TZ = ZoneInfo("Asia/Jerusalem")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)  # Friday
SLOT = "2026-11-22T12:00:00+02:00"  # Sunday 12:00


@pytest.fixture()
def db(db_url: str) -> Database:
    database = Database(db_url)
    seed_policies(database)
    yield database
    database.dispose()


def _spa(db: Database):  # noqa: ANN202
    return get_business_policy("demo-spa", db=db)


def _hold(db: Database, name: str = "דני", sid: str = "CA1", phone: str | None = "0501234567"):  # noqa: ANN202
    return create_appointment(
        db, _spa(db), NOW, SLOT, "swedish", name, phone, call_sid=sid, hold=True
    )


def _counts(db: Database) -> dict[str, int]:
    with db.session() as s:
        return {
            name: s.scalar(select(func.count()).select_from(model)) or 0
            for name, model in (
                ("appointments", AppointmentRow),
                ("cells", AppointmentSlotRow),
                ("events", EventRow),
                ("leads", LeadRow),
            )
        }


def _offered(db: Database) -> bool:
    res = find_slots(db, _spa(db), NOW, "2026-11-22", "swedish")
    return SLOT in [s["start_iso"] for s in res["slots"]]


def _expire(db: Database, appointment_id: int) -> None:
    """What a dead process's hold looks like once `HOLD_TTL_S` has passed."""
    with db.session() as s:
        s.execute(
            update(AppointmentRow)
            .where(AppointmentRow.id == appointment_id)
            .values(hold_until=datetime(2000, 1, 1))
        )


def test_a_hold_takes_the_slot_without_lead_or_event_then_commits_exactly_once(
    db: Database,
) -> None:
    res = _hold(db)
    assert res["ok"] and res["start_iso"] == SLOT and res["customer_phone"] == "+972501234567"
    assert res["lead_id"] is None
    assert _counts(db) == {"appointments": 1, "cells": 12, "events": 0, "leads": 0}
    assert list_appointments(db, "demo-spa")[0]["status"] == "held"
    assert not _offered(db)  # a live hold is taken

    first = confirm_hold(db, _spa(db), res["appointment_id"], res["hold_token"])
    again = confirm_hold(db, _spa(db), res["appointment_id"], res["hold_token"])
    assert first["ok"] and not first["already"] and again["ok"] and again["already"]
    assert _counts(db) == {"appointments": 1, "cells": 12, "events": 1, "leads": 1}
    [appt] = list_appointments(db, "demo-spa")
    assert appt["status"] == "booked" and appt["lead_id"] == first["lead_id"]
    with db.session() as s:
        [event] = s.scalars(select(EventRow)).all()
    assert event.type == "appointment.created" and event.call_sid == "CA1"
    assert f'"appointment_id": {res["appointment_id"]}' in event.payload


def test_racing_confirmations_of_one_hold_write_one_event(db: Database) -> None:
    res = _hold(db)
    results = race(
        8, lambda _i: confirm_hold(db, _spa(db), res["appointment_id"], res["hold_token"])
    )
    assert sorted(r["already"] for r in results) == [False] + [True] * 7, results
    assert _counts(db)["events"] == 1


def test_a_released_hold_leaves_nothing_and_the_slot_books(db: Database) -> None:
    res = _hold(db)
    assert holds.release(db, res["appointment_id"], res["hold_token"])
    assert not holds.release(db, res["appointment_id"], res["hold_token"])  # already gone
    assert _counts(db) == {"appointments": 0, "cells": 0, "events": 0, "leads": 0}
    assert _offered(db)
    again = create_appointment(db, _spa(db), NOW, SLOT, "swedish", "דני", "0501234567")
    assert again["ok"], again
    assert (
        confirm_hold(db, _spa(db), res["appointment_id"], res["hold_token"])["error"] == "hold_lost"
    )
    assert _counts(db)["events"] == 1


def test_release_leaves_a_booking_alone(db: Database) -> None:
    res = create_appointment(db, _spa(db), NOW, SLOT, "swedish", "דני", "0501234567")
    assert "hold_token" not in res
    assert not holds.release(db, res["appointment_id"], "")
    assert _counts(db)["appointments"] == 1


def test_another_call_is_refused_a_slot_held_by_a_live_hold(db: Database) -> None:
    assert _hold(db, sid="CA1")["ok"]
    other = create_appointment(
        db, _spa(db), NOW, SLOT, "swedish", "רות", "0527654321", call_sid="CA2"
    )
    assert other["error"] == "slot_taken" and SLOT not in other["suggestions"]
    other_hold = _hold(db, name="רות", sid="CA2")
    assert other_hold["error"] == "slot_taken"
    assert _counts(db)["appointments"] == 1


def test_calls_racing_while_one_holds_all_are_refused(db: Database) -> None:
    assert _hold(db, sid="CA0")["ok"]
    results = race(
        10,
        lambda i: create_appointment(
            db, _spa(db), NOW, SLOT, "swedish", f"racer {i}", f"05012345{i:02d}", call_sid=f"CB{i}"
        ),
    )
    assert [r["error"] for r in results] == ["slot_taken"] * 10
    assert _counts(db) == {"appointments": 1, "cells": 12, "events": 0, "leads": 0}


def test_an_expired_hold_frees_the_slot(db: Database) -> None:
    dead = _hold(db, sid="CADEAD")  # its process died before the turn was decided
    _expire(db, dead["appointment_id"])
    assert _offered(db)  # find_slots no longer counts it
    taken = create_appointment(
        db, _spa(db), NOW, SLOT, "swedish", "רות", "0527654321", call_sid="CA2"
    )
    assert taken["ok"], taken  # its own transaction dropped the expired hold
    assert [a["call_sid"] for a in list_appointments(db, "demo-spa")] == ["CA2"]
    assert (
        confirm_hold(db, _spa(db), dead["appointment_id"], dead["hold_token"])["error"]
        == "hold_lost"
    )
    assert _counts(db) == {"appointments": 1, "cells": 12, "events": 1, "leads": 1}


def test_the_sweep_deletes_expired_holds_only(db: Database) -> None:
    expired = _hold(db, sid="CADEAD")
    _expire(db, expired["appointment_id"])
    live = create_appointment(
        db, _spa(db), NOW, "2026-11-22T15:00:00+02:00", "swedish", "רות", None, hold=True
    )
    booked = create_appointment(db, _spa(db), NOW, "2026-11-23T10:00:00+02:00", "swedish", "גל")
    assert holds.sweep_expired(db) == 1
    left = {a["appointment_id"]: a["status"] for a in list_appointments(db, "demo-spa")}
    assert left == {live["appointment_id"]: "held", booked["appointment_id"]: "booked"}
    assert _counts(db)["cells"] == 24
    # An expired hold that nobody took can still be confirmed: its cells were never lost.
    _expire(db, live["appointment_id"])
    assert confirm_hold(db, _spa(db), live["appointment_id"], live["hold_token"])["ok"]
    assert holds.sweep_expired(db) == 0


def test_a_hold_is_invisible_to_the_after_call_flows_until_committed(db: Database) -> None:
    res = _hold(db)
    with db.session() as s:
        s.add(CallRow(call_sid="CA1", business_id="demo-spa", caller_number=None))
    assert attach_phone(db, _spa(db), res["appointment_id"], "0529999999")["error"] == "not_found"
    engine = FlowEngine(db)
    dispatcher = Dispatcher(engine)
    assert dispatcher.run_once().idle  # no event: nothing to confirm
    assert write_call_ended(db, "CA1", outcome="completed", ended_by="stop")
    with db.session() as s:
        [ended] = s.scalars(select(EventRow)).all()
        assert '"appointment_ids": []' in ended.payload
        import json

        facts = call_facts(s, json.loads(ended.payload))
    assert facts.booked == []
    dispatcher.run_once()
    with db.session() as s:
        handlers = {d.handler for d in s.scalars(select(DeliveryRow))}
    assert "whatsapp_confirmation" not in handlers

    assert confirm_hold(db, _spa(db), res["appointment_id"], res["hold_token"])["ok"]
    dispatcher.run_once()
    with db.session() as s:
        confirmations = s.scalars(
            select(DeliveryRow).where(DeliveryRow.handler == "whatsapp_confirmation")
        ).all()
    assert [(d.event_type, d.to_addr) for d in confirmations] == [
        ("appointment.created", "+972501234567")
    ]


# -- the gate (no database) ---------------------------------------------------------------


def test_the_gate_keeps_a_speculative_turns_hold_for_its_decision() -> None:
    gate = CommitGate(max_wait_s=5.0)
    gate.begin(1, speculative=True)
    ticket = gate.open_write("create_appointment", may_hold=True)
    assert ticket.mode == HOLD
    assert gate.held(ticket, 11) == KEEP
    assert gate.commit(1) == [11] and gate.pending() == 1
    gate.settled([11])
    assert gate.pending() == 0

    gate.begin(2, speculative=True)
    ticket = gate.open_write("create_appointment", may_hold=True)
    assert gate.held(ticket, 12) == KEEP
    assert gate.take_back(2) == [12]
    assert gate.commit(2) == []  # nothing left to hand out twice


def test_a_turn_decided_while_its_hold_is_written_settles_it_on_the_tools_thread() -> None:
    gate = CommitGate(max_wait_s=5.0)
    gate.begin(1, speculative=True)
    ticket = gate.open_write("create_appointment", may_hold=True)
    assert gate.commit(1) == []  # the hold is not written yet
    assert gate.held(ticket, 21) == CONFIRM and gate.pending() == 1
    gate.settled([21])
    gate.begin(2, speculative=True)
    ticket = gate.open_write("create_appointment", may_hold=True)
    assert gate.take_back(2) == []
    assert gate.held(ticket, 22) == RELEASE
    gate.settled([22])
    gate.begin(3, speculative=True)
    gate.take_back(3)
    assert gate.open_write("create_appointment", may_hold=True).mode == REFUSE


def test_the_next_turns_writes_wait_for_a_taken_back_turns_release() -> None:
    gate = CommitGate(max_wait_s=30.0)
    gate.begin(1, speculative=True)
    ticket = gate.open_write("create_appointment", may_hold=True)
    gate.held(ticket, 31)
    released = gate.take_back(1)
    gate.begin(2, speculative=False)  # the re-run of the whole utterance
    got: list[str] = []
    done = threading.Event()

    def rerun() -> None:
        got.append(gate.open_write("create_appointment", may_hold=True).mode)
        done.set()

    threading.Thread(target=rerun, daemon=True).start()
    assert not done.wait(0.2)  # still waiting for the release (not a timing assertion:
    assert got == []  # a correct gate can never have answered yet)
    gate.settled(released)
    assert done.wait(30)
    assert got == [WRITE]


def test_a_write_that_does_not_hold_waits_for_its_turns_holds_to_be_confirmed() -> None:
    gate = CommitGate(max_wait_s=30.0)
    gate.begin(1, speculative=True)
    ticket = gate.open_write("create_appointment", may_hold=True)
    gate.held(ticket, 41)
    answers: list[bool] = []
    done = threading.Event()

    def attach() -> None:
        answers.append(gate.may_write("attach_phone"))
        done.set()

    threading.Thread(target=attach, daemon=True).start()
    to_confirm = gate.commit(1)
    assert not done.wait(0.2) and answers == []  # the booking is not confirmed yet
    gate.settled(to_confirm)
    assert done.wait(30) and answers == [True]


# -- a confirmation that fails --------------------------------------------------------------


class _FailingUpdates:
    """Makes the next `times` confirmation claims (`UPDATE appointments SET status ...`)
    fail on `db`, as a dropped connection would (an `OperationalError` before the
    statement runs, so its transaction rolls back); counts every claim in `seen`."""

    def __init__(self, db: Database, times: int) -> None:
        self.times, self.seen = times, 0
        event.listen(db.engine, "before_cursor_execute", self._before)

    def _before(self, _conn, _cursor, statement: str, *_args) -> None:  # noqa: ANN001
        if not re.match(r"\s*UPDATE appointments SET status\b", statement, re.IGNORECASE):
            return  # not the confirmation's claim
        self.seen += 1
        if self.seen <= self.times:
            raise OperationalError(statement, {}, Exception("server closed the connection"))


def test_a_confirmation_that_fails_for_a_passing_reason_is_tried_again(db: Database) -> None:
    res = _hold(db)
    faults = _FailingUpdates(db, times=2)
    pauses: list[float] = []
    got = confirm_hold(db, _spa(db), res["appointment_id"], res["hold_token"], sleep=pauses.append)
    assert got["ok"] and not got["already"], got
    assert faults.seen == 3 and pauses == list(CONFIRM_BACKOFF_S[:2])
    assert list_appointments(db, "demo-spa")[0]["status"] == "booked"
    assert _counts(db)["events"] == 1


def test_a_confirmation_that_keeps_failing_gives_up_inside_the_holds_life(db: Database) -> None:
    res = _hold(db)
    faults = _FailingUpdates(db, times=100)
    pauses: list[float] = []
    got = confirm_hold(db, _spa(db), res["appointment_id"], res["hold_token"], sleep=pauses.append)
    assert (got["ok"], got["error"]) == (False, "confirm_failed")
    assert faults.seen == len(CONFIRM_BACKOFF_S) + 1 and pauses == list(CONFIRM_BACKOFF_S)
    assert sum(CONFIRM_BACKOFF_S) < CONFIRM_RETRY_S < holds.HOLD_TTL_S / 2
    assert list_appointments(db, "demo-spa")[0]["status"] == "held"
    assert _counts(db)["events"] == 0


def test_a_lost_hold_is_not_tried_again(db: Database) -> None:
    res = _hold(db)
    assert holds.release(db, res["appointment_id"], res["hold_token"])
    faults = _FailingUpdates(db, times=0)
    pauses: list[float] = []
    got = confirm_hold(db, _spa(db), res["appointment_id"], res["hold_token"], sleep=pauses.append)
    assert got["error"] == "hold_lost" and faults.seen == 1 and pauses == []


def _summary(db: Database, sid: str = "CA1") -> tuple[list, str]:
    with db.session() as s:
        facts = call_facts(s, {"call_sid": sid, "business_id": "demo-spa"})
    return facts.tool_results, OfflineSummarizer().summarize(facts)


def test_a_lost_hold_of_a_committed_turn_is_on_the_calls_summary(db: Database) -> None:
    gate = CommitGate(max_wait_s=5.0)
    tools = BookingTools(db, "demo-spa", lambda: NOW, call_sid="CA1", commit_gate=gate)
    gate.begin(1, speculative=True)
    told = tools.create_appointment(SLOT, "swedish", "דני", "0501234567")
    assert told["ok"]  # what the caller hears
    [hold_id] = gate.commit(1)
    # The hold is gone before its confirmation runs (e.g. expired and swept).
    assert holds.release(db, hold_id, tools._hold_tokens[hold_id])
    [res] = tools.confirm_holds([hold_id])
    assert res["error"] == "hold_lost" and gate.pending() == 0
    results, text = _summary(db)
    assert results == [
        ("create_appointment", True, None),
        ("create_appointment", False, "hold_lost"),
    ]
    assert UNSAVED_HE in text and "לא נקבע תור" in text
    # Not one of the current turn's tool calls: those are the agent's own.
    assert [(t.ok, t.error) for t in tools.traces] == [(True, None)]


def test_a_failed_confirmation_inside_the_tool_is_not_answered_as_a_booking(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appointments, "CONFIRM_BACKOFF_S", (0.0, 0.0, 0.0, 0.0))
    gate = CommitGate(max_wait_s=5.0)
    tools = BookingTools(db, "demo-spa", lambda: NOW, call_sid="CA1", commit_gate=gate)
    gate.begin(1, speculative=True)

    def commit_while_the_hold_is_written(_conn, _cursor, statement: str, *_args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("INSERT INTO APPOINTMENTS "):
            assert gate.commit(1) == []  # decided before `held`: the tool confirms it

    event.listen(db.engine, "before_cursor_execute", commit_while_the_hold_is_written)
    faults = _FailingUpdates(db, times=100)
    res = tools.create_appointment(SLOT, "swedish", "דני", "0501234567")
    assert (res["ok"], res["error"]) == (False, "confirm_failed"), res
    assert faults.seen == len(CONFIRM_BACKOFF_S) + 1 and gate.pending() == 0
    assert [(t.ok, t.error) for t in tools.traces] == [(True, None), (False, "confirm_failed")]
    results, text = _summary(db)
    assert results[-1] == ("create_appointment", False, "confirm_failed")
    assert UNSAVED_HE in text
