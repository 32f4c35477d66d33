"""A call's conversation between its media streams (the `<Gather>` fallback).

Moving a live call to a TwiML `<Gather>` ends its media stream; the `<Connect><Stream>`
that `/webhook/dtmf_done` answers opens a new one - possibly in another process. What the
new stream needs to continue the SAME conversation (history, the agent's state, the next
turn's number, and what the Gather returned) lives here, keyed by CallSid, not in one
process's memory. The caller number itself lives on the call's row (`calls.caller_number`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from voicectl.agent.base import Message, TurnInput
from voicectl.logs import get_logger
from voicectl.store.booking import begin_write
from voicectl.store.calls import CallRow
from voicectl.store.db import Base, Database
from voicectl.store.upsert import upsert

_log = get_logger("store")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CallStateRow(Base):
    """The conversation of a call as of its last stream's end, and a pending resume."""

    __tablename__ = "call_state"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    history_json: Mapped[str] = mapped_column(Text, default="[]")
    agent_state_json: Mapped[str] = mapped_column(Text, default="{}")
    next_turn: Mapped[int] = mapped_column(Integer, default=0)
    resume_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    resume_text: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_utcnow, onupdate=_utcnow
    )


@dataclass
class SavedCall:
    """What a resumed stream continues from."""

    history: list[Message] = field(default_factory=list)
    agent_state: dict[str, Any] = field(default_factory=dict)
    next_turn: int = 0
    resume: TurnInput | None = None
    caller_number: str | None = None


def save_call_state(
    db: Database,
    call_sid: str,
    history: list[Message],
    agent_state: dict[str, Any],
    next_turn: int,
) -> None:
    """Store the conversation at the end of a stream (blocking; run off the loop)."""
    with db.session() as s:
        save_call_state_in(s, call_sid, history, agent_state, next_turn)


def save_call_state_in(
    s: Session,
    call_sid: str,
    history: list[Message],
    agent_state: dict[str, Any],
    next_turn: int,
) -> None:
    """`save_call_state` within the open transaction `s` (one statement)."""
    hist = [
        {"role": m.role, "content": m.content, "name": m.name, "interrupted": m.interrupted}
        for m in history
    ]
    try:
        state_json = json.dumps(agent_state, ensure_ascii=False, default=str)
    except (TypeError, ValueError) as exc:
        _log.warning("call %s: agent state not saved (%s)", call_sid, exc)
        state_json = "{}"
    # One statement, whoever else writes this call's state now (a `<Gather>` result
    # arriving in another process before this stream's end is saved).
    upsert(
        s,
        CallStateRow,
        {
            "call_sid": call_sid,
            "history_json": json.dumps(hist, ensure_ascii=False),
            "agent_state_json": state_json,
            "next_turn": next_turn,
            "updated_at": _utcnow(),
        },
        update=("history_json", "agent_state_json", "next_turn", "updated_at"),
    )


def take_call_state(db: Database, call_sid: str) -> SavedCall | None:
    """The saved conversation of `call_sid` (None for a new call); the pending resume is
    consumed, so a reconnect does not answer the same Gather twice."""
    with db.session() as s:
        begin_write(s)  # SQLite: read and consume under the write lock
        # PostgreSQL: a Gather result committed meanwhile is not overwritten by our consume.
        row = s.get(CallStateRow, call_sid, with_for_update=True)
        if row is None:
            return None
        call = s.get(CallRow, call_sid)
        saved = SavedCall(
            history=[Message(**m) for m in json.loads(row.history_json or "[]")],
            agent_state=json.loads(row.agent_state_json or "{}"),
            next_turn=row.next_turn,
            resume=TurnInput(row.resume_kind, row.resume_text)  # type: ignore[arg-type]
            if row.resume_kind
            else None,
            caller_number=call.caller_number if call is not None else None,
        )
        row.resume_kind, row.resume_text = None, ""
        return saved


def gather_returned(db: Database, call_sid: str, digits: str, number: str | None) -> bool:
    """Store what a `<Gather>` returned: the number (E.164) on the call, and what the
    resumed stream answers first (`dtmf_phone`, `dtmf_invalid`, or `dtmf_skipped` for no
    input). Returns False for a call this server never streamed (nothing is written)."""
    if number:
        kind, text = "dtmf_phone", number
    elif digits:
        kind, text = "dtmf_invalid", digits[:32]
    else:
        kind, text = "dtmf_skipped", ""
    with db.session() as s:
        begin_write(s)
        call = s.get(CallRow, call_sid, with_for_update=True)
        if call is None:
            return False
        if number:
            call.caller_number = number
        # The Gather may answer before the stream's end is saved (in any process): one
        # statement either way, never a read-then-insert that two writers can both pass.
        upsert(
            s,
            CallStateRow,
            {
                "call_sid": call_sid,
                "resume_kind": kind,
                "resume_text": text,
                "updated_at": _utcnow(),
            },
            update=("resume_kind", "resume_text", "updated_at"),
        )
        return True
