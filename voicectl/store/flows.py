"""Flow tables: one delivery per (outbox event, handler), each attempt at it, and the
offline outbox of messages that would have been sent (SEEDS.md seed 002 G).

- `flow_deliveries` is both the work queue and the message log. Its `idempotency_key`
  (`"<event id>:<handler>"`) is unique, so fanning an event out twice cannot create a
  second delivery, and the same key goes to the messenger with every attempt, so a retry
  after an ambiguous failure is recognised as the same message.
- A dispatcher owns a delivery while `claimed_by` is its id and `lease_until` is in the
  future. Claims are conditional `UPDATE ... WHERE` statements checked by row count, which
  is safe on SQLite (writers serialised) and on PostgreSQL (the `WHERE` is re-checked on
  the locked row under READ COMMITTED).
- `flow_attempts` keeps every try (worker, times, ok, error) for `voicectl flows show`.
- `outbox_messages` is what the `outbox` messenger "sends": one row per idempotency key.

Times are naive UTC datetimes, like the booking tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from voicectl.store.booking import _utcnow
from voicectl.store.db import Base

STATUSES = ("pending", "sent", "done", "skipped", "failed")
"""Delivery states: `pending` (to do, maybe after a back-off), `sent` (the messenger took
the message), `done` (the handler ran and had nothing to send, e.g. a summary stored
without WhatsApp), `skipped` (a message was due but could not be addressed, e.g. a booking
without a phone), `failed` (permanent error, or older than the maximum age)."""

FINAL_STATUSES = frozenset(STATUSES) - {"pending"}


class DeliveryRow(Base):
    """One handler's work on one outbox event, and the message it produced (if any)."""

    __tablename__ = "flow_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "handler", name="uq_flow_deliveries_event_handler"),
        Index("ix_flow_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    handler: Mapped[str] = mapped_column(String(64))
    business_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(96), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    prepared: Mapped[bool] = mapped_column(default=False)
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_addr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
    """When the event was written (the maximum age counts from here)."""
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)


class AttemptRow(Base):
    """One try at a delivery: who, when, how long (ms), and how it ended."""

    __tablename__ = "flow_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("flow_deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(96))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))
    """`sent`, `done`, `skipped`, `retry` or `failed`."""
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class OutboxMessageRow(Base):
    """A message the offline `outbox` messenger recorded instead of sending."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    to_addr: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
