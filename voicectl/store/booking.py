"""Booking tables: businesses, services, leads, appointments, occupied slot cells, the
event outbox and tool traces.

Rules carried by the schema:

- `appointments.customer_phone` is nullable; "UNKNOWN" is never written (seed 000 item 3,
  seed 001 item 2). A booking without a phone is linked to a phone-less lead flagged
  `needs_follow_up`.
- Double booking is prevented by the database, not by Python: every appointment occupies
  the `CELL_MIN`-minute cells (UTC, counted from the epoch) its interval intersects, one
  `appointment_slots` row each, and `(business_id, cell)` is the primary key - so two
  transactions racing for one slot cannot both commit, across threads, processes and
  (on PostgreSQL) boxes.
- An appointment is `booked` (final) or `held`: a speculative turn's reservation
  (`store/holds.py`), whose cells are taken like a booking's but which has no lead and no
  outbox event until it is confirmed, and which lapses at `hold_until`.
- `events` is the durable outbox the flows engine drains (seed 002 G): `processed_at` is
  NULL until handled.
- `tool_traces` holds one row per agent tool call, arguments already masked (seed 002 H.3).

Times: `*_utc` columns are naive UTC datetimes; `*_iso` columns keep the business-local
ISO 8601 string with its offset (e.g. `2026-11-21T12:00:00+02:00`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    insert,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from voicectl.store.db import Base

BOOKED, HELD = "booked", "held"
"""`appointments.status` values: a booking, and a speculative turn's hold (`store/holds.py`)."""

CELL_MIN = 5
"""Granularity of occupied cells in minutes. Any two overlapping intervals share at least
one cell they both intersect, whatever grid either was booked on."""


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class BusinessRow(Base):
    """A business's booking policy (seeded from `voicectl/data/businesses.yaml`).

    `opening_hours_json` maps weekday names (`sun` .. `sat`) to lists of `"HH:MM-HH:MM"`
    ranges (seed 002 C.1 `opening_hours_json[weekday]`); `phone_numbers_json` is a list of
    E.164 Twilio `To` numbers.
    """

    __tablename__ = "businesses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Jerusalem")
    allow_24_7: Mapped[bool] = mapped_column(Boolean, default=False)
    slot_size_min: Mapped[int] = mapped_column(Integer, default=30)
    min_notice_min: Mapped[int] = mapped_column(Integer, default=60)
    booking_window_days: Mapped[int] = mapped_column(Integer, default=30)
    require_phone_before_booking: Mapped[bool] = mapped_column(Boolean, default=False)
    opening_hours_json: Mapped[str] = mapped_column(Text, default="{}")
    phone_numbers_json: Mapped[str] = mapped_column(Text, default="[]")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow, onupdate=_utcnow)


class ServiceRow(Base):
    """One bookable service of a business; `aliases_json` is a JSON list of Hebrew aliases."""

    __tablename__ = "services"

    business_id: Mapped[str] = mapped_column(
        ForeignKey("businesses.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    duration_min: Mapped[int] = mapped_column(Integer)
    aliases_json: Mapped[str] = mapped_column(Text, default="[]")
    position: Mapped[int] = mapped_column(Integer, default=0)


class LeadRow(Base):
    """A customer of a business: one per phone number, or a phone-less lead per booking
    flagged `needs_follow_up` (seed 001 item 2: "mark the record 'no phone'")."""

    __tablename__ = "leads"
    __table_args__ = (UniqueConstraint("business_id", "phone", name="uq_leads_business_phone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_id: Mapped[str] = mapped_column(String(64), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    needs_follow_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow, onupdate=_utcnow)


class AppointmentRow(Base):
    """An appointment: `status` `booked`, or `held` until its speculative turn commits
    (`store/holds.py`). `customer_phone` is E.164 or NULL (never "UNKNOWN")."""

    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_business_start", "business_id", "start_utc"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_id: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(64))
    start_utc: Mapped[datetime] = mapped_column(DateTime)
    end_utc: Mapped[datetime] = mapped_column(DateTime)
    start_iso: Mapped[str] = mapped_column(String(40))
    end_iso: Mapped[str] = mapped_column(String(40))
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), nullable=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default=BOOKED)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
    hold_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    """A hold's expiry, naive UTC by the database's clock; NULL for a booking."""
    hold_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """A hold's random key, kept once confirmed: the hold is settled by id AND token, since
    SQLite may give a deleted row's id to the next appointment."""


class AppointmentSlotRow(Base):
    """One occupied `CELL_MIN`-minute cell; the primary key forbids double booking."""

    __tablename__ = "appointment_slots"

    business_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cell: Mapped[int] = mapped_column(Integer, primary_key=True)
    """UTC minutes since the epoch // CELL_MIN."""
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )


class EventRow(Base):
    """Outbox row written in the same transaction as the change it announces.

    `payload` is JSON text; for `appointment.created`: `{appointment_id, start_iso,
    service, customer_name, customer_phone, business_id, call_sid}`.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_pending", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    business_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ToolTraceRow(Base):
    """One agent tool call (seed 002 H.3): masked argument snapshot, outcome, latency (ms)."""

    __tablename__ = "tool_traces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    business_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tool: Mapped[str] = mapped_column(String(64))
    args_json: Mapped[str] = mapped_column(Text)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(64), nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)


_INSERT_TRACES = insert(ToolTraceRow.__table__)


def insert_traces(conn: Any, rows: list[dict[str, Any]]) -> None:
    """Insert `tool_traces` rows (dicts of its columns but `id`/`created_at`) on `conn`, a
    Session or Connection inside the caller's transaction; nothing for no rows. One
    prebuilt Core statement: no ORM objects per trace (docs/benchmarks.md, issue 12)."""
    if rows:
        conn.execute(_INSERT_TRACES, rows)


def begin_write(session: Session) -> None:
    """Start `session`'s transaction as a write transaction, before it reads anything.

    On SQLite this issues `BEGIN IMMEDIATE`, so the reads that decide a write (is the slot
    free? does the lead exist?) run under the database's write lock - serialised across
    threads and processes, and no stale-snapshot `database is locked` on upgrade.

    On PostgreSQL it does nothing: writers run concurrently under READ COMMITTED and the
    keys decide - a racing insert of a taken slot cell, call ending or idempotency key
    waits for the first transaction and fails with a unique violation (`IntegrityError`)
    once it commits, and conditional `UPDATE ... WHERE` claims re-check their condition on
    the locked row. Every caller handles that outcome; none relies on the read alone.
    Must be the session's first statement.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    conn = session.connection()
    dbapi = conn.connection.dbapi_connection
    if dbapi is not None and not getattr(dbapi, "in_transaction", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
