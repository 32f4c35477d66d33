"""The after-call flows on a real SQLite outbox: rules, handlers, the dispatcher's claims,
retries with back-off on an injected clock, maximum age, exactly-once delivery.

Clock: the booking clock is Friday 2026-11-20 10:00 Asia/Jerusalem; the dispatcher's clock
is a hand-moved naive-UTC clock, so no test sleeps or times anything.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from voicectl.agent.base import Conversation, TurnInput
from voicectl.agent.offline import OfflineAgent
from voicectl.booking.appointments import attach_phone, create_appointment
from voicectl.booking.policy import get_business_policy, seed_policies
from voicectl.booking.tools import BookingTools
from voicectl.flows.dispatcher import Dispatcher, backoff_s
from voicectl.flows.engine import FlowEngine
from voicectl.flows.messages import get_message, list_messages, retry_delivery
from voicectl.flows.messengers import (
    OutboxMessenger,
    OutgoingMessage,
    PermanentSendError,
    RetryableSendError,
)
from voicectl.flows.rules import RulesError, load_rules, parse_rules
from voicectl.store.booking import EventRow, LeadRow
from voicectl.store.calls import CallRow, TurnRow
from voicectl.store.db import Database
from voicectl.store.flows import DeliveryRow, OutboxMessageRow

TZ = ZoneInfo("Asia/Jerusalem")
BOOKING_NOW = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)  # Friday
SUNDAY_9 = "2026-11-22T09:00:00+02:00"
SUNDAY_12 = "2026-11-22T12:00:00+02:00"


class UTCClock:
    """The dispatcher's clock: naive UTC, moved by hand."""

    def __init__(self) -> None:
        self.t = datetime(2026, 11, 20, 8, 0)

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


class ScriptedMessenger:
    """Fails the first sends with the given errors, then accepts; records what it sent."""

    name = "scripted"

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[OutgoingMessage] = []
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> str:
        self.calls.append(message)
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(message)
        return f"id-{len(self.sent)}"


@pytest.fixture()
def db(db_url: str) -> Database:
    database = Database(db_url)
    seed_policies(database)
    return database


@pytest.fixture()
def clock() -> UTCClock:
    return UTCClock()


def _book(db: Database, start: str = SUNDAY_9, phone: str | None = "0501234567", **kw) -> dict:
    policy = get_business_policy(kw.pop("business", "demo-spa"), db=db)
    res = create_appointment(
        db, policy, BOOKING_NOW, start, "swedish", kw.pop("name", "דני"), phone, call_sid="CA1"
    )
    assert res["ok"], res
    return res


def _dispatcher(db: Database, clock: UTCClock, messenger=None, rules=None, **kw) -> Dispatcher:
    engine = FlowEngine(db, rules=rules, messenger=messenger)
    return Dispatcher(engine, now=clock, rng=random.Random(7), **kw)


def _outbox_count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(OutboxMessageRow)) or 0


# -- handlers -----------------------------------------------------------------------------


def test_booking_with_phone_gets_one_hebrew_confirmation(db: Database, clock: UTCClock) -> None:
    _book(db)
    d = _dispatcher(db, clock)
    stats = d.run_once()
    assert stats.outcomes == {"sent": 1}
    [m] = list_messages(db)
    assert m["event"] == "appointment.created"
    assert m["handler"] == "whatsapp_confirmation"
    assert m["to"] == "+972501234567"
    assert m["text"] == "נקבע לך תור ליום ראשון, 22 בנובמבר ב-09:00 בספא דמו."
    assert (m["status"], m["attempts"], m["channel"]) == ("sent", 1, "outbox")
    # Running again (a restart, a second worker) sends nothing more.
    assert d.run_once().idle
    assert _dispatcher(db, clock).run_once().idle
    assert _outbox_count(db) == 1


