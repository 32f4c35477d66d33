"""Flow handlers: what to do for one outbox event (SEEDS.md seed 002 G).

A handler's `prepare` reads the event (and the database) and decides, once per delivery,
what the delivery is: a message to send (`Prepared.send`), nothing to send
(`Prepared.done`), or a message that cannot be addressed (`Prepared.skipped`). The
dispatcher stores that decision with the delivery before sending, so every retry sends
the same text to the same number.

- `whatsapp_confirmation` (`appointment.created`, `appointment.phone_attached`): the rule's
  `confirmation` template to the appointment's phone. No phone -> skipped; the lead stays
  flagged `needs_follow_up` (written by the booking), and `appointment.phone_attached`
  brings the confirmation once the caller types a number.
- `call_summary` (`call.ended`): summarise the call, store it in `calls.summary`, and send
  it by WhatsApp to the business's `summary_to` number when the rules set one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from voicectl.agent.phrases import date_words
from voicectl.flows.rules import EffectiveRules, render
from voicectl.flows.summary import Summarizer, call_facts
from voicectl.store.booking import BusinessRow, ServiceRow
from voicectl.store.calls import CallRow

if TYPE_CHECKING:
    from voicectl.store.db import Database


class HandlerError(Exception):
    """The event cannot be handled, ever (e.g. a malformed payload): the delivery fails."""


@dataclass(frozen=True)
class Prepared:
    """A handler's decision for one delivery.

    Attributes:
        status: `send`, `done` or `skipped`.
        to: recipient E.164 (for `send`).
        text: message body (for `send`).
        note: a line for `voicectl flows show` (why skipped, what was stored).
    """

    status: str
    to: str | None = None
    text: str | None = None
    note: str | None = None

    @classmethod
    def send(cls, to: str, text: str, note: str | None = None) -> Prepared:
        return cls("send", to, text, note)

    @classmethod
    def done(cls, note: str) -> Prepared:
        return cls("done", note=note)

    @classmethod
    def skipped(cls, note: str) -> Prepared:
        return cls("skipped", note=note)


@dataclass(frozen=True)
class Event:
    """An outbox event as handlers see it."""

    id: int
    type: str
    business_id: str | None
    call_sid: str | None
    payload: dict[str, Any]


class Handler(Protocol):
    """One kind of work after an event."""

    name: str

    def prepare(self, db: Database, event: Event, rules: EffectiveRules) -> Prepared:
        """Decide this delivery (may write, e.g. the call summary).

        Raises:
            HandlerError: never handleable (the delivery fails); any other exception is
                retried with back-off.
        """
        ...


def _business_name(s: Any, business_id: str | None) -> str:
    row = s.get(BusinessRow, business_id) if business_id else None
    return row.name if row is not None else str(business_id or "")


def confirmation_text(
    template: str, start: datetime, business: str, service: str, name: str
) -> str:
    """Fill the confirmation template: `{date}` date words ("יום שבת, 21 בנובמבר"),
    `{hh:mm}` 24-hour `HH:MM` of the business-local start, `{business}`, `{service}`,
    `{name}`."""
    return render(
        template,
        {
            "date": date_words(start.date()),
            "hh:mm": f"{start:%H:%M}",
            "business": business,
            "service": service,
            "name": name,
        },
    )


class WhatsAppConfirmation:
    """The booking confirmation to the appointment's phone (the event's snapshot of it)."""

    name = "whatsapp_confirmation"

    def prepare(self, db: Database, event: Event, rules: EffectiveRules) -> Prepared:
        p = event.payload
        phone = p.get("customer_phone")
        if not phone:
            return Prepared.skipped("no phone on the booking: the lead stays flagged for follow-up")
        try:
            start = datetime.fromisoformat(str(p["start_iso"]))
        except (KeyError, ValueError) as exc:
            raise HandlerError(f"payload has no valid start_iso ({exc})") from None
        if start.tzinfo is None:
            raise HandlerError("payload start_iso has no UTC offset")
        business_id = p.get("business_id") or event.business_id
        with db.session() as s:
            business = _business_name(s, business_id)
            svc = s.get(ServiceRow, (business_id, p.get("service"))) if business_id else None
            service = svc.name if svc is not None else str(p.get("service") or "")
        text = confirmation_text(
            rules.templates["confirmation"],
            start,
            business,
            service,
            str(p.get("customer_name") or ""),
        )
        return Prepared.send(str(phone), text)


class CallSummary:
    """Summarise the ended call into `calls.summary`; WhatsApp it to `summary_to` if set."""

    name = "call_summary"

    def __init__(self, summarizer: Summarizer) -> None:
        self.summarizer = summarizer

    def prepare(self, db: Database, event: Event, rules: EffectiveRules) -> Prepared:
        payload = {"call_sid": event.call_sid, "business_id": event.business_id, **event.payload}
        if not payload.get("call_sid"):
            raise HandlerError("call.ended payload has no call_sid")
        with db.session() as s:
            facts = call_facts(s, payload)
        summary = self.summarizer.summarize(facts)
        with db.session() as s:
            call = s.get(CallRow, facts.call_sid)
            if call is not None:
                call.summary = summary
        stored = "summary stored on the call" if call is not None else "no call row to store on"
        if not rules.summary_to:
            return Prepared.done(f"{stored} (WhatsApp of summaries is off)")
        text = render(
            rules.templates["summary"], {"business": facts.business_name, "summary": summary}
        )
        return Prepared.send(rules.summary_to, text, note=stored)


def make_handlers(summarizer: Summarizer) -> dict[str, Handler]:
    """Every handler by name."""
    handlers: list[Handler] = [WhatsAppConfirmation(), CallSummary(summarizer)]
    return {h.name: h for h in handlers}
