"""Reading and re-queueing deliveries: what `voicectl flows list/show/retry`, the call record
and `simulate` show.

A message dict is `{id, event, event_id, handler, business_id, call_sid, to, text, status,
attempts, channel, note, last_error, provider_id, created_at, sent_at, next_attempt_at}`
(times ISO 8601 UTC, `to` E.164 or None).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from voicectl.store.flows import STATUSES, AttemptRow, DeliveryRow

if TYPE_CHECKING:
    from voicectl.store.db import Database


def _iso(dt: datetime | None) -> str | None:
    return dt.replace(tzinfo=UTC).isoformat(timespec="seconds") if dt is not None else None


def message_dict(row: DeliveryRow) -> dict[str, Any]:
    """One delivery as a JSON-able dict (shape in the module docstring)."""
    return {
        "id": row.id,
        "event": row.event_type,
        "event_id": row.event_id,
        "handler": row.handler,
        "business_id": row.business_id,
        "call_sid": row.call_sid,
        "to": row.to_addr,
        "text": row.text,
        "status": row.status,
        "attempts": row.attempts,
        "channel": row.channel,
        "note": row.note,
        "last_error": row.last_error,
        "provider_id": row.provider_id,
        "created_at": _iso(row.created_at),
        "sent_at": _iso(row.sent_at),
        "next_attempt_at": _iso(row.next_attempt_at) if row.status == "pending" else None,
    }


def list_messages(
    db: Database,
    status: str | None = None,
    call_sid: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Deliveries, oldest first, optionally of one status and/or one call.

    Raises:
        ValueError: `status` is not one of `STATUSES`.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
    with db.session() as s:
        q = select(DeliveryRow)
        if status is not None:
            q = q.where(DeliveryRow.status == status)
        if call_sid is not None:
            q = q.where(DeliveryRow.call_sid == call_sid)
        q = q.order_by(DeliveryRow.id)
        if limit is not None:
            q = q.limit(limit)
        return [message_dict(r) for r in s.scalars(q)]


def get_message(db: Database, delivery_id: int) -> dict[str, Any] | None:
    """One delivery with its attempts (`attempt_log`: number, worker, started_at,
    duration_ms, outcome, error) and, for `call_summary`, the call's stored `summary`; or
    None."""
    with db.session() as s:
        row = s.get(DeliveryRow, delivery_id)
        if row is None:
            return None
        out = message_dict(row)
        if row.handler == "call_summary" and row.call_sid:
            from voicectl.store.calls import CallRow

            call = s.get(CallRow, row.call_sid)
            out["summary"] = call.summary if call is not None else None
        attempts = s.scalars(
            select(AttemptRow).where(AttemptRow.delivery_id == delivery_id).order_by(AttemptRow.id)
        )
        out["attempt_log"] = [
            {
                "number": a.number,
                "worker": a.worker,
                "started_at": _iso(a.started_at),
                "duration_ms": round(a.duration_ms, 1),
                "outcome": a.outcome,
                "error": a.error,
            }
            for a in attempts
        ]
        return out


def retry_delivery(db: Database, delivery_id: int, now: datetime | None = None) -> str:
    """Queue a `failed` or `skipped` delivery again (due now; its maximum age restarts),
    or make a `pending` one due now.

    Returns:
        `queued`, `not_found`, or the status that refuses a retry (`sent`, `done`: already
        handled - retrying would send twice).
    """
    now = now or datetime.now(UTC).replace(tzinfo=None)
    with db.session() as s:
        row = s.get(DeliveryRow, delivery_id)
        if row is None:
            return "not_found"
        if row.status in ("sent", "done"):
            return row.status
        if row.status != "pending":
            row.created_at = now
            row.prepared = row.prepared and row.status == "failed"
        row.status = "pending"
        row.next_attempt_at = now
        row.updated_at = now
        return "queued"


def call_flows(db: Database, call_sid: str) -> dict[str, Any]:
    """A call's flows for its record: `{messages, flows_settled, summary}`.

    `flows_settled` is true when every event of the call has been fanned out and no
    delivery of it waits for its first try (one waiting on a back-off counts as settled).
    """
    from voicectl.store.booking import EventRow
    from voicectl.store.calls import CallRow

    messages = list_messages(db, call_sid=call_sid)
    with db.session() as s:
        waiting = s.scalar(
            select(EventRow.id)
            .where(EventRow.call_sid == call_sid, EventRow.processed_at.is_(None))
            .limit(1)
        )
        call = s.get(CallRow, call_sid)
        summary = call.summary if call is not None else None
    untried = any(m["status"] == "pending" and m["attempts"] == 0 for m in messages)
    return {
        "messages": messages,
        "flows_settled": waiting is None and not untried,
        "summary": summary,
    }
