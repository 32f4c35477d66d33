"""Saving a call and reading it back as one record (the simulator's and an operator's view).

Writes happen at call start and call end only - never per frame or per turn on the hot
path (seed 002 D.3, E.2).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from voicectl.store.booking import AppointmentRow, EventRow, ToolTraceRow
from voicectl.store.calls import CallLogRow, CallRow, TurnRow
from voicectl.store.db import Database


def call_started(db: Database, session: Any, from_number: str | None = None) -> None:
    """Insert (or reset) the call's row when its stream starts."""
    with db.session() as s:
        row = s.get(CallRow, session.call_sid) or CallRow(call_sid=session.call_sid)
        row.stream_sid = session.stream_sid
        row.business_id = session.business_id
        row.from_number = from_number
        row.caller_number = session.caller_number
        row.status = "in-progress"
        s.add(row)


def call_ended(
    db: Database, session: Any, log_lines: list[tuple[str, str]], status: str = "completed"
) -> None:
    """Save the ended stream: caller number, turns with marks, metrics, errors, log lines.

    `status` is the call's status after it ("gather" while the call waits in a `<Gather>`).
    A call resumed after a Gather adds its turns to the same record; its metrics are the
    worst of its streams.
    """
    rec = session.record()
    with db.session() as s:
        row = s.get(CallRow, session.call_sid) or CallRow(
            call_sid=session.call_sid, business_id=session.business_id
        )
        row.caller_number = session.caller_number
        if row.status not in _FINAL:  # a status callback may have ended it already
            row.status = status
        row.ended_at = datetime.now(UTC)
        old = dict(row.metrics or {})
        row.metrics = {k: max(v, old.get(k, 0)) for k, v in rec["metrics"].items()}
        row.errors = list(row.errors or []) + rec["errors"]
        s.add(row)
        s.flush()
        for t in rec["turns"]:
            s.add(
                TurnRow(
                    call_sid=session.call_sid,
                    index=t["index"],
                    kind=t["kind"],
                    user_text=t["user_text"],
                    bot_text=t["bot_text"],
                    marks=t["marks"],
                    barged_in=t["barged_in"],
                    tools=t["tools"],
                )
            )
        for level, message in log_lines:
            s.add(CallLogRow(call_sid=session.call_sid, level=level, message=message))


_FINAL = ("completed", "busy", "failed", "no-answer", "canceled", "interrupted")


def mark_status(db: Database, call_sid: str, status: str) -> bool:
    """Record a Twilio call status; returns False for an unknown call."""
    with db.session() as s:
        row = s.get(CallRow, call_sid)
        if row is None:
            return False
        if status in ("completed", "busy", "failed", "no-answer", "canceled"):
            row.status = status
            row.ended_at = row.ended_at or datetime.now(UTC)
        return True


def load_record(db: Database, call_sid: str) -> dict[str, Any] | None:
    """The call as one JSON-able dict (shape in `voicectl.sim.checks`), or None."""
    with db.session() as s:
        row = s.get(CallRow, call_sid)
        if row is None:
            return None
        turns = s.scalars(
            select(TurnRow).where(TurnRow.call_sid == call_sid).order_by(TurnRow.index)
        ).all()
        log = s.scalars(
            select(CallLogRow).where(CallLogRow.call_sid == call_sid).order_by(CallLogRow.id)
        ).all()
        traces = s.scalars(
            select(ToolTraceRow).where(ToolTraceRow.call_sid == call_sid).order_by(ToolTraceRow.id)
        ).all()
        appts = s.scalars(
            select(AppointmentRow)
            .where(AppointmentRow.call_sid == call_sid)
            .order_by(AppointmentRow.id)
        ).all()
        events = s.scalars(
            select(EventRow).where(EventRow.call_sid == call_sid).order_by(EventRow.id)
        ).all()
        return {
            "call_sid": row.call_sid,
            "stream_sid": row.stream_sid,
            "business_id": row.business_id,
            "caller_number": row.caller_number,
            "status": row.status,
            "turns": [
                {
                    "index": t.index,
                    "kind": t.kind,
                    "user_text": t.user_text,
                    "bot_text": t.bot_text,
                    "marks": t.marks or {},
                    "barged_in": t.barged_in,
                    "tools": t.tools or [],
                }
                for t in turns
            ],
            "tool_calls": [
                {
                    "name": t.tool,
                    "args": json.loads(t.args_json or "{}"),
                    "ok": t.ok,
                    "error": t.error,
                    "latency_ms": t.latency_ms,
                }
                for t in traces
            ],
            "appointments": [
                {
                    "appointment_id": a.id,
                    "start_iso": a.start_iso,
                    "end_iso": a.end_iso,
                    "service": a.service_id,
                    "customer_name": a.customer_name,
                    "customer_phone": a.customer_phone,
                }
                for a in appts
            ],
            "events": [{"type": e.type, "payload": json.loads(e.payload or "{}")} for e in events],
            "log": [f"{r.level} {r.message}" for r in log],
            "errors": list(row.errors or []),
            "metrics": row.metrics or {},
        }