def test_no_phone_no_message_then_phone_attached_confirms(db: Database, clock: UTCClock) -> None:
    res = _book(db, start=SUNDAY_12, phone=None, name="רות")
    d = _dispatcher(db, clock)
    d.run_once()
    [m] = list_messages(db)
    assert m["status"] == "skipped" and m["to"] is None and m["text"] is None
    assert "follow-up" in m["note"]
    with db.session() as s:
        assert s.get(LeadRow, res["lead_id"]).needs_follow_up is True
    assert _outbox_count(db) == 0

    policy = get_business_policy("demo-spa", db=db)
    assert attach_phone(db, policy, res["appointment_id"], "052-111-2222", call_sid="CA1")["ok"]
    d.run_once()
    sent = list_messages(db, status="sent")
    assert [(m["event"], m["to"]) for m in sent] == [
        ("appointment.phone_attached", "+972521112222")
    ]
    assert "ב-12:00 בספא דמו" in sent[0]["text"]
    assert _outbox_count(db) == 1


def test_flows_off_for_a_business_sends_nothing(db: Database, clock: UTCClock) -> None:
    rules = parse_rules(
        {
            **_shipped(),
            "businesses": {"demo-spa": {"enabled": False}},
        }
    )
    assert not rules.confirms_bookings("demo-spa")
    assert rules.confirms_bookings("demo-clinic")
    _book(db)
    _dispatcher(db, clock, rules=rules).run_once()
    assert list_messages(db) == []
    with db.session() as s:
        assert s.scalar(select(EventRow.processed_at)) is not None


def _shipped() -> dict:
    import yaml

    from voicectl.flows.rules import DEFAULT_RULES

    return yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))


def _ended_call(db: Database, appointment_ids: list[int], outcome: str = "completed") -> None:
    with db.session() as s:
        s.add(CallRow(call_sid="CA1", business_id="demo-spa", caller_number=None))
        s.flush()
        s.add(TurnRow(call_sid="CA1", index=1, kind="greeting", bot_text="שלום"))
        s.add(TurnRow(call_sid="CA1", index=2, kind="speech", user_text="תקבע לי ביום ראשון ב-9"))
        payload = {
            "call_sid": "CA1",
            "business_id": "demo-spa",
            "caller_number": None,
            "started_at": "2026-11-20T08:00:00+00:00",
            "ended_at": "2026-11-20T08:01:45+00:00",
            "duration_s": 105.0,
            "outcome": outcome,
            "ended_by": "stop",
            "turns": 2,
            "appointment_ids": appointment_ids,
        }
        s.add(
            EventRow(
                type="call.ended",
                business_id="demo-spa",
                call_sid="CA1",
                payload=json.dumps(payload, ensure_ascii=False),
            )
        )


def test_call_ended_stores_a_deterministic_summary(db: Database, clock: UTCClock) -> None:
    res = _book(db, phone=None)
    _ended_call(db, [res["appointment_id"]])
    _dispatcher(db, clock).run_once()
    with db.session() as s:
        summary = s.get(CallRow, "CA1").summary
    assert summary == (
        'שיחה ממספר חסוי, 1:45 דקות, 1 פניות. המתקשר/ת: "תקבע לי ביום ראשון ב-9". '
        "נקבע תור: שוודי, יום ראשון, 22 בנובמבר ב-09:00, על שם דני, בלי טלפון "
        "(לחזור ללקוח). השיחה הסתיימה: המתקשר ניתק."
    )
    summary_row = [m for m in list_messages(db) if m["handler"] == "call_summary"]
    assert [m["status"] for m in summary_row] == ["done"]  # no WhatsApp of summaries by default
    assert get_message(db, summary_row[0]["id"])["summary"] == summary  # `flows show` has it


