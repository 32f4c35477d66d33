"""The offline Hebrew booking agent: rule-based NLU + slot filling + the booking tools.

It is the embedded default and the fallback when an LLM agent fails, so it holds a real
booking dialogue on its own (SEEDS.md seed 000 item 4, seed 001 items 1-5, seed 002 B-C):

- greets once (turn kind "greeting"), never again (seed 001 item 4);
- fills service, date, time and name from any turn in any order, never asks again for
  what the caller already said, and lets a follow-up change only what it names;
- calls `find_slots` before saying anything about availability, then asks the name, then
  `create_appointment` (seed 002 B order); a full request in one sentence books at once;
- offers tool suggestions/alternatives in one sentence and books the one picked;
- confirms an inferred time ("בשלוש" -> 15:00) before booking;
- `need_phone` -> one short DTMF prompt (`wants_dtmf`), never asks for the phone by voice;
- after a phone-less booking offers a WhatsApp confirmation by DTMF (seed 001 item 2);
- `validation_error` -> one short clarification, then retries (seed 000 item 4);
- answers policy questions (hours, open days, services, durations; prices unknown);
- a short nudge on silence, a polite close on goodbye or repeated silence.

Per-call memory lives only in `conversation.state["offline"]` (JSON-friendly values) and
`conversation.history`; one agent instance serves every call of the process.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from voicectl.agent import nlu
from voicectl.agent import phrases as P
from voicectl.agent.base import AgentReply, Conversation, Message, ToolCallRecord, TurnInput
from voicectl.clock import Clock, MonotonicClock
from voicectl.hebrew.calendar import PART_SAID, PART_WINDOWS, WEEKDAYS
from voicectl.hebrew.vocab import has_phrase
from voicectl.hebrew.when import HoursOn, resolve_when
from voicectl.logs import get_logger, mask_phone, mask_phones_in

log = get_logger("agent")

STATE_KEY = "offline"
MAX_OFFERED = 3
"""How many times to offer when the caller names a day but no time."""
MAX_VALIDATION_RETRIES = 2
"""After this many `validation_error`s in a row the agent stops retrying the booking."""
MAX_DTMF_TRIES = 3
"""Invalid DTMF numbers before the agent gives up asking."""

# ---------------------------------------------------------------------------------------
# Date/time facts of one utterance
# ---------------------------------------------------------------------------------------


@dataclass
class When:
    """Date/time facts of one utterance, as the agent adjusts them in context.

    Attributes:
        date: the local date named, or None.
        time: the clock time named (24 h), or None.
        part: a part of the day (`voicectl.hebrew.calendar.PART_OF_DAY`) or None.
        inferred: the time was chosen by the resolver (e.g. 15:00 for "בשלוש").
        ambiguous: what the resolver could not decide (`WhenResolution.ambiguous`).
        candidates: the resolver's alternative readings.
    """

    date: date | None = None
    time: time | None = None
    part: str | None = None
    inferred: bool = False
    ambiguous: tuple[str, ...] = ()
    candidates: tuple[datetime | time, ...] = ()

    @property
    def found(self) -> bool:
        """True when a date, a time or a part of day was named."""
        return self.date is not None or self.time is not None or self.part is not None


def resolve(text: str, now: datetime, hours_on: HoursOn | None) -> When:
    """Resolve the dates/times in `text` against the business clock `now`
    (`voicectl.hebrew.when.resolve_when`, which never raises)."""
    r = resolve_when(text, now, hours_on=hours_on)
    return When(
        date=r.date,
        time=r.time,
        part=r.part_of_day,
        inferred=r.inferred,
        ambiguous=r.ambiguous,
        candidates=r.candidates,
    )


# ---------------------------------------------------------------------------------------
# Per-call state
# ---------------------------------------------------------------------------------------


def _new_state() -> dict[str, Any]:
    return {
        "greeted": False,
        "active": False,  # a booking is being arranged
        "service": None,  # service id
        "date": None,  # YYYY-MM-DD
        "time": None,  # HH:MM
        "inferred": False,  # the time was inferred and is not confirmed yet
        "part": None,
        "earliest": False,
        "latest": False,
        "name": None,
        "phone": None,  # typed by DTMF during this call (E.164)
        "pending": None,  # what the last question asked for
        "options": [],  # ISO starts offered by the last question
        "booked": None,  # {id, start_iso, service, name, phone}
        "bookings": [],
        "silence": 0,
        "dtmf_invalid": 0,
        "validation": 0,
        "unclear": 0,
        "name_tries": 0,
        "ampm": [],  # HH:MM readings of an am/pm-ambiguous hour
        "day_options": [],  # YYYY-MM-DD readings of an ambiguous "which week" day
        "time_alts": [],  # HH:MM alternatives the caller said ("בשלוש או בארבע")
    }


def _reset_booking(st: dict[str, Any], keep_name: bool = True) -> None:
    for k in ("service", "date", "time", "part"):
        st[k] = None
    st.update(
        inferred=False,
        earliest=False,
        latest=False,
        options=[],
        validation=0,
        ampm=[],
        day_options=[],
        time_alts=[],
    )
    st["active"] = False
    if not keep_name:
        st["name"] = None


@dataclass
class _Turn:
    """Everything one `respond` call works with."""

    turn: TurnInput
    conv: Conversation
    tools: Any
    policy: Any
    tz: ZoneInfo
    now: datetime
    st: dict[str, Any]
    clock: Clock
    calls: list[ToolCallRecord] = field(default_factory=list)
    wants_dtmf: bool = False
    end_call: bool = False
    slot_cache: dict[tuple[str, str | None], dict[str, Any]] = field(default_factory=dict)
    slot_changed: bool = False

    @property
    def today(self) -> date:
        return self.now.date()

    def tool(self, name: str, **args: Any) -> dict[str, Any]:
        """Call a booking tool, record it, never raise."""
        t0 = self.clock.now_ms()
        try:
            fn = getattr(self.tools, name)
            result = fn(**args)
            if not isinstance(result, dict):
                result = {"ok": False, "error": "validation_error", "message": "bad result"}
        except Exception as exc:  # noqa: BLE001 - a tool failure never drops the turn
            log.warning("tool %s raised: %s", name, str(exc)[:120])
            result = {"ok": False, "error": "validation_error", "message": str(exc)[:120]}
        latency = max(self.clock.now_ms() - t0, 0.0)
        self.calls.append(
            ToolCallRecord(name=name, args=dict(args), result=result, latency_ms=round(latency, 3))
        )
        return result

    def find_slots(self, day: date, service: str | None) -> dict[str, Any]:
        """`find_slots` for a day, called at most once per turn per (day, service)."""
        key = (day.isoformat(), service)
        if key not in self.slot_cache:
            self.slot_cache[key] = self.tool(
                "find_slots", date_iso=day.isoformat(), service=service
            )
        return self.slot_cache[key]


def _parse_iso(s: Any, tz: ZoneInfo) -> datetime | None:
    if not isinstance(s, str):
        return None
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(tz)


def _slot_starts(res: dict[str, Any], tz: ZoneInfo) -> list[datetime]:
    out = []
    for s in res.get("slots") or []:
        dt = _parse_iso(s.get("start_iso") if isinstance(s, dict) else s, tz)
        if dt is not None:
            out.append(dt)
    return sorted(out)


def _hhmm(t: time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


# ---------------------------------------------------------------------------------------
# The agent
# ---------------------------------------------------------------------------------------


class OfflineAgent:
    """The rule-based Hebrew booking agent (see the module docstring).

    Args:
        clock: a monotonic clock for tool latencies (default: the real one).
        settings: the process settings (accepted for the factory; not used).
    """

    name = "offline"

    def __init__(self, clock: Clock | None = None, settings: Any = None) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self.settings = settings

    # -- entry point ---------------------------------------------------------------------

    def respond(self, turn: TurnInput, conversation: Conversation, tools: Any) -> AgentReply:
        """Answer one turn; never raises (an internal failure -> a short apology).

        Appends the caller's turn, the tool results and the reply to
        `conversation.history`.
        """
        ctx: _Turn | None = None
        try:
            ctx = self._context(turn, conversation, tools)
            text = self._dispatch(ctx)
            reply = AgentReply(
                text=text, tool_calls=ctx.calls, wants_dtmf=ctx.wants_dtmf, end_call=ctx.end_call
            )
        except Exception:  # noqa: BLE001 - respond must never raise
            log.warning(
                "offline agent failed on turn %s of %s",
                conversation.turn_index,
                conversation.call_sid,
                exc_info=True,
            )
            reply = AgentReply(text=P.APOLOGY, tool_calls=ctx.calls if ctx else [])
            st = conversation.state.get(STATE_KEY)
            if isinstance(st, dict) and st.get("pending") in ("need_phone", "whatsapp"):
                reply.wants_dtmf = True
        try:
            self._remember(turn, conversation, reply)
        except Exception:  # noqa: BLE001
            log.warning("could not append to the history", exc_info=True)
        return reply

    def _context(self, turn: TurnInput, conv: Conversation, tools: Any) -> _Turn:
        st = conv.state.get(STATE_KEY)
        if not isinstance(st, dict):
            st = _new_state()
            conv.state[STATE_KEY] = st
        else:
            for k, v in _new_state().items():
                st.setdefault(k, v)
        policy = getattr(tools, "policy", None)
        tz = getattr(policy, "tz", None)
        if not isinstance(tz, ZoneInfo):
            tz = ZoneInfo("Asia/Jerusalem")
        now = conv.now if isinstance(conv.now, datetime) else datetime.now(tz)
        now = now.astimezone(tz) if now.tzinfo else now.replace(tzinfo=tz)
        return _Turn(
            turn=turn,
            conv=conv,
            tools=tools,
            policy=policy,
            tz=tz,
            now=now,
            st=st,
            clock=self.clock,
        )

    def _remember(self, turn: TurnInput, conv: Conversation, reply: AgentReply) -> None:
        if turn.kind == "speech":
            conv.history.append(Message("user", turn.text or ""))
        elif turn.kind == "dtmf_phone":
            conv.history.append(Message("user", f"[DTMF] {mask_phone(turn.text)}"))
        elif turn.kind in ("dtmf_timeout", "dtmf_skipped"):
            conv.history.append(Message("user", f"[DTMF] ({turn.kind})"))
        elif turn.kind == "dtmf_invalid":
            conv.history.append(Message("user", "[DTMF] (invalid number)"))
        elif turn.kind == "silence":
            conv.history.append(Message("user", "[silence]"))
        for c in reply.tool_calls:
            summary = {
                k: c.result.get(k)
                for k in ("ok", "error", "appointment_id", "start_iso", "reason")
                if k in c.result
            }
            if "slots" in c.result:
                summary["slots"] = len(c.result.get("slots") or [])
            conv.history.append(
                Message(
                    "tool",
                    mask_phones_in(json.dumps(summary, ensure_ascii=False, default=str)),
                    name=c.name,
                )
            )
        conv.history.append(Message("assistant", reply.text))

    def _other_weekday(self, c: _Turn, u: nlu.Understanding) -> bool:
        """ "ומה עם יום ראשון?" said on a Sunday: the resolver reads today (documented rule);
        it means next week's when a later date was under discussion or today has no free
        slot left."""
        if not has_phrase(u.norm, WEEKDAYS[c.today.weekday()]) or has_phrase(
            u.norm, "היום", "עכשיו", "הבוקר", "הערב", "הלילה", "השבוע", "הזה", "הזאת"
        ):
            return False
        if c.st["date"] and c.st["date"] > c.today.isoformat():
            return True
        res = c.find_slots(c.today, c.st["service"])
        return bool(res.get("ok")) and not _slot_starts(res, c.tz)

    def _dispatch(self, c: _Turn) -> str:
        kind = c.turn.kind
        if kind == "greeting":
            return self._greeting(c)
        c.st["greeted"] = True
        if kind == "silence":
            return self._silence(c)
        c.st["silence"] = 0
        if kind == "dtmf_phone":
            return self._dtmf_phone(c)
        if kind == "dtmf_invalid":
            return self._dtmf_invalid(c)
        if kind == "dtmf_timeout":  # keys stopped mid-number: one short re-prompt
            c.wants_dtmf = True
            return P.DTMF_RETRY
        if kind == "dtmf_skipped":  # no number this time: go on, it can be typed later
            c.st["pending"] = "anything_else"
            return f"{P.PHONE_LATER} {P.ANYTHING_ELSE}"
        return self._speech(c)

    # -- non-speech turns ----------------------------------------------------------------

    def _greeting(self, c: _Turn) -> str:
        if c.st["greeted"]:
            return P.HOW_CAN_I_HELP
        c.st["greeted"] = True
        name = getattr(c.policy, "name", None) or c.conv.business_id
        return P.greeting(str(name))

    def _silence(self, c: _Turn) -> str:
        st = c.st
        st["silence"] += 1
        if st["pending"] == "whatsapp":
            c.end_call = True
            st["pending"] = None
            return P.GOODBYE_NO_WHATSAPP
        if st["pending"] == "need_phone":
            if st["silence"] >= 2:
                c.end_call = True
                return P.PHONE_GAVE_UP
            c.wants_dtmf = True
            return P.TYPE_PHONE
        if st["silence"] >= 2:
            c.end_call = True
            return P.SILENCE_BYE
        return P.NUDGE

    def _dtmf_phone(self, c: _Turn) -> str:
        st = c.st
        phone = (c.turn.text or "").strip() or None
        st["phone"] = phone
        st["dtmf_invalid"] = 0
        booked = st.get("booked")
        if booked and not booked.get("phone") and phone:
            res = c.tool("attach_phone", appointment_id=booked["id"], customer_phone=phone)
            st["pending"] = "anything_else"
            if res.get("ok"):
                booked["phone"] = res.get("customer_phone") or phone
                saved = P.PHONE_SAVED if res.get("confirmation", "whatsapp") else P.PHONE_NOTED
                return f"{saved} {P.ANYTHING_ELSE}"
            return f"{P.PHONE_NOTED} {P.ANYTHING_ELSE}"
        if st["active"]:
            return self._advance(c)
        st["pending"] = None
        return f"{P.PHONE_NOTED} {P.HOW_CAN_I_HELP}"

    def _dtmf_invalid(self, c: _Turn) -> str:
        st = c.st
        st["dtmf_invalid"] += 1
        if st["dtmf_invalid"] >= MAX_DTMF_TRIES:
            c.end_call = True
            if st.get("booked"):
                return P.GOODBYE_NO_WHATSAPP
            return P.PHONE_GAVE_UP
        c.wants_dtmf = True
        return P.INVALID_PHONE

    # -- speech --------------------------------------------------------------------------

    def _services(self, c: _Turn) -> list[Any]:
        return list(getattr(c.policy, "services", ()) or ())

    def _service_obj(self, c: _Turn, sid: str | None) -> Any | None:
        for s in self._services(c):
            if getattr(s, "id", None) == sid:
                return s
        return None

    def _speech(self, c: _Turn) -> str:
        st = c.st
        text = c.turn.text or ""
        services = self._services(c)
        pending = st["pending"]
        expecting_name = pending == "name" or (pending == "confirm" and not st["name"])
        u = nlu.analyze(text, services, expecting_name=expecting_name)
        time_text = text
        if u.name:
            for w in u.name.split():
                time_text = re.sub(
                    rf"(?<![\w\u05B0-\u05C7]){re.escape(w)}(?![\w\u05B0-\u05C7])", " ", time_text
                )
        hours_on = getattr(c.policy, "hours_on", None)
        when = resolve(time_text, c.now, hours_on) if u.norm else When()
        if when.date is None and when.time is not None and has_phrase(u.norm, "עכשיו"):
            when.date = c.today  # "יש משהו עכשיו בעשר וחצי?" is today
        if u.duration_min is not None and when.time is not None and not u.clocks:
            # "לשעה אחת" read as a clock time by the resolver: it was a duration.
            when.time, when.inferred = None, False
        if when.date == c.today and when.time is None and self._other_weekday(c, u):
            when.date = c.today + timedelta(days=7)

        if not u.norm:
            return self._unclear(c)

        intents = u.intents
        questions = u.questions
        if "human" in intents:
            questions = [*questions, "human"]
        booking_words = bool(
            {"book", "availability", "earliest", "any_time", "latest", "another"} & intents
        )
        content = bool(u.service or when.found or u.name or booking_words or u.generic_service)

        # Repeat the last question ("מה?", "לא שמעתי").
        repeat = "repeat" in intents or u.norm in ("מה", "סליחה", "סליחה מה", "מה אמרת")
        if repeat and not content and not questions:
            return self._last_assistant(c) or P.HOW_CAN_I_HELP

        # Goodbyes and polite endings.
        if u.goodbye and not (u.service or when.found or booking_words or questions):
            return self._close(c)
        if u.thanks_only and (st.get("booked") or pending in ("anything_else", "whatsapp")):
            return self._close(c)
        if (
            pending in ("anything_else", "whatsapp", "offer_booking")
            and u.no
            and not content
            and not questions
        ):
            return self._close(c)

        # Waiting for a typed phone number.
        if pending == "whatsapp" and not content and not questions:
            c.wants_dtmf = True
            if u.yes or nlu.looks_like_phone(text):
                return P.TYPE_PHONE if u.yes else P.PHONE_BY_KEYPAD
            c.wants_dtmf = False
            st["pending"] = None
            return self._unclear(c)
        if pending == "need_phone" and not (u.service or when.found or questions):
            c.wants_dtmf = True
            if u.no:
                return P.NO_PHONE_NO_BOOKING
            if nlu.looks_like_phone(text):
                return P.PHONE_BY_KEYPAD
            return P.NEED_PHONE

        # A bare greeting ("שלום") - never greet back again.
        if u.greeting_only and not content and not questions:
            if pending and pending not in ("anything_else", "offer_booking"):
                again = self._repeat_question(c)
                if again:
                    return again
            return P.YES_HOW_CAN_I_HELP

        # Cancel / change requests.
        if {"cancel", "reschedule"} & intents:
            return self._cancel(c, u)

        # "רציתי לברר משהו" without saying what: ask what, keep the current question.
        if (
            "inquire" in intents
            and not content
            and not questions
            and not u.no
            and (not u.yes or pending in (None, "anything_else"))
        ):
            st["unclear"] = 0
            return P.WHAT_TO_ASK

        answers = [self._answer(c, q, when, u.service) for q in questions]
        answers = [a for a in answers if a]

        # After a booking, new booking details start a new booking only when asked for.
        if st.get("booked") and (u.service or when.found or booking_words):
            if "another" in intents or "book" in intents:
                _reset_booking(st, keep_name=False)
                st["booked"] = None
            elif not questions:
                b = st["booked"]
                start = _parse_iso(b["start_iso"], c.tz)
                day = P.day_label(start.date(), c.today) if start else ""
                st["pending"] = "anything_else"
                return (
                    f"התור כבר נקבע {day} {P.at(start) if start else ''}. "
                    f"{P.CANNOT_CHANGE_EXISTING}"
                ).replace("  ", " ")

        picked = self._apply(c, u, when)
        if isinstance(picked, str):  # a follow-up question was needed
            return " ".join([*answers, picked])

        soft_book = booking_words and intents & {
            "book",
            "availability",
            "earliest",
            "any_time",
            "latest",
            "another",
        } == {"book"}
        question_only = bool(questions) and not (
            u.name
            or picked
            or when.time is not None
            or (booking_words and not ("notice_q" in questions and soft_book and not u.service))
        )
        if not st["active"] and (content or picked) and not question_only:
            st["active"] = True
        if pending == "offer_booking" and u.yes:
            st["active"] = True

        understood = content or picked or questions or u.yes or u.no or u.thanks_only
        if st["active"] and not understood and st["pending"] not in (None, "anything_else"):
            return self._unclear(c)
        if st["active"]:
            st["unclear"] = 0
            step = self._advance(c, availability="availability" in intents)
            if "services" in questions and step == P.ask_service(self._services(c)):
                step = P.WHICH_SERVICE  # the list was just said
            return " ".join([*answers, step])
        if answers:
            st["unclear"] = 0
            st["pending"] = "offer_booking" if not st.get("booked") else "anything_else"
            tail = P.OFFER_BOOKING if not st.get("booked") else P.ANYTHING_ELSE
            return " ".join([*answers, tail])
        if u.thanks_only:
            return f"בשמחה. {self._repeat_question(c) or P.HOW_CAN_I_HELP}"
        if u.yes and pending in (None, "anything_else"):
            st["active"] = True
            return self._advance(c)
        if u.no:
            st["pending"] = "anything_else"
            return f"{P.OK} {P.ANYTHING_ELSE}"
        return self._unclear(c)

    # -- understanding -> state ----------------------------------------------------------

    def _apply(self, c: _Turn, u: nlu.Understanding, when: When) -> bool | str:
        """Merge the utterance into the slots. Returns True when an offered option was
        picked, or a question (str) to ask right away."""
        st = c.st
        pending = st["pending"]
        picked = False
        new_time = when.time is not None or bool(u.clocks)

        if st["options"] and pending == "choose":
            opt = self._pick_option(c, u, when)
            if (
                opt is None
                and not new_time
                and not when.date
                and ((u.yes and len(st["options"]) == 1) or "any_time" in u.intents)
            ):
                opt = _parse_iso(st["options"][0], c.tz)
            if opt is not None:
                st["date"] = opt.date().isoformat()
                st["time"] = _hhmm(opt.time())
                st.update(inferred=False, part=None, earliest=False, latest=False, options=[])
                picked = True
            elif pending == "choose" and u.yes and not new_time and not when.date:
                times = [d for d in (_parse_iso(o, c.tz) for o in st["options"]) if d]
                return P.which_of(times)
            elif pending == "choose" and u.no and not new_time and not when.found and not u.service:
                offered_days = {o[:10] for o in st["options"]}
                st.update(options=[], time=None, inferred=False)
                st["pending"] = "time"
                if st["date"] and st["date"] in offered_days:
                    return P.WHICH_TIME
                st["date"] = None
                st["pending"] = "date"
                return P.ASK_DAY_AND_TIME

        if pending == "choose" and st["options"] and not picked and new_time and when.date is None:
            # "כן, בעשר זה טוב" after "סגורים בשבת, אפשר ביום ראשון ב-9:00?": another time
            # on the day that was offered, not on the day first asked for.
            days = {o[:10] for o in st["options"]}
            if len(days) == 1 and st["date"] not in days:
                when.date = date.fromisoformat(days.pop())

        if pending == "ampm" and st["ampm"] and not new_time and not picked:
            chosen = _pick_ampm(st["ampm"], when.part, u)
            if chosen is not None:
                st.update(time=chosen, inferred=False, ampm=[], part=None)
                new_time = True
        if pending == "which_week" and st["day_options"] and when.date is None:
            d = _pick_week(st["day_options"], u)
            if d is not None:
                when.date = d
                st["day_options"] = []

        if pending == "confirm" and not picked and not new_time:
            if u.no and not when.date:
                st.update(time=None, inferred=False)
                if when.part is None:  # "לא, בבוקר" falls through: offer the morning
                    st["pending"] = "time"
                    return P.WHICH_TIME
            if u.yes or (not u.no and (u.name or u.service)):
                # "כן", or an answer that moves on ("דני כהן") accepts the time.
                st["inferred"] = False

        before = (st["service"], st["date"], st["time"])
        try:
            return self._apply_slots(c, u, when, picked)
        finally:
            c.slot_changed = before != (st["service"], st["date"], st["time"])

    def _apply_slots(self, c: _Turn, u: nlu.Understanding, when: When, picked: bool) -> bool | str:
        st = c.st
        pending = st["pending"]
        if u.service is not None:
            st["service"] = u.service.id
        if when.date is not None:
            if when.date.isoformat() != st["date"]:
                st["options"] = []
            st["date"] = when.date.isoformat()
        if when.time is not None and not picked:
            st["time"] = _hhmm(when.time)
            st["inferred"] = _needs_confirmation(u, when)
            st.update(part=None, earliest=False, latest=False, options=[], time_alts=[])
        elif when.part is not None and not picked and pending != "ampm":
            st.update(
                part=when.part, time=None, inferred=False, earliest=False, options=[], time_alts=[]
            )
        elif when.ambiguous and not picked:
            asked = self._ambiguous(c, when)
            if asked:
                return asked
        if ({"earliest", "any_time"} & u.intents) and when.time is None and not picked:
            st.update(earliest=True, latest=False, time=None, inferred=False, part=None)
        if "latest" in u.intents and when.time is None and not picked:
            st.update(latest=True, earliest=False, time=None, inferred=False)
        if u.name:
            st["name"] = u.name
            st["name_tries"] = 0
        return picked

    def _ambiguous(self, c: _Turn, when: When) -> str | None:
        """Handle what the resolver could not decide; returns a question or None."""
        st = c.st
        amb = set(when.ambiguous)
        cands = list(when.candidates)
        cand_dates = [x.date() for x in cands if isinstance(x, datetime)]
        cand_times = [x for x in cands if isinstance(x, time)] + [
            x.time() for x in cands if isinstance(x, datetime) and x.time() != time(0, 0)
        ]
        if "past_date" in amb:
            st.update(date=None, pending="date")
            return f"{P.PAST_DATE} {P.ASK_DAY}"
        if "date_conflict" in amb:
            st.update(date=None, pending="date")
            return "לאיזה תאריך בדיוק?"
        if "am_pm" in amb and cand_times:
            if cand_dates and len(set(cand_dates)) == 1:
                st["date"] = cand_dates[0].isoformat()
            st.update(ampm=sorted({_hhmm(t) for t in cand_times}), pending="ampm", time=None)
            return P.am_or_pm(cand_times[0].hour)
        if "which_week" in amb and len(set(cand_dates)) >= 2:
            days = sorted(set(cand_dates))[:2]
            st.update(day_options=[d.isoformat() for d in days], pending="which_week")
            return f"הכוונה ל{P.day_label(days[0], c.today).removeprefix('ב')} או לשבוע שאחריו?"
        if "time_range" in amb and len(cand_times) >= 2:
            a, b = cand_times[0], cand_times[-1]
            st.update(part=f"{_hhmm(a)}-{_hhmm(b)}", time=None, inferred=False, options=[])
            return None
        if "alternatives" in amb:
            if cand_times:
                st.update(
                    time_alts=[_hhmm(t) for t in cand_times], time=None, inferred=False, options=[]
                )
            days = [d for d in cand_dates if d >= c.today]
            if days:
                st["date"] = days[0].isoformat()
            return None
        if "which_day" in amb and cand_dates:
            days = [d for d in cand_dates if d >= c.today]
            if days:
                st["date"] = days[0].isoformat()
                st["range_days"] = [d.isoformat() for d in days]
            return None
        return None

    def _pick_option(self, c: _Turn, u: nlu.Understanding, when: When) -> datetime | None:
        opts = [d for d in (_parse_iso(o, c.tz) for o in c.st["options"]) if d]
        if not opts:
            return None
        if u.ordinal is not None and -len(opts) <= u.ordinal < len(opts):
            return opts[u.ordinal]
        if when.date is not None:
            same_day = [d for d in opts if d.date() == when.date]
            if same_day:
                opts_day = same_day
            else:
                return None
        else:
            opts_day = opts
        wanted: list[tuple[int, int]] = []
        if when.time is not None:
            wanted.append((when.time.hour, when.time.minute))
        wanted.extend(u.clocks)
        for h, m in wanted:
            exact = [d for d in opts_day if d.hour == h and d.minute == m]
            if exact:
                return exact[0]
            loose = [d for d in opts_day if d.hour % 12 == h % 12 and d.minute == m]
            if loose:
                return loose[0]
        if not wanted and when.date is not None and when.part is None and len(opts_day) == 1:
            return opts_day[0]
        return None

    # -- the booking flow ----------------------------------------------------------------

    def _advance(self, c: _Turn, availability: bool = False) -> str:
        """Ask for the next missing slot, check availability, or book."""
        st = c.st
        services = self._services(c)
        if st["service"] is None and len(services) == 1:
            st["service"] = services[0].id
        day = date.fromisoformat(st["date"]) if st["date"] else None

        if st["service"] is None and services:
            if (
                day is not None
                and st["time"] is None
                and (availability or st["earliest"] or st["latest"] or st["part"])
            ):
                return self._offer_day(c, day, None)
            st["pending"] = "service"
            if st["options"]:
                st["options"] = []
            return P.ask_service(services)

        if day is None:
            if st["earliest"] or st["latest"]:
                return self._offer_day(c, c.today, st["service"], search_ahead=True)
            st["pending"] = "date"
            return P.ASK_DAY if (st["time"] or st["part"]) else P.ASK_DAY_AND_TIME

        if day < c.today:
            st.update(date=None, pending="date")
            return f"{P.PAST_DATE} {P.ASK_DAY}"
        window = getattr(c.policy, "booking_window_days", None)
        if isinstance(window, int) and day > c.today + timedelta(days=window):
            st.update(date=None, pending="date")
            return P.beyond_window(window)

        if st["time"] is None and st["time_alts"]:
            res = c.find_slots(day, st["service"])
            if not res.get("ok"):
                return self._tool_trouble(c, res)
            free = {(s.hour, s.minute) for s in _slot_starts(res, c.tz)}
            for hhmm in st["time_alts"]:
                t = time.fromisoformat(hhmm)
                if (t.hour, t.minute) in free:
                    st.update(time=hhmm, inferred=True, time_alts=[])
                    break
            else:
                st["time"], st["time_alts"] = st["time_alts"][0], []
        if st["time"] is None:
            return self._offer_day(c, day, st["service"])

        t = time.fromisoformat(st["time"])
        start = datetime.combine(day, t, tzinfo=c.tz)
        res = c.find_slots(day, st["service"])
        if not res.get("ok"):
            return self._tool_trouble(c, res)
        starts = _slot_starts(res, c.tz)
        if any(s == start for s in starts):
            if st["inferred"] and st["name"]:
                st["pending"] = "confirm"
                st["options"] = []
                return P.confirm_time(P.day_label(day, c.today), t)
            if not st["name"]:
                was = st["pending"]
                st["pending"] = "name"
                st["options"] = []
                if st["inferred"]:
                    # Say the inferred time in words ("בשתיים אחר הצהריים") and ask the name
                    # in the same turn: giving the name accepts the time, "לא" changes it.
                    st["pending"] = "confirm"
                    return f"{P.free_at(P.day_label(day, c.today), t, spoken=True)} {P.ASK_NAME}"
                if was in ("confirm", "choose") or (was == "name" and not c.slot_changed):
                    return P.ASK_NAME
                return f"{P.free_at(P.day_label(day, c.today), t)} {P.ASK_NAME}"
            return self._create(c, start)
        if starts and st["name"]:
            # The day has room but not at that time: the booking tool judges the request
            # (off_grid / too_soon / outside_hours / slot_taken) and suggests what is free.
            return self._create(c, start)
        return self._not_available(c, day, start, res)

    def _offer_day(
        self, c: _Turn, day: date, service: str | None, search_ahead: bool = False
    ) -> str:
        """Call find_slots for `day` and offer up to three times (or the next open day)."""
        st = c.st
        res = c.find_slots(day, service)
        if not res.get("ok"):
            return self._tool_trouble(c, res)
        starts = _slot_starts(res, c.tz)
        label = P.day_label(day, c.today)
        if not starts:
            return self._offer_alternative(c, day, res, quiet=search_ahead)
        chosen: list[datetime]
        prefix = ""
        if st["earliest"]:
            chosen = starts[:1]
        elif st["latest"]:
            chosen = starts[-1:]
        elif st["part"]:
            lo, hi = _part_window(st["part"])
            in_part = [s for s in starts if lo <= _hours(s) < hi]
            if in_part:
                chosen = in_part[:MAX_OFFERED]
            else:
                prefix = f"{label} {PART_SAID.get(st['part'], 'בשעות האלה')} אין תורים פנויים."
                chosen = _nearest_to_window(starts, lo, hi, 2)
        else:
            chosen = starts[:MAX_OFFERED]
        st["date"] = day.isoformat()
        st["options"] = [s.isoformat() for s in chosen]
        st["pending"] = "choose"
        if prefix:
            return f"{prefix} {P.suggest_times('', chosen)}"
        return P.offer_times(label, chosen)

    def _offer_alternative(
        self,
        c: _Turn,
        day: date,
        res: dict[str, Any],
        quiet: bool = False,
        want: time | None = None,
    ) -> str:
        """`day` has no free slot: say why and offer the next open day (find_slots'
        `alternatives`), at the time the caller asked for (`want`) or in the part of the
        day they named when that day has it."""
        st = c.st
        label = P.day_label(day, c.today)
        reason = res.get("reason")
        if reason == "closed" or res.get("closed"):
            why = P.closed_on(P.weekday_label(day, c.today))
        elif reason == "beyond_window":
            window = getattr(c.policy, "booking_window_days", 30)
            st.update(date=None, time=None, pending="date", options=[])
            return P.beyond_window(int(window))
        elif reason == "past":
            st.update(date=None, time=None, pending="date", options=[])
            return f"{P.PAST_DATE} {P.ASK_DAY}"
        else:
            why = P.no_slots_on(label)
        alts = res.get("alternatives") or []
        for alt in alts:
            first = _parse_iso(alt.get("first_slot_iso") if isinstance(alt, dict) else None, c.tz)
            if first is None:
                continue
            first = self._alt_start(c, first, want)
            st["options"] = [first.isoformat()]
            st["pending"] = "choose"
            st["time"] = None
            st["inferred"] = False
            offer = P.offer_alternative(P.day_label(first.date(), c.today), first)
            if quiet and first.date() != day:
                return f"התור הקרוב {P.day_label(first.date(), c.today)} {P.at(first)}. מתאים?"
            return f"{why} {offer}"
        st.update(date=None, time=None, pending="date", options=[])
        return f"{why} {P.WHICH_DAY_INSTEAD}"

    def _alt_start(self, c: _Turn, first: datetime, want: time | None) -> datetime:
        """The start to offer on an alternative day: `want` when free there, else the free
        start nearest to it; the first start in the caller's part of the day; else `first`."""
        st = c.st
        if want is None and not st["part"]:
            return first
        res = c.find_slots(first.date(), st["service"])
        starts = _slot_starts(res, c.tz) if res.get("ok") else []
        if not starts:
            return first
        if want is not None:
            wanted = want.hour * 60 + want.minute
            return min(starts, key=lambda s: (abs(s.hour * 60 + s.minute - wanted), s))
        lo, hi = _part_window(st["part"])
        return _nearest_to_window(starts, lo, hi, 1)[0]

    def _not_available(self, c: _Turn, day: date, start: datetime, res: dict[str, Any]) -> str:
        """The requested start is not free: say why in a few words and offer the nearest."""
        st = c.st
        starts = _slot_starts(res, c.tz)
        label = P.day_label(day, c.today)
        if not starts:
            st["time"] = None
            st["inferred"] = False
            return self._offer_alternative(c, day, res, want=start.time())
        reason = self._why_not(c, day, start)
        if reason == "too_soon":
            chosen = starts[:2]
            why = self._too_soon_sentence(c, start)
        else:
            chosen = sorted(sorted(starts, key=lambda s: abs((s - start).total_seconds()))[:2])
            if reason == "outside_hours":
                why = P.outside_hours(label, list(c.policy.hours_on(day)))
            elif reason == "off_grid":
                why = _grid_sentence(int(getattr(c.policy, "slot_size_min", 30)))
            else:
                why = P.TIME_TAKEN
        st.update(
            time=None, inferred=False, options=[s.isoformat() for s in chosen], pending="choose"
        )
        return P.suggest_times(why, chosen)

    def _too_soon_sentence(self, c: _Turn, start: datetime) -> str:
        """Why a start inside the notice period cannot be booked, in a few words."""
        if start <= c.now:
            return P.TIME_PASSED
        notice = int(getattr(c.policy, "min_notice_min", 0) or 0)
        return P.too_soon(notice) if notice > 0 else P.TIME_TOO_SOON

    def _why_not(self, c: _Turn, day: date, start: datetime) -> str:
        policy = c.policy
        notice = int(getattr(policy, "min_notice_min", 0) or 0)
        if start < c.now + timedelta(minutes=notice):
            return "too_soon"
        size = int(getattr(policy, "slot_size_min", 30) or 30)
        if (start.hour * 60 + start.minute) % size:
            return "off_grid"
        svc = self._service_obj(c, c.st["service"])
        dur = int(getattr(svc, "duration_min", size) or size)
        end = (start + timedelta(minutes=dur)).time()
        t = start.time()
        try:
            ranges = list(policy.hours_on(day))
        except Exception:  # noqa: BLE001
            ranges = []
        inside = any(
            a <= t and (end <= b or b == time.max or end == time(0, 0) and b >= t)
            for a, b in ranges
        )
        if not inside:
            return "outside_hours"
        return "taken"

    def _create(self, c: _Turn, start: datetime) -> str:
        st = c.st
        args: dict[str, Any] = {
            "start_iso": start.isoformat(timespec="seconds"),
            "service": st["service"],
            "customer_name": st["name"],
        }
        if st.get("phone"):
            args["customer_phone"] = st["phone"]
        res = c.tool("create_appointment", **args)
        if res.get("ok"):
            return self._booked(c, start, res)
        err = str(res.get("error") or "validation_error")
        if err == "need_phone":
            st["pending"] = "need_phone"
            st["options"] = []
            c.wants_dtmf = True
            return P.NEED_PHONE
        if err in ("off_grid", "outside_hours", "too_soon", "slot_taken"):
            sugg = [d for d in (_parse_iso(s, c.tz) for s in res.get("suggestions") or []) if d]
            day = start.date()
            label = P.day_label(day, c.today)
            why = {
                "off_grid": _grid_sentence(int(getattr(c.policy, "slot_size_min", 30))),
                "too_soon": self._too_soon_sentence(c, start),
                "slot_taken": P.TIME_TAKEN,
            }.get(err)
            if err == "outside_hours":
                why = P.outside_hours(label, list(c.policy.hours_on(day)))
            notice = int(getattr(c.policy, "min_notice_min", 0) or 0)
            if err == "off_grid" and start < c.now + timedelta(minutes=notice):
                # The tool checks the grid first; "10:15 at 10:00" is too soon above all.
                why = self._too_soon_sentence(c, start)
            st.update(time=None, inferred=False)
            if sugg:
                # The tool lists the nearest free starts first; offer two, the same day's
                # first, in time order.
                same_day = [s for s in sugg if s.date() == day]
                chosen = sorted((same_day if len(same_day) >= 2 else sugg)[:2])
                st.update(options=[s.isoformat() for s in chosen], pending="choose")
                return P.suggest_times(why or "", chosen, today=c.today, asked_day=day)
            c.slot_cache.clear()
            return f"{why} {self._offer_day(c, day, st['service'])}"
        if err == "beyond_window":
            st.update(date=None, time=None, pending="date", options=[])
            return P.beyond_window(int(getattr(c.policy, "booking_window_days", 30)))
        return self._validation(c, res)

    def _validation(self, c: _Turn, res: dict[str, Any]) -> str:
        """One short clarification after a validation_error; the next turn retries."""
        st = c.st
        st["validation"] += 1
        msg = str(res.get("message") or "").lower()
        if st["validation"] > MAX_VALIDATION_RETRIES:
            _reset_booking(st)
            st["pending"] = "anything_else"
            return "סליחה, לא הצלחתי לקבוע כרגע. אפשר לנסות שוב מאוחר יותר."
        if "service" in msg:
            st["service"] = None
            st["pending"] = "service"
            return f"{P.VALIDATION_RETRY} {P.ask_service(self._services(c))}"
        if "phone" in msg:
            st["phone"] = None
            st["pending"] = "need_phone"
            c.wants_dtmf = True
            return P.INVALID_PHONE
        if "start" in msg or "time" in msg or "date" in msg:
            st.update(time=None, inferred=False, pending="time")
            return f"{P.VALIDATION_RETRY} {P.WHICH_TIME}"
        st["name"] = None
        st["pending"] = "name"
        return P.ASK_NAME_AGAIN

    def _booked(self, c: _Turn, start: datetime, res: dict[str, Any]) -> str:
        st = c.st
        started = _parse_iso(res.get("start_iso"), c.tz) or start
        svc = self._service_obj(c, st["service"])
        phone = res.get("customer_phone")
        st["booked"] = {
            "id": res.get("appointment_id"),
            "start_iso": started.isoformat(),
            "service": st["service"],
            "name": st["name"],
            "phone": phone,
        }
        st["bookings"].append(st["booked"]["id"])
        text = P.booked(svc, P.day_label(started.date(), c.today), started, st["name"] or "")
        _reset_booking(st)
        if res.get("confirmation", "whatsapp") is None:  # flows off: promise nothing
            st["pending"] = "anything_else"
            return f"{text} {P.ANYTHING_ELSE}"
        if phone:
            st["pending"] = "anything_else"
            full = f"{text} {P.WHATSAPP_WILL_SEND} {P.ANYTHING_ELSE}"
            return full if len(full.split()) <= 24 else f"{text} {P.WHATSAPP_WILL_SEND}"
        st["pending"] = "whatsapp"
        c.wants_dtmf = True
        return f"{text} {P.WHATSAPP_OFFER}"

    def _tool_trouble(self, c: _Turn, res: dict[str, Any]) -> str:
        err = res.get("error")
        if err == "validation_error":
            return self._validation(c, res)
        c.st["pending"] = "date"
        return f"{P.UNCLEAR} {P.ASK_DAY}"

    # -- questions, cancel, closing ------------------------------------------------------

    def _answer(self, c: _Turn, q: str, when: When, u_service: Any = None) -> str:
        policy = c.policy
        services = self._services(c)
        business = str(getattr(policy, "name", "") or c.conv.business_id)
        if q == "hours":
            if when.date is not None:
                label = P.weekday_label(when.date, c.today)
                try:
                    ranges = list(policy.hours_on(when.date))
                except Exception:  # noqa: BLE001
                    ranges = []
                if getattr(policy, "allow_24_7", False):
                    return f"{label} אנחנו פתוחים כל היום."
                return P.outside_hours(label, ranges)
            return self._hours_summary(c)
        if q == "services":
            return P.services_answer(services)
        if q == "price":
            return P.PRICES_UNKNOWN
        if q == "address":
            return P.ADDRESS_UNKNOWN
        if q == "duration_q":
            sid = c.st.get("service")
            if u_service is not None:
                sid = getattr(u_service, "id", None)
            named = [s for s in services if getattr(s, "id", None) == sid]
            return P.durations_answer(named or services)
        if q == "notice_q":
            notice = int(getattr(policy, "min_notice_min", 60) or 0)
            window = int(getattr(policy, "booking_window_days", 30) or 0)
            return f"אפשר לקבוע עד {window} ימים מראש. {P.too_soon(notice)}"
        if q == "who":
            return P.who_am_i(business)
        if q == "human":
            return P.HUMAN
        return ""

    def _hours_summary(self, c: _Turn) -> str:
        policy = c.policy
        if policy is None:
            return ""
        if getattr(policy, "allow_24_7", False):
            return P.hours_summary([], True)
        start = c.today
        # Sunday .. Saturday of the coming week.
        sunday = start + timedelta(days=(6 - start.weekday()) % 7)
        week = []
        for i in range(7):
            d = sunday + timedelta(days=i)
            week.append((d.weekday(), list(policy.hours_on(d))))
        return P.hours_summary(week, False)

    def _cancel(self, c: _Turn, u: nlu.Understanding) -> str:
        st = c.st
        st["pending"] = "anything_else"
        if st["active"] and not st.get("booked"):
            _reset_booking(st)
            return f"{P.CANCELLED_IN_PROGRESS} {P.ANYTHING_ELSE}"
        return f"{P.CANNOT_CHANGE_EXISTING} {P.ANYTHING_ELSE}"

    def _close(self, c: _Turn) -> str:
        c.end_call = True
        st = c.st
        booked = bool(st.get("booked"))
        st["pending"] = None
        if booked:
            return P.GOODBYE_BOOKED
        return P.GOODBYE

    def _unclear(self, c: _Turn) -> str:
        st = c.st
        st["unclear"] += 1
        again = self._repeat_question(c)
        if again:
            return f"{P.UNCLEAR} {again}"
        if st.get("booked"):
            st["pending"] = "anything_else"
            return f"{P.UNCLEAR} {P.ANYTHING_ELSE}"
        st["pending"] = "offer_booking"
        return P.UNCLEAR_OFFER

    def _repeat_question(self, c: _Turn) -> str | None:
        """The question for the current pending slot, without calling tools."""
        st = c.st
        pending = st["pending"]
        if pending == "service":
            return P.ask_service(self._services(c))
        if pending == "date":
            return P.ASK_DAY if st["time"] else P.ASK_DAY_AND_TIME
        if pending == "time":
            return P.WHICH_TIME
        if pending == "name":
            return P.ASK_NAME
        if pending == "choose" and st["options"]:
            times = [d for d in (_parse_iso(o, c.tz) for o in st["options"]) if d]
            if len(times) == 1:
                return f"{P.offer_alternative(P.day_label(times[0].date(), c.today), times[0])}"
            return P.which_of(times)
        if pending == "confirm" and st["time"] and st["date"]:
            day = date.fromisoformat(st["date"])
            t = time.fromisoformat(st["time"])
            if not st["name"]:
                return f"{P.free_at(P.day_label(day, c.today), t, spoken=True)} {P.ASK_NAME}"
            return P.confirm_time(P.day_label(day, c.today), t)
        if pending == "need_phone":
            c.wants_dtmf = True
            return P.TYPE_PHONE
        if pending == "whatsapp":
            c.wants_dtmf = True
            return P.WHATSAPP_OFFER
        if pending == "anything_else":
            return P.ANYTHING_ELSE
        if pending == "offer_booking":
            return P.OFFER_BOOKING
        return None

    def _last_assistant(self, c: _Turn) -> str | None:
        for m in reversed(c.conv.history):
            if m.role == "assistant" and m.content:
                if c.st["pending"] in ("need_phone", "whatsapp"):
                    c.wants_dtmf = True
                return m.content
        return None


