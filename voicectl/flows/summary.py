"""Call summaries (SEEDS.md seed 002 G: `call.ended` -> `summarize.thread(...)`).

`call_facts` gathers what the database knows about an ended call - the `call.ended`
payload (outcome, duration, who ended it), the caller's turns, the tool calls and their
results, the appointments it booked. A `Summarizer` turns those facts into one short
Hebrew paragraph. `OfflineSummarizer` is deterministic (the same facts give the same
text) and needs nothing; `OpenAISummarizer` asks an OpenAI(-compatible) model and falls back
to the offline text; `make_summarizer` picks one from the `summarizer` setting.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, select

from voicectl.agent.phrases import date_words
from voicectl.booking.appointments import CONFIRM_ERRORS
from voicectl.logs import get_logger
from voicectl.store.booking import BOOKED, AppointmentRow, BusinessRow, ServiceRow, ToolTraceRow
from voicectl.store.calls import CallRow, TurnRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from voicectl.config import Settings

_log = get_logger("flows")

OUTCOME_HE = {
    "completed": "הסתיימה",
    "busy": "תפוס",
    "failed": "נכשלה",
    "no-answer": "לא נענתה",
    "canceled": "בוטלה",
    "interrupted": "נקטעה (השרת הופעל מחדש)",
}
ENDED_BY_HE = {
    "stop": "המתקשר ניתק",
    "disconnect": "החיבור נותק",
    "bot_hangup": "הבוט סיים את השיחה",
    "status_callback": "לפי עדכון מ-Twilio",
    "startup_recovery": "זוהתה בהפעלה מחדש",
    "owner_lost": "השרת שטיפל בשיחה הפסיק לפעול",
}
TOOL_ERROR_HE = {
    "slot_taken": "השעה תפוסה",
    "off_grid": "שעה לא עגולה",
    "too_soon": "קרוב מדי",
    "outside_hours": "מחוץ לשעות הפתיחה",
    "beyond_window": "רחוק מדי מראש",
    "need_phone": "חסר טלפון",
    "validation_error": "פרטים לא תקינים",
    "not_found": "תור לא נמצא",
    "hold_lost": "התור לא נשמר",
    "confirm_failed": "התור לא נשמר",
}
#: Said when a booking the caller was told about was not saved (a failed
#: `create_appointment` trace with an `appointments.CONFIRM_ERRORS` error).
UNSAVED_HE = "תור שנאמר למתקשר לא נשמר במערכת: לחזור ללקוח."
_QUOTE_CHARS = 60


@dataclass
class BookedFacts:
    """One appointment the call booked."""

    appointment_id: int
    service_name: str
    start: datetime
    customer_name: str
    customer_phone: str | None


@dataclass
class CallFacts:
    """What is known about an ended call (shape of the `call.ended` payload, plus DB).

    Attributes:
        call_sid, business_id, business_name: ids and the business's display name.
        caller_number: E.164 or None (withheld).
        duration_s: seconds; outcome / ended_by: the payload's values.
        caller_turns: what the caller said or typed, in order.
        tool_results: `(tool, ok, error)` per tool call, in order.
        booked: the appointments of the call.
    """

    call_sid: str
    business_id: str | None
    business_name: str
    caller_number: str | None
    duration_s: float | None
    outcome: str | None
    ended_by: str | None
    caller_turns: list[str] = field(default_factory=list)
    tool_results: list[tuple[str, bool, str | None]] = field(default_factory=list)
    booked: list[BookedFacts] = field(default_factory=list)


_CALL = select(CallRow.business_id, CallRow.caller_number).where(
    CallRow.call_sid == bindparam("sid")
)
_BUSINESS_NAME = select(BusinessRow.name).where(BusinessRow.id == bindparam("business_id"))
_TURNS = (
    select(TurnRow.kind, TurnRow.user_text)
    .where(TurnRow.call_sid == bindparam("sid"))
    .order_by(TurnRow.index)
)
_TRACES = (
    select(ToolTraceRow.tool, ToolTraceRow.ok, ToolTraceRow.error)
    .where(ToolTraceRow.call_sid == bindparam("sid"))
    .order_by(ToolTraceRow.id)
)
# Bookings only: a hold not confirmed (`store/holds.py`) was never promised.
_BOOKED = (
    select(
        AppointmentRow.id,
        AppointmentRow.service_id,
        AppointmentRow.start_iso,
        AppointmentRow.customer_name,
        AppointmentRow.customer_phone,
        ServiceRow.name,
    )
    .outerjoin(
        ServiceRow,
        (ServiceRow.business_id == AppointmentRow.business_id)
        & (ServiceRow.id == AppointmentRow.service_id),
    )
    .where(AppointmentRow.status == BOOKED)
    .order_by(AppointmentRow.id)
)
_BOOKED_BY_CALL = _BOOKED.where(AppointmentRow.call_sid == bindparam("sid"))
_BOOKED_BY_ID = _BOOKED.where(AppointmentRow.id.in_(bindparam("ids", expanding=True)))


def call_facts(s: Session, payload: dict[str, Any]) -> CallFacts:
    """Collect the facts of the call a `call.ended` payload names (reads only).

    Prebuilt column selects, no ORM objects: this runs once per ended call, beside live
    calls (docs/benchmarks.md, issue 12: the summary's ORM loads were the largest user of
    the interpreter outside the call path)."""
    sid = str(payload.get("call_sid") or "")
    call = s.execute(_CALL, {"sid": sid}).first() if sid else None
    business_id = payload.get("business_id") or (call.business_id if call else None)
    business_name = (
        s.execute(_BUSINESS_NAME, {"business_id": business_id}).scalar() if business_id else None
    )
    turns = s.execute(_TURNS, {"sid": sid}).all()
    traces = s.execute(_TRACES, {"sid": sid}).all()
    ids = [i for i in payload.get("appointment_ids") or [] if isinstance(i, int)]
    if ids:
        rows = s.execute(_BOOKED_BY_ID, {"ids": ids}).all()
    else:
        rows = s.execute(_BOOKED_BY_CALL, {"sid": sid}).all() if sid else []
    booked = [
        BookedFacts(
            appointment_id=a.id,
            service_name=a.name or a.service_id,
            start=datetime.fromisoformat(a.start_iso),
            customer_name=a.customer_name,
            customer_phone=a.customer_phone,
        )
        for a in rows
    ]
    duration = payload.get("duration_s")
    return CallFacts(
        call_sid=sid,
        business_id=business_id,
        business_name=business_name or str(business_id or ""),
        caller_number=payload.get("caller_number") or (call.caller_number if call else None),
        duration_s=float(duration) if isinstance(duration, int | float) else None,
        outcome=payload.get("outcome"),
        ended_by=payload.get("ended_by"),
        caller_turns=[
            t.user_text.strip()
            for t in turns
            if t.kind in ("speech", "dtmf_phone", "dtmf_invalid") and t.user_text.strip()
        ],
        tool_results=[(t.tool, bool(t.ok), t.error) for t in traces],
        booked=booked,
    )


class Summarizer(Protocol):
    """Turns `CallFacts` into a short Hebrew summary."""

    name: str

    def summarize(self, facts: CallFacts) -> str:
        """The summary text. May raise; the dispatcher retries the delivery."""
        ...


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = int(round(seconds))
    return f"{total // 60}:{total % 60:02d} דקות"


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"


class OfflineSummarizer:
    """A deterministic Hebrew summary: caller, length, what was asked, what was booked or
    why not, a booking the caller was told about that was not saved (`UNSAVED_HE`), how
    the call ended. Example::

        שיחה מ-+972501234567, 1:45 דקות, 3 פניות. המתקשר/ת: "תקבע לי מחר ב-12 שוודי".
        נקבע תור: שוודי, יום שבת, 21 בנובמבר ב-12:00, על שם דני, בלי טלפון (לחזור
        ללקוח). השיחה הסתיימה: המתקשר ניתק.
    """

    name = "offline"

    def summarize(self, facts: CallFacts) -> str:
        """See the class docstring; the same facts always give the same text."""
        head = [f"שיחה מ-{facts.caller_number}" if facts.caller_number else "שיחה ממספר חסוי"]
        if facts.duration_s is not None:
            head.append(_duration(facts.duration_s))
        head.append(f"{len(facts.caller_turns)} פניות")
        parts = [", ".join(head) + "."]
        if facts.caller_turns:
            parts.append(f'המתקשר/ת: "{_quote(facts.caller_turns[0])}".')
        for b in facts.booked:
            phone = f"טלפון {b.customer_phone}" if b.customer_phone else "בלי טלפון (לחזור ללקוח)"
            parts.append(
                f"נקבע תור: {b.service_name}, {date_words(b.start.date())} "
                f"ב-{b.start:%H:%M}, על שם {b.customer_name}, {phone}."
            )
        if any(
            tool == "create_appointment" and err in CONFIRM_ERRORS
            for tool, ok, err in facts.tool_results
        ):
            parts.append(UNSAVED_HE)
        if not facts.booked:
            failed = [
                TOOL_ERROR_HE.get(err or "", err or "שגיאה")
                for tool, ok, err in facts.tool_results
                if not ok and tool == "create_appointment"
            ]
            reason = f" ({', '.join(dict.fromkeys(failed))})" if failed else ""
            parts.append(f"לא נקבע תור{reason}.")
        end = OUTCOME_HE.get(facts.outcome or "", facts.outcome or "הסתיימה")
        how = ENDED_BY_HE.get(facts.ended_by or "")
        parts.append(f"השיחה {end}" + (f": {how}." if how else "."))
        return " ".join(parts)


SUMMARY_INSTRUCTIONS = (
    "You summarise a finished phone call of a booking receptionist for the business owner. "
    "Write in Hebrew, at most three short sentences, facts only: who called (the number or "
    "'withheld'), what they wanted, what was booked (service, day, HH:MM, name) or why not, "
    "and how the call ended. Never invent details; use only the facts given."
)


class OpenAISummarizer:
    """A short Hebrew summary by an OpenAI(-compatible) Chat Completions model, written
    from the same `CallFacts` (as JSON) plus the deterministic summary. Any model error
    or an empty answer falls back to the offline text, so a call always gets a summary.

    Args:
        settings: `openai_model`, `openai_api_key`, `openai_base_url`.
        client: an `openai.OpenAI` (tests); else one is built once from the settings.
        timeout_s: per request (off the call path, so longer than the agent's budget).
    """

    name = "openai"

    def __init__(self, settings: Any, client: Any = None, timeout_s: float = 20.0) -> None:
        import openai

        self.model = settings.openai_model
        self.timeout_s = timeout_s
        self.client = client or openai.OpenAI(
            api_key=settings.openai_api_key or None,
            base_url=settings.openai_base_url or None,
            timeout=timeout_s,
            max_retries=0,  # the dispatcher owns retries
        )
        self.offline = OfflineSummarizer()

    def summarize(self, facts: CallFacts) -> str:
        """The model's summary, or the offline one when the model fails."""
        baseline = self.offline.summarize(facts)
        data = asdict(facts)
        for b in data["booked"]:
            b["start"] = b["start"].isoformat()
        try:
            answer = self.client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": SUMMARY_INSTRUCTIONS},
                    {
                        "role": "user",
                        "content": json.dumps(
                            {"facts": data, "draft": baseline}, ensure_ascii=False
                        ),
                    },
                ],
                temperature=0.2,
                max_completion_tokens=200,
                timeout=self.timeout_s,
            )
            text = (answer.choices[0].message.content or "").strip()
        except Exception as exc:  # noqa: BLE001 - a summary must not depend on the model
            _log.warning("openai summary failed (%s); using the offline summary", exc)
            return baseline
        return " ".join(text.split())[:1000] or baseline


def make_summarizer(settings: Settings | None = None) -> Summarizer:
    """The summariser the settings ask for (`summarizer`): `offline`, `openai`, or `auto`
    (the default: `openai` when the agent is `openai` and the `openai` extra is installed,
    else offline).

    Raises:
        ValueError: `summarizer: openai` without the `openai` extra, or an unknown name.
    """
    choice = getattr(settings, "summarizer", "offline") if settings is not None else "offline"
    if choice == "auto":
        wants = settings is not None and getattr(settings, "agent", "") == "openai"
        choice = "openai" if wants and importlib.util.find_spec("openai") else "offline"
    if choice == "offline":
        return OfflineSummarizer()
    if choice == "openai":
        if importlib.util.find_spec("openai") is None:
            raise ValueError(
                "summarizer=openai needs the openai extra: pip install 'voicectl[openai]'"
            )
        try:
            return OpenAISummarizer(settings)
        except Exception as exc:  # noqa: BLE001 - e.g. no API key: summaries stay offline
            _log.warning("openai summariser unavailable (%s); using the offline one", exc)
            return OfflineSummarizer()
    raise ValueError(f"summarizer={choice!r}: unknown (known: auto, offline, openai)")