def test_summary_goes_by_whatsapp_when_the_business_asks(db: Database, clock: UTCClock) -> None:
    rules = parse_rules({**_shipped(), "businesses": {"demo-spa": {"summary_to": "054-999-8888"}}})
    _ended_call(db, [], outcome="interrupted")
    _dispatcher(db, clock, rules=rules).run_once()
    [m] = list_messages(db, status="sent")
    assert m["to"] == "+972549998888"
    assert m["text"].startswith("סיכום שיחה - ספא דמו: ")
    assert "לא נקבע תור." in m["text"] and "נקטעה" in m["text"]


# -- dispatcher: retries, maximum age, claims ---------------------------------------------


def test_backoff_doubles_with_bounded_jitter() -> None:
    rng = random.Random(1)
    for attempt, full in [(1, 2), (2, 4), (3, 8), (9, 300), (20, 300)]:
        for _ in range(50):
            assert full / 2 <= backoff_s(attempt, 2, 300, rng) <= full


def test_retries_wait_for_the_backoff_then_send_once(db: Database, clock: UTCClock) -> None:
    _book(db)
    m = ScriptedMessenger(RetryableSendError("HTTP 503"), RetryableSendError("timeout"))
    d = _dispatcher(db, clock, messenger=m)
    assert d.run_once().outcomes == {"retry": 1}
    assert d.run_once().idle  # not due yet: nothing is retried early
    wait = d.seconds_until_due()
    assert wait is not None and 1.0 <= wait <= 2.0  # attempt 1 -> 1-2 s
    clock.advance(wait)
    assert d.run_once().outcomes == {"retry": 1}
    wait = d.seconds_until_due()
    assert wait is not None and 2.0 <= wait <= 4.0  # attempt 2 -> 2-4 s
    clock.advance(wait)
    assert d.run_once().outcomes == {"sent": 1}
    assert len(m.calls) == 3 and len(m.sent) == 1
    assert len({c.idempotency_key for c in m.calls}) == 1  # same key on every try
    assert len({c.text for c in m.calls}) == 1
    detail = get_message(db, 1)
    assert [a["outcome"] for a in detail["attempt_log"]] == ["retry", "retry", "sent"]
    assert detail["attempt_log"][0]["error"] == "HTTP 503"


def test_an_event_past_its_maximum_age_fails_and_is_shown(db: Database, clock: UTCClock) -> None:
    rules = parse_rules({**_shipped(), "delivery": {"max_age_s": 30, "backoff_base_s": 8}})
    _book(db)
    with db.session() as s:  # the booking was committed "now" on the dispatcher's clock
        s.execute(EventRow.__table__.update().values(created_at=clock()))
    m = ScriptedMessenger(*[RetryableSendError("bridge down")] * 10)
    d = _dispatcher(db, clock, messenger=m, rules=rules)
    for _ in range(10):
        d.run_once()
        wait = d.seconds_until_due()
        if wait is None:
            break
        clock.advance(wait)
    [failed] = list_messages(db, status="failed")
    assert "maximum age" in failed["last_error"] and "bridge down" in failed["last_error"]
    assert failed["attempts"] == len(m.calls) < 10
    assert m.sent == []


def test_a_permanent_error_fails_at_once(db: Database, clock: UTCClock) -> None:
    _book(db)
    m = ScriptedMessenger(PermanentSendError("Twilio 400 error 21211: invalid To"))
    _dispatcher(db, clock, messenger=m).run_once()
    [failed] = list_messages(db, status="failed")
    assert failed["attempts"] == 1 and "21211" in failed["last_error"]
    # A person fixes it and retries: queued once, sent once; a sent one cannot be retried.
    assert retry_delivery(db, failed["id"], now=clock()) == "queued"
    _dispatcher(db, clock, messenger=m).run_once()
    assert len(m.sent) == 1
    assert retry_delivery(db, failed["id"], now=clock()) == "sent"
    assert retry_delivery(db, 999) == "not_found"