def _only_date(when: When) -> bool:
    return when.date is not None and when.time is None and when.part is None


def _needs_confirmation(u: nlu.Understanding, when: When) -> bool:
    """True when the resolver chose a time the caller did not say as such.

    "בשלוש" -> 15:00 needs a confirmation; "ב-11" -> 11:00, "ב-12", "13:30" do not (the
    hour booked is the hour said), even though the resolver marks any 1-11 as inferred.
    """
    if when.time is None or not when.inferred:
        return False
    return not any(h == when.time.hour and m == when.time.minute for h, m in u.clocks)


def _grid_sentence(slot_min: int) -> str:
    if slot_min == 30:
        return P.TIME_OFF_GRID
    if slot_min == 60:
        return "התורים הם רק בשעות עגולות."
    if slot_min == 15:
        return "התורים הם רק ברבעי שעה."
    return f"התורים הם רק כל {slot_min} דקות."


def _pick_ampm(readings: list[str], part: str | None, u: nlu.Understanding) -> str | None:
    """Choose between "08:00"/"20:00" from the caller's answer ("בערב", "בבוקר")."""
    times = sorted(readings)
    if not times:
        return None
    if part in ("morning",):
        return times[0]
    if part in ("noon", "afternoon", "evening", "night"):
        return times[-1]
    if u.ordinal is not None and -len(times) <= u.ordinal < len(times):
        return times[u.ordinal]
    return None


