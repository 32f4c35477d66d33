"""Call tables: one row per call, one per caller turn (with its latency marks), and the
call's log lines - so "what happened on call CA…?" is answered from the database alone
(SEEDS.md seed 002 H.2: each mark written once to the log / database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from voicectl.store.db import Base
from voicectl.telephony.twilio.messages import MAX_STREAM_SID_CHARS


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CallRow(Base):
    """A phone call. `caller_number` is E.164 or None (never "UNKNOWN", seed 001 item 2).

    `status` is "in-progress" while a stream serves it, then a Twilio final status
    ("completed", "busy", "failed", "no-answer", "canceled") or "interrupted" (the
    serving process died; closed at the next start-up with what was saved).
    """

    __tablename__ = "calls"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream_sid: Mapped[str | None] = mapped_column(String(MAX_STREAM_SID_CHARS))
    business_id: Mapped[str] = mapped_column(String(64))
    from_number: Mapped[str | None] = mapped_column(String(64))
    caller_number: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="in-progress")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[str | None] = mapped_column(Text)
    #: The process serving the call, `host:pid:instance` (start-up recovery reads it).
    owner: Mapped[str | None] = mapped_column(String(200))


class TurnRow(Base):
    """One caller turn: what was heard, what was answered, and its latency marks (ms)."""

    __tablename__ = "call_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(ForeignKey("calls.call_sid"), index=True)
    #: The stream the turn belongs to (a call may reconnect after a `<Gather>`).
    stream_sid: Mapped[str | None] = mapped_column(String(MAX_STREAM_SID_CHARS))
    index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    user_text: Mapped[str] = mapped_column(Text, default="")
    bot_text: Mapped[str] = mapped_column(Text, default="")
    marks: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    barged_in: Mapped[bool] = mapped_column(default=False)
    tools: Mapped[list[str]] = mapped_column(JSON, default=list)


class CallLogRow(Base):
    """One log line of a call (INFO and above), phone numbers already masked."""

    __tablename__ = "call_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(ForeignKey("calls.call_sid"), index=True)
    stream_sid: Mapped[str | None] = mapped_column(String(MAX_STREAM_SID_CHARS))
    level: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
