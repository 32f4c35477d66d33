"""One turn's context: the call's tools and policy, the business clock, date/time facts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from voicectl.agent.base import Conversation, ToolCallRecord, TurnInput
from voicectl.agent.offline.state import DialogueState
from voicectl.booking.policy import BusinessPolicy, Service
from voicectl.booking.tools import BookingTools
from voicectl.clock import Clock
from voicectl.hebrew.when import HoursOn, resolve_when
from voicectl.logs import get_logger

log = get_logger("agent")


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
        said: the clock times as said (`WhenResolution.said`).
    """

    date: date | None = None
    time: time | None = None
    part: str | None = None
    inferred: bool = False
    ambiguous: tuple[str, ...] = ()
    candidates: tuple[datetime | time, ...] = ()
    said: tuple[tuple[int, int], ...] = ()

    @property
    def found(self) -> bool:
        """True when a date, a time or a part of day was named."""
        return self.date is not None or self.time is not None or self.part is not None


def resolve(text: str, now: datetime, hours_on: HoursOn | None) -> When:
    """Resolve the dates/times in `text` against the business clock `now`
    (`voicectl.hebrew.when.resolve_when`, which never raises)."""
    r = resolve_when(text, now, hours_on=hours_on)
    when = When(r.date, r.time, r.part_of_day, r.inferred, r.ambiguous, r.candidates)
    when.said = r.said
    return when


ToolResult = dict[str, Any]
"""A booking tool's JSON result (`{ok, error, ...}`, see `voicectl.booking.tools`)."""


@dataclass
class Turn:
    """Everything one `respond` call works with.

    Attributes:
        turn: what the caller did.
        conv: the call's conversation (history, business, clock).
        tools: the call's booking tools (their `policy` is the business's policy).
        now: the business clock at the start of the turn (the policy's time zone).
        st: the dialogue state, saved back to `conv.state` after the turn.
        clock: a monotonic clock for tool latencies.
        calls: the tool calls made in this turn, in order.
        wants_dtmf / end_call: what the reply asks of the call.
        slot_cache: `find_slots` results of this turn by (day, service).
        slot_changed: the turn changed the service, day or time.
    """

    turn: TurnInput
    conv: Conversation
    tools: BookingTools
    now: datetime
    st: DialogueState
    clock: Clock
    calls: list[ToolCallRecord] = field(default_factory=list)
    wants_dtmf: bool = False
    end_call: bool = False
    slot_cache: dict[tuple[str, str | None], ToolResult] = field(default_factory=dict)
    slot_changed: bool = False

    @property
    def policy(self) -> BusinessPolicy:
        """The business's policy (with this call's overrides)."""
        return self.tools.policy

    @property
    def tz(self) -> ZoneInfo:
        """The business's time zone."""
        return self.tools.policy.tz

    @property
    def today(self) -> date:
        """The business's local date."""
        return self.now.date()

    @property
    def services(self) -> list[Service]:
        """The business's services."""
        return list(self.policy.services)

    def service_obj(self, service_id: str | None) -> Service | None:
        """The service with this id, or None."""
        return self.policy.service(service_id) if service_id else None

    def _call(self, name: str, args: dict[str, Any], fn: Callable[[], ToolResult]) -> ToolResult:
        """Run a booking tool, record it; a raised exception becomes a `validation_error`."""
        t0 = self.clock.now_ms()
        try:
            result = fn()
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

    def find_slots(self, day: date, service: str | None) -> ToolResult:
        """`find_slots` for a day, called at most once per turn per (day, service)."""
        key = (day.isoformat(), service)
        if key not in self.slot_cache:
            args = {"date_iso": day.isoformat(), "service": service}
            self.slot_cache[key] = self._call(
                "find_slots", args, lambda: self.tools.find_slots(day.isoformat(), service)
            )
        return self.slot_cache[key]

    def create_appointment(
        self, start: datetime, service: str, name: str, phone: str | None
    ) -> ToolResult:
        """`create_appointment` at `start` (the phone only when one was typed)."""
        args: dict[str, Any] = {
            "start_iso": start.isoformat(timespec="seconds"),
            "service": service,
            "customer_name": name,
        }
        if phone:
            args["customer_phone"] = phone
        return self._call("create_appointment", args, lambda: self.tools.create_appointment(**args))

    def attach_phone(self, appointment_id: int, phone: str) -> ToolResult:
        """`attach_phone`: the number typed after a phone-less booking."""
        args = {"appointment_id": appointment_id, "customer_phone": phone}
        return self._call(
            "attach_phone", args, lambda: self.tools.attach_phone(appointment_id, phone)
        )


def parse_iso(s: object, tz: ZoneInfo) -> datetime | None:
    """An ISO date-time (a tool's `start_iso`) in `tz`, or None when it is not one."""
    if not isinstance(s, str):
        return None
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(tz)


def slot_starts(res: ToolResult, tz: ZoneInfo) -> list[datetime]:
    """The free starts of a `find_slots` result, in time order."""
    out = []
    for s in res.get("slots") or []:
        dt = parse_iso(s.get("start_iso") if isinstance(s, dict) else s, tz)
        if dt is not None:
            out.append(dt)
    return sorted(out)


def hhmm(t: time) -> str:
    """ "HH:MM" (the state's form of a time)."""
    return f"{t.hour:02d}:{t.minute:02d}"
