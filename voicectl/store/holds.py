"""Held reservations: a speculative turn's booking, written at once but not yet final.

With speculative endpointing (docs/vad.md) a turn may run before its utterance is known
to be over. Its `create_appointment` does not wait for the commit point: it writes a
*hold* (`voicectl.booking.appointments.create_appointment(..., hold=True)`) - the
`appointments` row with `status = "held"` and `hold_until` set, and its
`appointment_slots` cells - in one short transaction, so the slot is taken at once by the
same primary key that forbids double booking, and the agent can say the booked time at the
floor. A hold has no lead and writes no outbox event, so the after-call flows
(confirmation, summary) never see it. Then one of:

- the turn commits: `appointments.confirm_hold` turns it into the booking (status
  `booked`, its lead, its `appointment.created` event, exactly once: a conditional
  `UPDATE ... WHERE status = 'held'`);
- the turn is taken back: `release` deletes it, and the slot is free again;
- its call or process dies: at `hold_until` (`HOLD_TTL_S` after it was written) it stops
  counting. `find_slots` offers its cells again (`live`), a booking that wants them
  deletes it in its own transaction (`drop_expired`), and `sweep_expired` clears the rest
  (the serving process's housekeeping, every `LEASE_RENEW_S`).

No transaction is held open across the resume window: the hold, the confirmation and the
release are each their own short transaction.

Clock: `hold_until` and its checks use the database's clock on PostgreSQL (`now()`, UTC
session time zone), so boxes' clocks need not agree (as `store/leases.py`); SQLite is one
box, one clock. A hold past `hold_until` that nobody took yet can still be confirmed: its
cells were never given up.

All functions here block: run them off the event loop (`voicectl.executors.run("db", ...)`).
"""

from __future__ import annotations

import functools
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.orm import Session

from voicectl.store.booking import HELD, AppointmentRow, AppointmentSlotRow, begin_write

if TYPE_CHECKING:
    from voicectl.store.db import Database

#: How long a hold counts without being confirmed, seconds. The session decides a
#: speculative turn within its resume window (`turn_resume_window_ms` <= 3 s) after the end
#: of speech, or by the clock 200 ms after frames stop, and a `stop` commits it; 30 s is
#: ten times the longest of those, and bounds how long a crashed process's hold keeps a
#: slot from other callers.
HOLD_TTL_S = 30.0


def db_now(s: Session) -> Any:
    """'Now' for hold checks, usable as a SQL value: `now()` (the server's clock) on
    PostgreSQL; naive UTC from this process on SQLite."""
    if s.get_bind().dialect.name == "postgresql":
        return func.now()
    return datetime.now(UTC).replace(tzinfo=None)


def expiry(s: Session, ttl_s: float = HOLD_TTL_S) -> Any:
    """The `hold_until` of a hold written now (a SQL value on PostgreSQL)."""
    return db_now(s) + timedelta(seconds=ttl_s)


def live(dialect: str) -> Any:
    """SQL condition on `AppointmentRow`: the appointment takes its cells - a booking, or
    a hold not yet expired - for a statement built once per `dialect` (a name, e.g.
    "sqlite"): 'now' is `now()` on PostgreSQL, on SQLite the bound parameter `db_now`,
    whose value `now_params` gives at execution."""
    now = func.now() if dialect == "postgresql" else bindparam("db_now")
    return or_(AppointmentRow.status != HELD, AppointmentRow.hold_until > now)


def now_params(s: Session) -> dict[str, Any]:
    """The parameters `live`'s condition needs when executed in `s` (none on PostgreSQL)."""
    if s.get_bind().dialect.name == "postgresql":
        return {}
    return {"db_now": db_now(s)}


def drop_expired(s: Session, business_id: str | None = None, cells: range | None = None) -> int:
    """Delete the expired holds (of `business_id`, occupying any of `cells`) in `s`'s
    transaction; returns how many.

    Race-safe: the `DELETE` re-checks `status` and `hold_until` on each row it deletes (on
    PostgreSQL a row being confirmed is locked; once confirmed it no longer matches), and
    only the rows it deleted lose their cells (the foreign key's `ON DELETE CASCADE`, and
    explicitly). Core statements built once per dialect: every booking runs this inside
    its write transaction, where building and compiling an ORM delete cost more than
    running it (`python -m voicectl.booking.bench`).

    Raises:
        ValueError: `cells` without `business_id`.
    """
    conn = s.connection()
    dialect = conn.dialect.name
    params = now_params(s)
    if cells is None:
        stmt = _drop_stmt(dialect, scoped=False)
        if business_id is not None:
            stmt = stmt.where(AppointmentRow.business_id == business_id)
    elif business_id is None:
        raise ValueError("drop_expired: cells need a business_id")
    else:
        stmt = _drop_stmt(dialect, scoped=True)
        params.update(b_business=business_id, b_lo=cells.start, b_hi=cells.stop)
    ids = list(conn.execute(stmt, params).scalars())
    if ids:
        conn.execute(_DROP_CELLS, {"b_ids": ids})
    return len(ids)


_DROP_CELLS = delete(AppointmentSlotRow).where(
    AppointmentSlotRow.appointment_id.in_(bindparam("b_ids", expanding=True))
)


@functools.lru_cache(maxsize=8)  # (dialect, scoped): a handful
def _drop_stmt(dialect: str, scoped: bool) -> Any:
    """`drop_expired`'s `DELETE ... RETURNING id`: every expired hold, or (`scoped`) those
    of business `b_business` with a cell in [`b_lo`, `b_hi`)."""
    now = func.now() if dialect == "postgresql" else bindparam("db_now")
    where = [AppointmentRow.status == HELD, AppointmentRow.hold_until <= now]
    if scoped:
        where.append(
            AppointmentRow.id.in_(
                select(AppointmentSlotRow.appointment_id).where(
                    AppointmentSlotRow.business_id == bindparam("b_business"),
                    AppointmentSlotRow.cell >= bindparam("b_lo"),
                    AppointmentSlotRow.cell < bindparam("b_hi"),
                )
            )
        )
        where.append(AppointmentRow.business_id == bindparam("b_business"))
    return delete(AppointmentRow.__table__).where(*where).returning(AppointmentRow.id)


def this_hold(appointment_id: int, token: str) -> list[Any]:
    """SQL conditions on `AppointmentRow`: the row is still hold `appointment_id` with
    `hold_token` `token`. The token matters: an id alone could name another appointment
    (SQLite reuses a deleted row's id)."""
    return [
        AppointmentRow.id == appointment_id,
        AppointmentRow.hold_token == token,
        AppointmentRow.status == HELD,
    ]


def new_token() -> str:
    """A hold's `hold_token`: 16 random hex digits."""
    return secrets.token_hex(8)


def release(db: Database, appointment_id: int, token: str) -> bool:
    """Delete hold `appointment_id` (with `hold_token` `token`) and its cells: its turn
    was taken back. True if it was still that hold; a booking, another hold that got the
    id (SQLite reuses a deleted row's id) or an unknown id is left alone: False."""
    with db.session() as s:
        begin_write(s)
        gone = s.scalars(
            delete(AppointmentRow)
            .where(*this_hold(appointment_id, token))
            .returning(AppointmentRow.id)
        ).all()
        if gone:
            s.execute(
                delete(AppointmentSlotRow).where(
                    AppointmentSlotRow.appointment_id == appointment_id
                )
            )
        return bool(gone)


def sweep_expired(db: Database) -> int:
    """Delete every expired hold (all businesses); returns how many. For housekeeping."""
    with db.session() as s:
        begin_write(s)
        return drop_expired(s)
