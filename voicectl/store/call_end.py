"""The end of a call, written exactly once: the `call.ended` outbox event.

`write_call_ended` is the one writer of `call.ended` (the contract issue 9's flows read):
the live call's ending (`stop`, dropped socket, bot hang-up, status callback) and the
start-up recovery of calls left "in-progress" all go through it. Exactly once is enforced
by the database, not by Python: the `call_endings` row is keyed by CallSid and inserted in
the same transaction as the event, so two endings racing - in one process or several -
cannot both commit.

`call.ended` payload (JSON): `{call_sid, business_id, caller_number (E.164 or null),
started_at, ended_at (ISO 8601 UTC), duration_s (float s), outcome (completed | busy |
failed | no-answer | canceled | interrupted), ended_by (stop | disconnect | bot_hangup |
status_callback | startup_recovery | owner_lost: its process's lease lapsed, found by
another process - `store/leases.py`), turns (int: the call's turns, greeting included),
appointment_ids ([int]: its bookings; a hold not confirmed is not one, `store/holds.py`)}`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import DateTime, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from voicectl.store.booking import BOOKED, AppointmentRow, EventRow, begin_write
from voicectl.store.calls import CallRow, TurnRow
from voicectl.store.db import Base, Database
from voicectl.store.upsert import insert_once

CALL_ENDED = "call.ended"
OUTCOMES = ("completed", "busy", "failed", "no-answer", "canceled", "interrupted")
ENDED_BY = (
    "stop",
    "disconnect",
    "bot_hangup",
    "status_callback",
    "startup_recovery",
    "owner_lost",
)


class CallEndRow(Base):
    """One row per ended call; its primary key makes `call.ended` exactly-once."""

    __tablename__ = "call_endings"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))
    ended_by: Mapped[str] = mapped_column(String(24))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def write_call_ended(
    db: Database,
    call_sid: str,
    *,
    outcome: str,
    ended_by: str,
    ended_at: datetime | None = None,
    business_id: str | None = None,
) -> bool:
    """End call `call_sid` once: write its `call.ended` event (payload: module docstring)
    and set the call's status to `outcome`. Blocking (run it off the event loop).

    Args:
        db: the database.
        call_sid: Twilio CallSid.
        outcome: one of `OUTCOMES`.
        ended_by: one of `ENDED_BY`.
        ended_at: when it ended (default now, UTC).
        business_id: used when the call has no `calls` row (its stream never started).

    Returns:
        True if this call wrote the event; False when the call had already ended (or is
        unknown and no `business_id` was given) - nothing is written then.

    Raises:
        ValueError: `outcome` or `ended_by` is not in the contract.
    """
    with db.session() as s:
        begin_write(s)
        return write_call_ended_in(
            s,
            call_sid,
            outcome=outcome,
            ended_by=ended_by,
            ended_at=ended_at,
            business_id=business_id,
        )


def write_call_ended_in(
    s: Session,
    call_sid: str,
    *,
    outcome: str,
    ended_by: str,
    ended_at: datetime | None = None,
    business_id: str | None = None,
) -> bool:
    """`write_call_ended` within the open write transaction `s` (it takes effect at
    its commit; on SQLite, `begin_write` must have started it)."""
    if outcome not in OUTCOMES or ended_by not in ENDED_BY:
        raise ValueError(f"call.ended: bad outcome {outcome!r} or ended_by {ended_by!r}")
    ended = _utc(ended_at) or datetime.now(UTC)
    row = s.get(CallRow, call_sid)
    if row is None and not business_id:
        return False
    # The key decides, in this one statement: a racing ending (any process) that
    # committed first makes it insert nothing; one in flight makes it wait, then that.
    if not insert_once(
        s,
        CallEndRow,
        {"call_sid": call_sid, "outcome": outcome, "ended_by": ended_by, "ended_at": ended},
    ):
        return False
    started = _utc(row.started_at) if row is not None else ended
    bid = row.business_id if row is not None else str(business_id)
    turns = s.scalar(select(func.count()).where(TurnRow.call_sid == call_sid)) or 0
    appointment_ids = list(
        s.scalars(
            select(AppointmentRow.id)
            .where(AppointmentRow.call_sid == call_sid, AppointmentRow.status == BOOKED)
            .order_by(AppointmentRow.id)
        )
    )
    payload = {
        "call_sid": call_sid,
        "business_id": bid,
        "caller_number": row.caller_number if row is not None else None,
        "started_at": (started or ended).isoformat(),
        "ended_at": ended.isoformat(),
        "duration_s": round(max(0.0, (ended - (started or ended)).total_seconds()), 3),
        "outcome": outcome,
        "ended_by": ended_by,
        "turns": int(turns),
        "appointment_ids": appointment_ids,
    }
    s.add(
        EventRow(
            type=CALL_ENDED,
            payload=json.dumps(payload, ensure_ascii=False),
            business_id=bid,
            call_sid=call_sid,
        )
    )
    if row is not None:
        row.status = outcome
        row.ended_at = ended
    return True


def call_has_ended(db: Database, call_sid: str) -> bool:
    """True once `write_call_ended` has ended this call."""
    with db.session() as s:
        return s.get(CallEndRow, call_sid) is not None


def ended_calls(db: Database, call_sids: list[str]) -> dict[str, str]:
    """Which of `call_sids` have ended: CallSid -> outcome (one indexed query)."""
    if not call_sids:
        return {}
    with db.session() as s:
        rows = s.execute(
            select(CallEndRow.call_sid, CallEndRow.outcome).where(
                CallEndRow.call_sid.in_(call_sids)
            )
        )
        return {sid: outcome for sid, outcome in rows}