def test_a_live_claim_excludes_others_until_its_lease_ends(db: Database, clock: UTCClock) -> None:
    _book(db)
    a = _dispatcher(db, clock, name="A")
    b = _dispatcher(db, clock, name="B")
    a.fan_out()
    assert a.claim() == [1]
    assert b.claim() == []  # A holds the lease
    clock.advance(a.delivery.lease_s + 1)  # A "died" holding it
    assert b.claim() == [1]
    assert a.deliver(1) == "lost"  # A woke up late: it may not deliver
    assert b.deliver(1) == "sent"
    assert _outbox_count(db) == 1


def test_one_event_fans_out_once_whoever_races(db: Database, clock: UTCClock) -> None:
    _book(db)
    a, b = _dispatcher(db, clock, name="A"), _dispatcher(db, clock, name="B")
    with db.session() as s:
        assert a._fan_out_one(s, 1) is True
    with db.session() as s:
        assert b._fan_out_one(s, 1) is False
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DeliveryRow)) == 1


def test_two_dispatcher_threads_deliver_each_event_exactly_once(
    db: Database, clock: UTCClock
) -> None:
    with db.session() as s:
        for i in range(300):
            payload = {
                "appointment_id": i,
                "start_iso": SUNDAY_9,
                "service": "swedish",
                "customer_name": "דני",
                "customer_phone": f"+97250{i:07d}",
                "business_id": "demo-spa",
                "call_sid": None,
            }
            s.add(EventRow(type="appointment.created", business_id="demo-spa",
                           payload=json.dumps(payload)))  # fmt: skip
    outbox = OutboxMessenger(db)

    class Counting:
        name = "outbox"
        calls = 0
        lock = threading.Lock()

        def send(self, message: OutgoingMessage) -> str:
            with self.lock:
                Counting.calls += 1
            return outbox.send(message)

    messenger = Counting()
    workers = [
        Dispatcher(FlowEngine(db, messenger=messenger), name=n, now=clock) for n in ("A", "B")
    ]
    threads = [threading.Thread(target=w.run_once) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _outbox_count(db) == 300
    assert Counting.calls == 300  # not merely de-duplicated: each was sent once
    sent = list_messages(db, status="sent")
    assert len(sent) == 300 and {m["attempts"] for m in sent} == {1}


def test_outbox_messenger_never_records_a_key_twice(db: Database) -> None:
    m = OutboxMessenger(db)
    msg = OutgoingMessage("+972501234567", "שלום", "7:whatsapp_confirmation")
    assert m.send(msg) == m.send(msg)
    assert _outbox_count(db) == 1


# -- rules ---------------------------------------------------------------------------------


def test_rules_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "flows.yaml"
    bad.write_text(
        "defaults:\n  handlers:\n    appointment.created: [sms_confirmation]\n", encoding="utf-8"
    )
    with pytest.raises(RulesError, match=r"flows.yaml: defaults.handlers: .*sms_confirmation"):
        load_rules(bad)
    bad.write_text("defaults:\n  templates:\n    confirmation: 'תור ב-{when}'\n", "utf-8")
    with pytest.raises(RulesError, match=r"defaults.templates: .*when"):
        load_rules(bad)
    bad.write_text("businesses:\n  demo-spa:\n    summary_to: 'not a phone'\n", "utf-8")
    with pytest.raises(RulesError, match=r"businesses.demo-spa.summary_to"):
        load_rules(bad)


def test_a_rules_file_merges_over_the_shipped_one(tmp_path: Path) -> None:
    own = tmp_path / "flows.yaml"
    own.write_text(
        "defaults:\n  templates:\n    confirmation: 'תור ל{date} {hh:mm}'\n"
        "businesses:\n  demo-clinic: {enabled: false}\n",
        encoding="utf-8",
    )
    rules = load_rules(own)
    spa = rules.for_business("demo-spa")
    assert spa.templates["confirmation"] == "תור ל{date} {hh:mm}"
    assert spa.templates["summary"]  # kept from the shipped file
    assert rules.handlers_for("call.ended", "demo-spa") == ["call_summary"]
    assert rules.handlers_for("appointment.created", "demo-clinic") == []


# -- the agent promises only what the flows will do -----------------------------------------


@pytest.mark.parametrize("confirms", [True, False])
def test_agent_promises_a_confirmation_only_when_flows_send_one(db: Database, confirms) -> None:
    now = datetime.fromisoformat("2026-11-19T10:00:00+02:00")
    session = SimpleNamespace(caller_number="+972541112222")
    tools = BookingTools(
        db, "demo-spa", lambda: now, call_sid="CAx", session=session, confirms_bookings=confirms
    )
    conv = Conversation(call_sid="CAx", business_id="demo-spa", now=now,
                        caller_number="+972541112222")  # fmt: skip
    agent = OfflineAgent()
    reply = agent.respond(TurnInput("speech", "תקבע לי מחר ב-12 שוודי, השם דני"), conv, tools)
    assert "קבעתי" in reply.text
    assert ("וואטסאפ" in reply.text) is confirms


def test_call_ended_from_the_real_writer_is_summarised_once(db: Database, clock: UTCClock) -> None:
    """The `call.ended` contract end to end: the one writer (store/call_end.py), written
    twice (two endings racing), is summarised once."""
    from voicectl.store.call_end import write_call_ended

    res = _book(db, phone="0501234567")
    with db.session() as s:
        s.add(CallRow(call_sid="CA1", business_id="demo-spa", caller_number="+972501234567"))
        s.flush()
        s.add(TurnRow(call_sid="CA1", index=1, kind="speech", user_text="תור ליום ראשון ב-9"))
    assert write_call_ended(db, "CA1", outcome="completed", ended_by="stop") is True
    assert write_call_ended(db, "CA1", outcome="completed", ended_by="status_callback") is False
    _dispatcher(db, clock).run_once()
    by_handler = {m["handler"]: m for m in list_messages(db)}
    assert by_handler["call_summary"]["status"] == "done"
    assert by_handler["whatsapp_confirmation"]["status"] == "sent"
    with db.session() as s:
        summary = s.get(CallRow, "CA1").summary
    assert summary.startswith("שיחה מ-+972501234567")
    assert "יום ראשון, 22 בנובמבר ב-09:00, על שם דני, טלפון +972501234567" in summary
    assert res["appointment_id"] == 1


def test_number_typed_after_a_phoneless_booking_brings_the_confirmation(
    db: Database, clock: UTCClock
) -> None:
    """The offline agent books without a phone, offers the WhatsApp confirmation, the
    caller types a number (DTMF): `attach_phone` writes `appointment.phone_attached` in
    the same transaction, and the flows send the confirmation to that number."""
    now = datetime.fromisoformat("2026-11-19T10:00:00+02:00")
    session = SimpleNamespace(caller_number=None)
    tools = BookingTools(db, "demo-spa", lambda: now, call_sid="CAy", session=session)
    conv = Conversation(call_sid="CAy", business_id="demo-spa", now=now, caller_number=None)
    agent = OfflineAgent()
    booked = agent.respond(TurnInput("speech", "תקבע לי מחר ב-12 שוודי, השם דני"), conv, tools)
    assert booked.wants_dtmf and "וואטסאפ" in booked.text
    conv.turn_index += 1
    session.caller_number = conv.caller_number = "+972501234567"
    typed = agent.respond(TurnInput("dtmf_phone", "+972501234567"), conv, tools)
    assert [c.name for c in typed.tool_calls] == ["attach_phone"]
    _dispatcher(db, clock).run_once()
    assert [(m["event"], m["status"], m["to"]) for m in list_messages(db)] == [
        ("appointment.created", "skipped", None),
        ("appointment.phone_attached", "sent", "+972501234567"),
    ]
    assert "ליום שישי, 20 בנובמבר ב-12:00 בספא דמו" in list_messages(db, status="sent")[0]["text"]