def _pick_week(days: list[str], u: nlu.Understanding) -> date | None:
    """Choose between this week's and next week's day ("הקרוב" / "הבא" / "השני")."""
    if has_phrase(u.norm, "שבוע הבא", "בשבוע הבא", "שאחריו", "אחריו", "הבא", "השני", "המאוחר"):
        return date.fromisoformat(days[-1])
    if has_phrase(u.norm, "הקרוב", "הזה", "השבוע", "הראשון", "הקרובה", "הזאת") or u.yes:
        return date.fromisoformat(days[0])
    return None


def _hours(s: datetime) -> float:
    return s.hour + s.minute / 60


def _nearest_to_window(starts: list[datetime], lo: float, hi: float, n: int) -> list[datetime]:
    """The `n` starts nearest to the hours [lo, hi) (those inside first), in time order."""

    def gap(s: datetime) -> float:
        h = _hours(s)
        return lo - h if h < lo else max(0.0, h - hi + 1 / 60)

    return sorted(sorted(starts, key=lambda s: (gap(s), s))[:n])


def _part_window(part: str) -> tuple[float, float]:
    """Hours [lo, hi) of a part of day, or of a "HH:MM-HH:MM" range the caller said."""
    if part in PART_WINDOWS:
        lo, hi = PART_WINDOWS[part]
        return float(lo), float(hi)
    try:
        a, b = part.split("-")
        ta, tb = time.fromisoformat(a), time.fromisoformat(b)
        return ta.hour + ta.minute / 60, tb.hour + tb.minute / 60 + 1e-6
    except ValueError:
        return 0.0, 24.0
