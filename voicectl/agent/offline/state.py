"""The offline agent's per-call dialogue state: what is known, and what it is waiting for.

The state is stored between turns in `Conversation.state["offline"]` as plain JSON values
(`to_dict` / `from_dict`), so a call's dialogue can be persisted or handed across streams;
inside a turn the agent works on the typed `DialogueState`. Dates, times and offered starts
are ISO 8601 strings in the business's time zone ("2026-11-21", "12:30",
"2026-11-21T12:30:00+02:00").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

__all__ = ["Booked", "DialogueState", "Waiting"]


class Waiting(StrEnum):
    """What the agent's last question asked for (the answer it is waiting for)."""

    SERVICE = "service"
    DATE = "date"
    TIME = "time"
    NAME = "name"
    CHOOSE = "choose"  # one of `options`
    CONFIRM = "confirm"  # an inferred time (and the name, if still missing)
    AMPM = "ampm"  # morning or evening of an am/pm-ambiguous hour
    WHICH_WEEK = "which_week"  # this week's or next week's day
    NEED_PHONE = "need_phone"  # a phone typed by DTMF before booking
    WHATSAPP = "whatsapp"  # a phone typed by DTMF for a confirmation
    ANYTHING_ELSE = "anything_else"
    OFFER_BOOKING = "offer_booking"  # "תרצו לקבוע תור?" after an answer


@dataclass
class Booked:
    """The appointment booked in this call."""

    id: int | None
    start_iso: str
    service: str | None
    name: str | None
    phone: str | None


@dataclass
class DialogueState:
    """Everything the agent remembers between turns of one call.

    Attributes:
        greeted: the greeting was said (never greet again).
        active: a booking is being arranged.
        service: the service id chosen.
        date: the day asked for ("YYYY-MM-DD").
        time: the time asked for ("HH:MM").
        inferred: `time` was inferred (e.g. 15:00 for "בשלוש") and is not confirmed yet.
        part: a part of the day asked for (`PART_WINDOWS` key) or a "HH:MM-HH:MM" range.
        earliest / latest: the caller asked for the first / last free time.
        name: the customer's name.
        phone: a phone typed by DTMF in this call (E.164).
        pending: what the last question asked for, or None.
        options: the starts offered by the last question (ISO date-times).
        booked: the appointment booked in this call, or None.
        silence / dtmf_invalid / validation / unclear: counters of consecutive silences,
            invalid typed numbers, `validation_error`s and unclear answers.
        ampm: the readings of an am/pm-ambiguous hour ("HH:MM").
        day_options: the readings of an ambiguous "which week" day ("YYYY-MM-DD").
        time_alts: alternative times the caller said ("בשלוש או בארבע", "HH:MM").
    """

    greeted: bool = False
    active: bool = False
    service: str | None = None
    date: str | None = None
    time: str | None = None
    inferred: bool = False
    part: str | None = None
    earliest: bool = False
    latest: bool = False
    name: str | None = None
    phone: str | None = None
    pending: Waiting | None = None
    options: list[str] = field(default_factory=list)
    booked: Booked | None = None
    silence: int = 0
    dtmf_invalid: int = 0
    validation: int = 0
    unclear: int = 0
    ampm: list[str] = field(default_factory=list)
    day_options: list[str] = field(default_factory=list)
    time_alts: list[str] = field(default_factory=list)

    def reset_booking(self, keep_name: bool = True) -> None:
        """Forget the booking being arranged (service, day, time and what was offered)."""
        self.service = self.date = self.time = self.part = None
        self.inferred = self.earliest = self.latest = self.active = False
        self.options, self.ampm, self.day_options, self.time_alts = [], [], [], []
        self.validation = 0
        if not keep_name:
            self.name = None

    def ask_day(self) -> None:
        """Forget the day asked for and wait for another."""
        self.date = None
        self.pending = Waiting.DATE

    def clear_time(self) -> None:
        """Forget the time asked for (and that it was inferred)."""
        self.time = None
        self.inferred = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON-friendly form stored in `Conversation.state`."""
        d = asdict(self)
        d["pending"] = self.pending.value if self.pending else None
        return d

    @classmethod
    def from_dict(cls, data: object) -> DialogueState:
        """Read `to_dict`'s form back; unknown keys and bad values fall back to defaults."""
        st = cls()
        if not isinstance(data, dict):
            return st
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "pending":
                st.pending = Waiting(value) if value in Waiting._value2member_map_ else None
            elif f.name == "booked":
                st.booked = Booked(**value) if isinstance(value, dict) else None
            else:
                setattr(st, f.name, value)
        return st
