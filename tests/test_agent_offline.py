"""Multi-turn dialogues of the offline Hebrew agent against the real BookingTools on SQLite.

Clocks: Thursday 2026-11-19 10:00 (tomorrow = Friday, open 09-14; Saturday closed) and
Sunday 2026-11-22 10:00 (Asia/Jerusalem, +02:00).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from voicectl.agent.base import AgentReply, Conversation, TurnInput
from voicectl.agent.offline import OfflineAgent
from voicectl.booking.policy import seed_policies
from voicectl.booking.tools import BookingTools
from voicectl.store.db import Database

THURSDAY = "2026-11-19T10:00:00+02:00"
SUNDAY = "2026-11-22T10:00:00+02:00"


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "t.db")
    seed_policies(database)
    return database


@dataclass
class Call:
    """One simulated call: the agent, its conversation and the tools, turn by turn."""

    db: Database
    business: str = "demo-spa"
    now: str = THURSDAY
    caller: str | None = None
    tools: Any = None
    agent: OfflineAgent = field(default_factory=OfflineAgent)
    replies: list[AgentReply] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.session = SimpleNamespace(caller_number=self.caller)
        now = datetime.fromisoformat(self.now)
        if self.tools is None:
            self.tools = BookingTools(
                self.db, self.business, lambda: now, call_sid="CAtest", session=self.session
            )
        self.conv = Conversation(
            call_sid="CAtest", business_id=self.business, now=now, caller_number=self.caller
        )

    def turn(self, kind: str, text: str = "") -> AgentReply:
        if kind == "dtmf_phone":  # the call session stores the number before the turn
            self.session.caller_number = text
            self.conv.caller_number = text
        reply = self.agent.respond(TurnInput(kind, text), self.conv, self.tools)  # type: ignore[arg-type]
        self.conv.turn_index += 1
        self.replies.append(reply)
        return reply

    def greet(self) -> AgentReply:
        return self.turn("greeting")

    def say(self, text: str) -> AgentReply:
        return self.turn("speech", text)

    def tool_names(self) -> list[str]:
        return [c.name for r in self.replies for c in r.tool_calls]

    def appointments(self) -> list[dict]:
        return self.tools.list_appointments()


def _call(db: Database, **kw: Any) -> Call:
    c = Call(db=db, **kw)
    c.greet()
    return c


def _words(text: str) -> int:
    return len(text.split())


# -- greeting --------------------------------------------------------------------------


def test_greets_once_names_business_and_never_again(db: Database) -> None:
    c = Call(db=db)
    g = c.greet()
    assert "ספא דמו" in g.text and "שלום" in g.text
    assert _words(g.text) <= 24
    assert not g.tool_calls and not g.end_call
    for text in ["שלום", "היי", "אפשר לקבוע תור?"]:
        assert "שלום" not in c.say(text).text
    again = c.greet()  # a stray second greeting turn does not greet again
    assert "שלום" not in again.text and "הגעתם" not in again.text


def test_state_is_json_serialisable(db: Database) -> None:
    c = _call(db)
    for line in ["שוודי מחר ב-12:15", "הראשונה", "השם דני"]:
        c.say(line)
    c.turn("dtmf_phone", "+972501234567")
    json.dumps(c.conv.state)


def test_history_gets_user_and_assistant_every_turn(db: Database) -> None:
    c = _call(db)
    c.say("שוודי מחר")
    roles = [m.role for m in c.conv.history]
    assert roles[0] == "assistant"  # the greeting
    assert ["user", "tool", "assistant"] == roles[1:4]
    assert c.conv.history[1].content == "שוודי מחר"
    assert c.conv.history[-1].content == c.replies[-1].text


# -- the seed acceptance sentence ------------------------------------------------------


@pytest.mark.parametrize(
    "sentence", ["תקבע לי מחר ב-12 שוודי, השם דני", "תקבע לי מחר ב-12 שוודי שעה. דני."]
)
def test_one_shot_booking_seed_sentence(db: Database, sentence: str) -> None:
    c = _call(db)
    r = c.say(sentence)
    assert [t.name for t in r.tool_calls] == ["find_slots", "create_appointment"]
    create = r.tool_calls[1]
    assert create.result["ok"] is True
    assert create.args.get("customer_phone") is None
    assert create.latency_ms >= 0
    (appt,) = c.appointments()
    assert appt["start_iso"].startswith("2026-11-20T12:00")
    assert appt["service"] == "swedish"
    assert appt["customer_name"] == "דני"
    assert appt["customer_phone"] is None
    assert "קבעתי" in r.text and "מחר" in r.text and "12:00" in r.text
    assert r.wants_dtmf  # WhatsApp confirmation offer by keypad (seed 001 item 2)
    assert "סולמית" in r.text
    assert _words(r.text) <= 24
    bye = c.say("לא, תודה")
    assert bye.end_call and not bye.tool_calls


def test_one_shot_on_sunday_books_monday(db: Database) -> None:
    c = _call(db, now=SUNDAY)
    r = c.say("תקבע לי מחר ב-12 שוודי, השם דני")
    assert c.tool_names() == ["find_slots", "create_appointment"]
    assert c.appointments()[0]["start_iso"].startswith("2026-11-23T12:00")
    assert "קבעתי" in r.text


# -- slot filling in different orders --------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "start", "service", "name"),
    [
        (
            ["אפשר לקבוע תור?", "שוודי", "מחר", "ב-11", "דני כהן"],
            "2026-11-20T11:00",
            "swedish",
            "דני כהן",
        ),
        (
            ["קוראים לי יעל", "רקמות עמוקות", "ביום ראשון ב-10"],
            "2026-11-22T10:00",
            "deep_tissue",
            "יעל",
        ),
        (
            ["יש לכם מקום ביום ראשון?", "בעשר", "ספורט", "אני משה"],
            "2026-11-22T10:00",
            "sports",
            "משה",
        ),
        (
            ["מה יש ביום ראשון?", "הראשונה", "רפלקסולוגיה", "על שם גלית"],
            "2026-11-22T09:00",
            "reflexology",
            "גלית",
        ),
        (
            ["אני רוצה לקבוע עיסוי", "שוודי ביום שני", "12:30", "זה על שם אבי"],
            "2026-11-23T12:30",
            "swedish",
            "אבי",
        ),
        (
            ["שלום, מדברת מיכל, רציתי לקבוע עיסוי ספורט", "מחר בעשר"],
            "2026-11-20T10:00",
            "sports",
            "מיכל",
        ),
    ],
)
def test_multi_turn_slot_filling(
    db: Database, lines: list[str], start: str, service: str, name: str
) -> None:
    c = _call(db)
    for line in lines:
        c.say(line)
    (appt,) = c.appointments()
    assert appt["start_iso"].startswith(start)
    assert appt["service"] == service
    assert appt["customer_name"] == name
    names = c.tool_names()
    assert names.index("find_slots") < names.index("create_appointment")
    assert "קבעתי" in c.replies[-1].text


def test_nothing_said_is_asked_again(db: Database) -> None:
    c = _call(db)
    r = c.say("אני רוצה שוודי על שם רון")
    assert "טיפול" not in r.text and "שם" not in r.text  # asks only for the day/time
    r = c.say("מחר")
    assert "שם" not in r.text and "טיפול" not in r.text
    r = c.say("ב-10")
    assert "קבעתי" in r.text


def test_asks_for_service_listing_them(db: Database) -> None:
    c = _call(db)
    r = c.say("אני רוצה לקבוע תור למחר ב-10")
    assert "שוודי" in r.text and "רפלקסולוגיה" in r.text
    assert not r.tool_calls
    r = c.say("שוודי")
    assert "שם" in r.text


# -- corrections -----------------------------------------------------------------------


def test_correction_changes_only_the_day(db: Database) -> None:
    c = _call(db)
    c.say("שוודי מחר ב-12")
    r = c.say("לא, ביום שלישי")
    assert "שלישי" in r.text and "12:00" in r.text
    c.say("השם דני")
    assert c.appointments()[0]["start_iso"].startswith("2026-11-24T12:00")


def test_follow_up_other_day_keeps_time(db: Database) -> None:
    c = _call(db)
    c.say("שוודי מחר ב-12:30")
    c.say("ומה עם יום ראשון?")
    c.say("שמי אורי")
    assert c.appointments()[0]["start_iso"].startswith("2026-11-22T12:30")


def test_follow_up_time_correction(db: Database) -> None:
    c = _call(db)
    c.say("רקמות עמוק ביום ראשון ב-12")
    r = c.say("רגע, בעצם בשתיים וחצי")
    # 14:30 was inferred: said in words, with hebrew.calendar.day_period's part of day
    assert "בשתיים וחצי בצהריים" in r.text
    c.say("השם מיכל")
    appt = c.appointments()[0]
    assert appt["start_iso"].startswith("2026-11-22T14:30")
    assert appt["service"] == "deep_tissue"


# -- tool suggestions and alternatives -------------------------------------------------


def test_off_grid_then_suggestion_accepted(db: Database) -> None:
    c = _call(db)
    r = c.say("שוודי מחר ב-12:15 על שם דני")
    assert "12:00" in r.text and "12:30" in r.text
    # With the name known the booking tool judges the start and suggests the times.
    assert [(t.name, t.result.get("error")) for t in r.tool_calls] == [
        ("find_slots", None),
        ("create_appointment", "off_grid"),
    ]
    r = c.say("הראשונה")
    assert "קבעתי" in r.text
    assert c.appointments()[0]["start_iso"].startswith("2026-11-20T12:00")


def test_closed_saturday_alternative_accepted(db: Database) -> None:
    c = _call(db)
    r = c.say("אני רוצה שוודי ביום שבת בעשר, השם רוני")
    assert r.tool_calls and r.tool_calls[0].name == "find_slots"
    assert "סגורים" in r.text and "ראשון" in r.text
    assert "10:00" in r.text  # the time asked for, on the next open day
    r = c.say("כן")
    assert "קבעתי" in r.text
    assert c.appointments()[0]["start_iso"].startswith("2026-11-22T10:00")


def test_too_soon_offers_later_times(db: Database) -> None:
    c = _call(db)
    r = c.say("תקבע לי היום ב-10:30 רפלקסולוגיה, השם אבי")
    assert "11:00" in r.text
    assert not c.appointments()
    r = c.say("ב-11:30")
    assert "קבעתי" in r.text
    assert c.appointments()[0]["start_iso"].startswith("2026-11-19T11:30")


def test_too_soon_judged_by_the_tool_says_the_notice(db: Database) -> None:
    c = _call(db)
    r = c.say("השם שלי אבי, יש מצב להיכנס היום בעשר וחצי לעיסוי רקמות עמוק?")
    assert [(t.name, t.result.get("error")) for t in r.tool_calls] == [
        ("find_slots", None),
        ("create_appointment", "too_soon"),
    ]
    assert "שעה מראש" in r.text and "11:00" in r.text and "11:30" in r.text
    r = c.say("אוקיי, אז באחת עשרה")
    assert "קבעתי" in r.text
    assert c.appointments()[0]["start_iso"].startswith("2026-11-19T11:00")


def test_too_soon_without_name_is_explained_without_booking_attempt(db: Database) -> None:
    c = _call(db)
    r = c.say("יש מקום היום בעשר וחצי לשוודי?")
    assert [t.name for t in r.tool_calls] == ["find_slots"]  # no name: no create yet
    assert "שעה מראש" in r.text and "11:00" in r.text


def test_closed_day_offers_the_part_of_day_asked_for(db: Database) -> None:
    c = _call(db)
    r = c.say("אני רוצה רפלקסולוגיה לשבת בערב, על שם נועה")
    assert "סגורים" in r.text and "ראשון" in r.text and "17:00" in r.text
    r = c.say("כן, ראשון מתאים לי")
    assert "קבעתי" in r.text
    assert c.appointments()[0]["start_iso"].startswith("2026-11-22T17:00")


def test_off_grid_and_too_soon_says_too_soon(db: Database) -> None:
    c = _call(db)
    r = c.say("אני רוצה לבוא היום בעשר ורבע לרפלקסולוגיה, אבי כהן")
    assert r.tool_calls[-1].result.get("error") == "off_grid"  # the tool checks the grid first
    assert "שעה מראש" in r.text and "11:00" in r.text


def test_now_with_a_time_means_today(db: Database) -> None:
    c = _call(db)
    r = c.say("יש משהו עכשיו באחת עשרה וחצי? רקמות עמוקות, על שם אבי")
    assert "קבעתי" in r.text and "היום" in r.text
    assert c.appointments()[0]["start_iso"].startswith("2026-11-19T11:30")


def test_other_time_on_the_offered_alternative_day(db: Database) -> None:
    c = _call(db)
    r = c.say("אני רוצה לבוא בשבת, רפלקסולוגיה, אני רון")
    assert "סגורים" in r.text and "ראשון" in r.text and "9:00" in r.text
    r = c.say("כן, בעשר זה טוב")  # Sunday (offered) at ten, not Saturday at ten
    assert "קבעתי" in r.text and "ראשון" in r.text
    assert c.appointments()[0]["start_iso"].startswith("2026-11-22T10:00")


def test_suggestions_on_two_days_name_each_day(db: Database) -> None:
    # Friday (tomorrow) 09:00-13:00 booked: 13:00 is its only free Swedish start, the next
    # nearest to 12:10 is today (Thursday) 19:00.
    for hhmm in ("9:00", "10:00", "11:00", "12:00"):
        _call(db).say(f"שוודי מחר ב-{hhmm} על שם דני")
    c = _call(db)
    r = c.say("שוודי מחר ב-12:10 על שם רון")
    assert r.tool_calls[-1].result.get("error") == "off_grid"
    assert r.text.endswith("אפשר היום ב-19:00 או מחר ב-13:00?")
    r = c.say("מחר באחת")
    assert "קבעתי" in r.text
    assert any(
        a["start_iso"].startswith("2026-11-20T13:00") and a["customer_name"] == "רון"
        for a in c.appointments()
    )


def test_slot_taken_then_pick_by_hour(db: Database) -> None:
    _call(db).say("שוודי מחר ב-12 על שם דני")
    c = _call(db)
    r = c.say("שוודי מחר ב-12 על שם רון")
    assert "לא פנויה" in r.text and "13:00" in r.text
    r = c.say("ב-13")
    assert "קבעתי" in r.text
    starts = sorted(a["start_iso"][:16] for a in c.appointments())
    assert starts == ["2026-11-20T12:00", "2026-11-20T13:00"]


def test_outside_hours_says_hours_and_offers(db: Database) -> None:
    c = _call(db)
    r = c.say("אני רוצה לקבוע עיסוי שוודי מחר בשלוש")
    assert "14:00" in r.text  # Friday closes at 14:00
    assert "?" in r.text
    r = c.say("אחת וחצי")  # 13:30 + 60 min ends after closing -> offered again, no booking
    assert not c.appointments() and "13:00" in r.text
    c.say("באחת")
    r = c.say("השם עדי")
    assert "קבעתי" in r.text
    assert c.appointments()[0]["start_iso"].startswith("2026-11-20T13:00")


def test_create_error_suggestions_are_offered(db: Database) -> None:
    """A booking race: the slot goes between find_slots and create_appointment."""
    real = BookingTools(db, "demo-spa", lambda: datetime.fromisoformat(THURSDAY))
    thief = _call(db)

    class Racy:
        policy = real.policy

        def find_slots(self, *a: Any, **k: Any) -> dict:
            res = real.find_slots(*a, **k)
            if not thief.appointments():
                thief.say("שוודי מחר ב-12 על שם גנב")
            return res

        def create_appointment(self, *a: Any, **k: Any) -> dict:
            return real.create_appointment(*a, **k)

    c = _call(db, tools=Racy())
    r = c.say("שוודי מחר ב-12 על שם דני")
    assert r.tool_calls[-1].result["error"] == "slot_taken"
    assert "לא פנויה" in r.text
    r = c.say("הראשונה")
    assert "קבעתי" in r.text


# -- inferred time confirmation --------------------------------------------------------


def test_inferred_time_without_name_said_in_words_with_the_name_question(db: Database) -> None:
    c = _call(db)
    r = c.say("אני רוצה עיסוי שוודי ביום ראשון בשלוש")
    # The inferred time is said in words and the name asked in the same turn.
    assert "בשלוש אחר הצהריים" in r.text and "שם" in r.text
    assert not c.appointments()
    r = c.say("יאללה")  # a yes without the name: ask the name only
    assert r.text == "על איזה שם לרשום?"
    r = c.say("שירה")
    assert "קבעתי" in r.text
    assert c.appointments()[0]["start_iso"].startswith("2026-11-22T15:00")


def test_inferred_time_without_name_refused_asks_the_time(db: Database) -> None:
    c = _call(db)
    c.say("אני רוצה עיסוי שוודי ביום ראשון בשלוש")
    r = c.say("לא, בבוקר")
    assert "9:00" in r.text and "?" in r.text and not c.appointments()
    assert "15:00" not in r.text and "שלוש" not in r.text


def test_inferred_time_with_name_books_after_yes(db: Database) -> None:
    c = _call(db)
    c.say("שוודי ביום ראשון בשלוש על שם רון")
    r = c.say("מאשר")
    assert "קבעתי" in r.text
    assert [t.name for t in r.tool_calls] == ["find_slots", "create_appointment"]


def test_inferred_time_rejected_asks_time(db: Database) -> None:
    c = _call(db)
    c.say("שוודי ביום ראשון בשלוש על שם רון")
    r = c.say("לא")
    assert "שעה" in r.text and not c.appointments()
    c.say("ב-17:00")
    assert c.appointments()[0]["start_iso"].startswith("2026-11-22T17:00")


def test_ambiguous_alternatives_and_range(db: Database) -> None:
    c = _call(db)
    r = c.say("שוודי ביום ראשון בין ארבע לשש")
    assert "16:00" in r.text
    c.say("השנייה")
    c.say("השם ליאור")
    assert c.appointments()[0]["start_iso"].startswith("2026-11-22T16:30")


# -- phone: need_phone / DTMF / caller id / WhatsApp -----------------------------------


def test_need_phone_then_dtmf_books_with_that_phone(db: Database) -> None:
    c = _call(db, business="demo-clinic")
    r = c.say("תקבע לי מחר ב-12 שוודי, השם דני")
    assert r.tool_calls[-1].result["error"] == "need_phone"
    assert r.wants_dtmf
    assert r.text == "כדי לקבוע אני צריכה מספר טלפון. הקלידו את המספר וסיימו בסולמית."
    assert not c.appointments()
    r = c.turn("dtmf_invalid", "12")
    assert r.wants_dtmf and "לא תקין" in r.text
    r = c.turn("dtmf_phone", "+972501234567")
    assert [t.name for t in r.tool_calls][-1] == "create_appointment"
    assert r.tool_calls[-1].result["ok"] is True
    assert "קבעתי" in r.text and not r.wants_dtmf
    (appt,) = c.appointments()
    assert appt["customer_phone"] == "+972501234567"
    assert appt["start_iso"].startswith("2026-11-20T12:00")


def test_need_phone_speech_is_redirected_to_keypad(db: Database) -> None:
    c = _call(db, business="demo-clinic")
    c.say("שוודי מחר ב-12 על שם רון")
    r = c.say("אפס חמש אפס אחת שתיים שלוש")
    assert r.wants_dtmf and "להקליד" in r.text
    r = c.say("אין לי")
    assert r.wants_dtmf
    assert not c.appointments()


def test_caller_id_used_when_business_requires_phone(db: Database) -> None:
    c = _call(db, business="demo-clinic", caller="+972541112222")
    r = c.say("תקבע לי מחר ב-12 שוודי, השם דני")
    assert c.tool_names() == ["find_slots", "create_appointment"]
    assert not r.wants_dtmf
    assert "קבעתי" in r.text and "וואטסאפ" in r.text
    assert c.appointments()[0]["customer_phone"] == "+972541112222"


def test_whatsapp_phone_attached_after_booking(db: Database) -> None:
    c = _call(db)
    r = c.say("תקבע לי מחר ב-12 שוודי, השם דני")
    assert r.wants_dtmf
    r = c.turn("dtmf_phone", "+972501234567")
    assert [t.name for t in r.tool_calls] == ["attach_phone"]
    assert r.tool_calls[0].result["ok"] is True
    assert c.appointments()[0]["customer_phone"] == "+972501234567"
    r = c.say("לא, זה הכל")
    assert r.end_call


def test_whatsapp_declined_closes_politely(db: Database) -> None:
    c = _call(db)
    c.say("תקבע לי מחר ב-12 שוודי, השם דני")
    r = c.say("לא צריך, תודה")
    assert r.end_call and r.text


# -- validation_error: one clarification, then retry -----------------------------------


def test_validation_error_asks_name_and_retries(db: Database) -> None:
    real = BookingTools(db, "demo-spa", lambda: datetime.fromisoformat(THURSDAY))
    calls: list[str] = []

    class Flaky:
        policy = real.policy

        def find_slots(self, *a: Any, **k: Any) -> dict:
            return real.find_slots(*a, **k)

        def create_appointment(self, **k: Any) -> dict:
            calls.append(k["customer_name"])
            if len(calls) == 1:
                return {
                    "ok": False,
                    "error": "validation_error",
                    "message": "customer_name is empty",
                }
            return real.create_appointment(**k)

    c = _call(db, tools=Flaky())
    r = c.say("תקבע לי מחר ב-12 שוודי, השם דני")
    assert "שם" in r.text and "?" in r.text
    assert _words(r.text) <= 12
    r = c.say("דניאל")
    assert "קבעתי" in r.text
    assert calls == ["דני", "דניאל"]


@pytest.mark.parametrize("error", ["hold_lost", "confirm_failed"])
def test_a_booking_that_was_not_saved_is_said_so(db: Database, error: str) -> None:
    """A held booking whose confirmation failed: the caller hears it was not saved,
    is not told it is booked, and is not asked again for what they already said."""
    real = BookingTools(db, "demo-spa", lambda: datetime.fromisoformat(THURSDAY))

    class Unconfirmed:
        policy = real.policy

        def find_slots(self, *a: Any, **k: Any) -> dict:
            return real.find_slots(*a, **k)

        def create_appointment(self, **k: Any) -> dict:
            return {"ok": False, "error": error, "message": "hold 7 not confirmed"}

    c = _call(db, tools=Unconfirmed())
    r = c.say("תקבע לי מחר ב-12 שוודי, השם דני")
    assert r.tool_calls[-1].name == "create_appointment"
    assert "לא נשמר" in r.text
    assert "קבעתי" not in r.text and "שם" not in r.text
    assert not r.wants_dtmf


def test_tool_exception_never_escapes(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        policy = BookingTools(db, "demo-spa", lambda: datetime.fromisoformat(THURSDAY)).policy

        def find_slots(self, *a: Any, **k: Any) -> dict:
            raise ValueError("phone number must start with + or 0")

        def create_appointment(self, *a: Any, **k: Any) -> dict:
            raise ValueError("boom")

    c = _call(db, tools=Broken())
    with caplog.at_level(logging.WARNING, logger="voicectl"):
        r = c.say("תקבע לי מחר ב-12 שוודי, השם דני")
    assert r.text
    assert r.tool_calls and r.tool_calls[0].result["ok"] is False
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


def test_respond_survives_missing_tools(db: Database) -> None:
    agent = OfflineAgent()
    conv = Conversation(
        call_sid="CAx", business_id="demo-spa", now=datetime.fromisoformat(THURSDAY)
    )
    for turn in [
        TurnInput("greeting"),
        TurnInput("speech", "שוודי מחר ב-12"),
        TurnInput("dtmf_phone", "+972501234567"),
        TurnInput("silence"),
    ]:
        r = agent.respond(turn, conv, None)
        assert isinstance(r, AgentReply) and r.text


# -- questions, unclear input, cancel, goodbyes, silence -------------------------------


@pytest.mark.parametrize(
    ("question", "expect"),
    [
        ("מה שעות הפתיחה?", "20:00"),
        ("אתם פתוחים בשישי?", "14:00"),
        ("אתם פתוחים בשבת?", "סגורים"),
        ("אילו טיפולים יש?", "רפלקסולוגיה"),
        ("כמה עולה עיסוי?", "מחירים"),
        ("כמה זמן לוקח עיסוי ספורט?", "45"),
        ("כמה זמן מראש צריך לקבוע?", "30 ימים"),
    ],
)
def test_policy_questions_answered_without_booking(
    db: Database, question: str, expect: str
) -> None:
    c = _call(db)
    r = c.say(question)
    assert expect in r.text
    assert not r.tool_calls and not r.end_call
    assert not c.appointments()
    assert _words(r.text) <= 24


def test_hours_and_services_questions_then_polite_close(db: Database) -> None:
    c = _call(db)
    r = c.say("שלום, מה השעות שלכם?")
    assert "20:00" in r.text and "14:00" in r.text and not r.tool_calls
    r = c.say("ומה יש לכם, איזה טיפולים?")
    assert "רפלקסולוגיה" in r.text and r.text.count("שוודי") == 1
    r = c.say("אוקיי, תודה, אני אחזור אליכם")
    assert r.end_call and not c.appointments()


def test_services_list_is_not_said_twice_when_asking_the_service(db: Database) -> None:
    c = _call(db)
    r = c.say("אני רוצה לקבוע תור למחר בעשר, איזה טיפולים יש?")
    assert r.text.count("רפלקסולוגיה") == 1 and r.text.endswith("איזה טיפול תרצו?")


def test_follow_up_question_word_is_not_a_name(db: Database) -> None:
    c = _call(db)
    c.say("שוודי ביום ראשון בשתים עשרה")
    r = c.say("ואם בשלוש?")  # asked while the bot waits for the name
    assert not any(t.name == "create_appointment" for t in r.tool_calls)
    assert "שלוש" in r.text and "שם" in r.text
    c.say("דני")
    appt = c.appointments()[0]
    assert appt["customer_name"] == "דני" and appt["start_iso"].startswith("2026-11-22T15:00")


def test_question_mid_booking_then_continue(db: Database) -> None:
    c = _call(db)
    c.say("אני רוצה לקבוע שוודי")
    r = c.say("רגע, עד מתי אתם פתוחים מחר?")
    assert "14:00" in r.text
    c.say("אז מחר ב-11")
    c.say("השם טל")
    assert c.appointments()[0]["start_iso"].startswith("2026-11-20T11:00")


def test_unclear_input_gets_one_short_question(db: Database) -> None:
    c = _call(db)
    r = c.say("בננה כחולה")
    assert "לא הבנתי" in r.text and "לקבוע" in r.text
    assert not r.tool_calls and not r.end_call
    c.say("שוודי")
    r = c.say("אבטיח")
    assert "לא הבנתי" in r.text and "יום" in r.text  # re-asks the pending question


def test_phone_opener_is_not_a_yes_and_vague_request_gets_a_question(db: Database) -> None:
    c = _call(db)
    r = c.say("כן שלום, רציתי לברר משהו לגבי אמא שלי")
    assert r.text == "בשמחה, מה תרצו לברר?"
    assert not r.tool_calls and not c.conv.state["offline"]["active"]
    r = c.say("אהה... כן... רגע, זה בקשר ל...")
    assert "לברר" in r.text and not c.conv.state["offline"]["active"]
    r = c.say("היא צריכה עיסוי כפות רגליים ביום ראשון באחת עשרה, על שם רחל אברהם")
    assert "קבעתי" in r.text
    (appt,) = c.appointments()
    assert appt["service"] == "reflexology" and appt["customer_name"] == "רחל אברהם"


@pytest.mark.parametrize("bye", ["תודה, ביי", "זהו, תודה", "לא, זה הכל", "להתראות"])
def test_goodbye_ends_call(db: Database, bye: str) -> None:
    c = _call(db)
    c.say("מה שעות הפתיחה?")
    r = c.say(bye)
    assert r.end_call and r.text and not r.tool_calls


def test_cancel_in_progress_and_existing(db: Database) -> None:
    c = _call(db)
    c.say("שוודי מחר")
    r = c.say("תבטל")
    assert "לא קבעתי" in r.text
    assert not c.appointments()
    c2 = _call(db)
    r = c2.say("אני רוצה לבטל תור")
    assert "אי אפשר" in r.text and not r.end_call


def test_silence_nudges_then_ends(db: Database) -> None:
    c = _call(db)
    r = c.turn("silence")
    assert r.text == "אתם עדיין שם?" and not r.end_call
    r = c.turn("silence")
    assert r.end_call


def test_silence_is_reset_by_speech(db: Database) -> None:
    c = _call(db)
    c.turn("silence")
    c.say("שוודי")
    assert not c.turn("silence").end_call


# -- any time / earliest / part of day -------------------------------------------------


def test_any_time_offers_first_slot(db: Database) -> None:
    c = _call(db)
    r = c.say("שוודי מחר, לא משנה לי השעה")
    assert "9:00" in r.text
    c.say("כן")
    c.say("השם יוסי")
    assert c.appointments()[0]["start_iso"].startswith("2026-11-20T09:00")


def test_earliest_without_day(db: Database) -> None:
    c = _call(db)
    r = c.say("רפלקסולוגיה, הכי מוקדם שיש")
    assert "11:00" in r.text  # today 10:00 + 60 min notice
    c.say("מתאים")
    c.say("שמי נועה")
    assert c.appointments()[0]["start_iso"].startswith("2026-11-19T11:00")


def test_part_of_day_offers_in_that_part(db: Database) -> None:
    c = _call(db)
    r = c.say("אפשר תור לעיסוי שוודי מחר אחרי הצהריים?")
    # Friday closes at 14:00: nothing in the afternoon; say so and offer the nearest
    assert "אין תורים" in r.text and "13:00" in r.text and "9:00" not in r.text


def test_afternoon_today_offers_only_afternoon_slots(db: Database) -> None:
    c = _call(db)
    r = c.say("יש לכם תור לעיסוי רקמות עמוק ביום חמישי אחר הצהריים")
    assert "14:00" in r.text and "12:00" not in r.text and "13:00" not in r.text
    assert "אין" not in r.text


@pytest.mark.parametrize(
    ("line", "lo", "hi"),
    [
        ("שוודי מחר בבוקר", 5, 12),
        ("שוודי ביום ראשון בבוקר", 5, 12),
        ("שוודי ביום ראשון בצהריים", 12, 14),
        ("שוודי ביום ראשון אחר הצהריים", 14, 18),
        ("שוודי ביום ראשון, משהו בערב", 17, 24),
    ],
)
def test_part_of_day_slots_are_in_that_part(db: Database, line: str, lo: int, hi: int) -> None:
    c = _call(db)
    c.say(line)
    opts = [datetime.fromisoformat(o) for o in c.conv.state["offline"]["options"]]
    assert opts and all(lo <= o.hour < hi for o in opts), opts


def test_part_of_day_none_free_says_so_and_offers_nearest(db: Database) -> None:
    c = _call(db, now="2026-11-19T11:30:00+02:00")
    r = c.say("שוודי היום בבוקר")
    assert "אין תורים" in r.text and "12:30" in r.text


def test_one_hour_is_a_duration_not_one_oclock(db: Database) -> None:
    c = _call(db)
    c.say("עיסוי שוודי לשעה אחת מחר בעשר")
    c.say("שמי רונן")
    assert c.appointments()[0]["start_iso"].startswith("2026-11-20T10:00")


# -- reply length and factory ----------------------------------------------------------


def test_every_reply_is_short(db: Database) -> None:
    scripts = [
        ["אפשר לקבוע תור?", "שוודי", "מחר", "ב-11", "דני כהן", "לא, זה הכל"],
        ["מה שעות הפתיחה?", "אילו טיפולים יש?", "כמה זמן לוקח עיסוי?", "תודה"],
        ["אני רוצה שוודי ביום שבת בעשר, השם רוני", "כן"],
        ["בננה", "שוודי ביום ראשון בשלוש", "לא", "בחמש", "כן", "השם שירה"],
    ]
    for lines in scripts:
        c = Call(db=db)
        first = c.greet()
        assert _words(first.text) <= 24
        for line in lines:
            r = c.say(line)
            assert _words(r.text) <= 24, r.text
            assert r.text.count(".") + r.text.count("?") + r.text.count("!") <= 3, r.text


def test_one_agent_serves_many_calls(db: Database) -> None:
    agent = OfflineAgent()
    calls = [Call(db=db, agent=agent), Call(db=db, agent=agent)]  # type: ignore[arg-type]
    for c in calls:
        c.greet()
    calls[0].say("שוודי מחר ב-12")
    r = calls[1].say("השם דני")
    assert "קבעתי" not in r.text  # state of call 0 never leaks into call 1
    calls[0].say("השם רון")
    assert [a["customer_name"] for a in calls[0].appointments()] == ["רון"]


# -- today's weekday named on that day ---------------------------------------------------


def test_sunday_asked_on_sunday_after_a_later_day_means_next_week(db: Database) -> None:
    c = _call(db, now=SUNDAY)
    c.say("שוודי מחר")
    r = c.say("ומה עם יום ראשון?")
    assert "29 בנובמבר" in r.text and "היום" not in r.text


def test_sunday_on_sunday_is_today_while_today_has_slots(db: Database) -> None:
    c = _call(db, now=SUNDAY)
    r = c.say("שוודי ביום ראשון")
    assert "היום" in r.text


def test_sunday_on_sunday_with_no_slot_left_today_means_next_week(db: Database) -> None:
    c = _call(db, now="2026-11-22T18:50:00+02:00")
    r = c.say("שוודי ביום ראשון")
    assert "29 בנובמבר" in r.text


def test_in_half_an_hour_is_today(db: Database) -> None:
    c = _call(db)
    r = c.say("יש משהו לשוודי עוד חצי שעה?")
    assert "היום" in r.text or "11:00" in r.text  # 10:30 is inside the notice: nearest later


# -- callers who correct, negate and replace (issue 11) ----------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "במקום רקמות עמוק תן לי ספורט מחר בעשר, השם דנה",
        "במקום רקמות עמוק תני לי ספורט מחר בעשר, השם דנה",
        "לא רקמות עמוק, ספורט, מחר בעשר, השם דנה",
        "רקמות עמוק, לא סליחה, עיסוי ספורט מחר בעשר, השם דנה",
        "ובמקום שוודי אז ספורט מחר בעשר, השם דנה",
    ],
)
def test_replaced_service_is_not_booked(db: Database, line: str) -> None:
    c = _call(db)
    c.say(line)
    (appt,) = c.appointments()
    assert appt["service"] == "sports"


@pytest.mark.parametrize(
    "line",
    [
        "שוודי ביום ראשון - לא, שני, בעשר, השם דני",
        "שוודי ביום ראשון, לא סליחה, שני בעשר, השם דני",
        "שוודי בראשון, לא, בשני בעשר, השם דני",
    ],
)
def test_corrected_day_wins(db: Database, line: str) -> None:
    c = _call(db)  # Thursday: Sunday is the 22nd, Monday the 23rd
    c.say(line)
    (appt,) = c.appointments()
    assert appt["start_iso"].startswith("2026-11-23T10:00")


@pytest.mark.parametrize(
    "line", ["שוודי מחר לא בשלוש, בארבע, השם דני", "שוודי מחר בשלוש, לא סליחה, בארבע, השם דני"]
)
def test_corrected_hour_wins(db: Database, line: str) -> None:
    c = _call(db, now=SUNDAY)
    r = c.say(line)
    assert "בארבע" in r.text and "בשלוש" not in r.text  # confirms 16:00 (inferred)
    c.say("כן")
    (appt,) = c.appointments()
    assert appt["start_iso"].startswith("2026-11-23T16:00")


def test_negated_part_of_day_offers_the_other(db: Database) -> None:
    c = _call(db, now=SUNDAY)
    r = c.say("אני רוצה שוודי מחר, לא בבוקר, אחרי הצהריים")
    opts = [datetime.fromisoformat(o) for o in c.conv.state["offline"]["options"]]
    assert opts and all(o.hour >= 14 for o in opts), r.text


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("שוודי מחר בעשר, מדברת בת שבע", "בת שבע"),
        ("שוודי מחר בעשר, שמי בת שבע", "בת שבע"),
        ("שוודי מחר בעשר, קוראים לי שני", "שני"),
        ("שוודי מחר בעשר, מדבר שני לוי", "שני לוי"),
        ("מדברת בת שבע, אפשר שוודי מחר בעשר?", "בת שבע"),
    ],
)
def test_names_that_are_number_or_weekday_words(db: Database, line: str, name: str) -> None:
    c = _call(db)
    c.say(line)
    (appt,) = c.appointments()
    assert appt["customer_name"] == name
    assert appt["start_iso"].startswith("2026-11-20T10:00")


def test_weekday_after_its_date_was_offered_is_that_date(db: Database) -> None:
    c = _call(db)  # Thursday 19 November
    r = c.say("שוודי ב-30 לחודש")
    assert "30 בנובמבר" in r.text
    c.say("אז ביום שני בעשר")
    c.say("דני")
    (appt,) = c.appointments()
    assert appt["start_iso"].startswith("2026-11-30T10:00")


def test_weekday_with_next_after_an_offer_is_taken_as_said(db: Database) -> None:
    c = _call(db)
    c.say("שוודי ב-30 לחודש")
    c.say("לא, ביום שני הבא בעשר")
    c.say("דני")
    (appt,) = c.appointments()
    assert appt["start_iso"].startswith("2026-11-23T10:00")


def test_tonight_at_three_at_a_24_7_business_is_the_coming_night(db: Database) -> None:
    c = _call(db, business="demo-24-7", now="2026-11-22T23:30:00+02:00")
    c.say("אפשר לקבוע שוודי הלילה בשלוש? השם נועה")
    (appt,) = c.appointments()
    assert appt["start_iso"].startswith("2026-11-23T03:00")


@pytest.mark.parametrize("line", ["מה פנוי מחר?", "מה יש פנוי מחר?", "מה פנוי לכם מחר?"])
def test_what_is_free_tomorrow_gets_free_times(db: Database, line: str) -> None:
    c = _call(db, now=SUNDAY)
    r = c.say(line)
    assert "find_slots" in c.tool_names()
    assert "9:00" in r.text and "רפלקסולוגיה" not in r.text
