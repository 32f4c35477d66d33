"""Which calls this box has admitted, and which process streams each call now.

`voicectl serve --workers N` (and N boxes behind a load balancer) answer `/voice` in one
process and may take its `/media` stream in another, so nothing about a call between
the two lives in one process's memory. What `/voice` learned travels in the stream's
signed `<Parameter>`s (`telephony/twilio/security.py`); the database holds only what
several processes must agree on:

- `stream_tokens`: one row per issued stream token (its nonce). `/voice` and the
  `<Gather>` action insert it when they answer; the stream's `start` marks it used -
  a compare-and-set, so a token opens at most one stream, in whichever process, ever
  (issue 6 item 7). Unused, unexpired rows are the calls answered but not yet streaming
  (the concurrent-call cap counts them); expired rows are purged as new ones are issued.
- `live_streams`: one row per call with a live media stream, keyed by CallSid, so a
  second stream of a live call is refused by the database's primary key in any process.
  It is released only after the stream's record, conversation and ending are saved,
  so a stream resumed after a `<Gather>` waits for the row to go and then sees what the
  previous stream saved. Rows of a process that died are taken over (and cleared at
  start-up); a row its own live process no longer holds (the record writer gave up the
  stream's last write) is released by that process's periodic `release_orphans`.

All functions here block: run them off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    DateTime,
    Index,
    String,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    union,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from voicectl.store.booking import begin_write
from voicectl.store.db import Base, Database, lock_transaction
from voicectl.store.upsert import insert_once
from voicectl.telephony.twilio.messages import MAX_STREAM_SID_CHARS

#: Why `claim_stream` refused a start.
UNKNOWN_TOKEN = "unknown stream token"
USED_TOKEN = "stream token already used"
LIVE = "a stream for this call is already live"


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


class StreamTokenRow(Base):
    """An issued stream token: the nonce its signed parameters carry."""

    __tablename__ = "stream_tokens"
    __table_args__ = (Index("ix_stream_tokens_host_open", "host", "used_at", "expires_at"),)

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    business_id: Mapped[str] = mapped_column(String(64))
    #: The box that answered (`socket.gethostname()`): the call cap is per box.
    host: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LiveStreamRow(Base):
    """The one live media stream of a call, and the process serving it."""

    __tablename__ = "live_streams"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream_sid: Mapped[str] = mapped_column(String(MAX_STREAM_SID_CHARS))
    #: `records.process_owner`: `host:pid:instance`.
    owner: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(200), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# The call-start statements are built once, with bound parameters: building a statement
# (coercions, cache key) cost SQLAlchemy more than running it, once per `/voice` and per
# stream start (docs/benchmarks.md "Issue 12: per-message parse, call-start statements").
_tok = StreamTokenRow.__table__
_live = LiveStreamRow.__table__

#: This box's calls in flight: live, or answered with an unused, unexpired token (a call
#: in both counts once: `UNION`). Parameters: host, now.
_FLIGHT = union(
    select(_live.c.call_sid).where(_live.c.host == bindparam("host")),
    select(_tok.c.call_sid).where(
        _tok.c.host == bindparam("host"),
        _tok.c.used_at.is_(None),
        _tok.c.expires_at > bindparam("now", type_=_tok.c.expires_at.type),
    ),
).subquery()
#: (how many calls are in flight, whether `call_sid` is one of them).
_COUNT_FLIGHT = select(
    func.count(),
    func.coalesce(func.max(case((_FLIGHT.c.call_sid == bindparam("call_sid"), 1), else_=0)), 0),
).select_from(_FLIGHT)
_PURGE_TOKENS = delete(_tok).where(
    _tok.c.expires_at < bindparam("now", type_=_tok.c.expires_at.type)
)
_INSERT_TOKEN = insert(_tok)
_TOKEN = select(_tok.c.call_sid, _tok.c.expires_at, _tok.c.used_at).where(
    _tok.c.nonce == bindparam("nonce")
)
_LIVE_OWNER = select(_live.c.owner).where(_live.c.call_sid == bindparam("call_sid"))
_DROP_LIVE_OF = delete(_live).where(
    _live.c.call_sid == bindparam("call_sid"), _live.c.owner == bindparam("owner")
)
_USE_TOKEN = (
    update(_tok)
    .where(_tok.c.nonce == bindparam("b_nonce"), _tok.c.used_at.is_(None))
    .values(used_at=bindparam("b_now", type_=_tok.c.used_at.type))
)
_RELEASE = delete(_live).where(
    _live.c.call_sid == bindparam("call_sid"), _live.c.stream_sid == bindparam("stream_sid")
)


def _in_flight(s: Session, host: str, now: datetime, call_sid: str = "") -> tuple[int, bool]:
    """(calls in flight on `host`, whether `call_sid` is one of them)."""
    n, member = s.execute(_COUNT_FLIGHT, {"host": host, "now": now, "call_sid": call_sid}).one()
    return int(n), bool(member)


def issue_token(
    db: Database,
    *,
    nonce: str,
    call_sid: str,
    business_id: str,
    host: str,
    ttl_s: float,
    max_in_flight: int | None = None,
) -> bool:
    """Record an issued stream token, unless the box is full.

    Args:
        nonce: the token's nonce (`security.new_nonce`).
        call_sid, business_id: the call it is for.
        host: this box (`socket.gethostname()`).
        ttl_s: seconds until the token expires (also how long an unused one counts).
        max_in_flight: the box's cap (`max_concurrent_calls`): with this many calls live
            or answered-and-not-yet-streaming on `host`, a new call is refused (a call
            already counted is not). None: no cap (the `<Gather>` return of a live call).

    Returns:
        True when issued; False when the cap refused it (nothing written).
    """
    now = _now()
    with db.session() as s:
        begin_write(s)  # SQLite: the count and the insert under one write lock
        lock_transaction(s, f"voicectl.stream_tokens:{host}")  # PostgreSQL: per box
        if max_in_flight is not None:
            n, counted = _in_flight(s, host, now, call_sid)
            if not counted and n >= max_in_flight:
                return False
        s.execute(_PURGE_TOKENS, {"now": now})
        s.execute(
            _INSERT_TOKEN,
            {
                "nonce": nonce,
                "call_sid": call_sid,
                "business_id": business_id,
                "host": host,
                "issued_at": now,
                "expires_at": now + timedelta(seconds=ttl_s),
                "used_at": None,
            },
        )
    return True


def calls_in_flight(db: Database, host: str) -> int:
    """Calls of box `host` with a live stream or an unused, unexpired token."""
    with db.session() as s:
        return _in_flight(s, host, _now())[0]


def claim_stream(
    db: Database,
    *,
    nonce: str,
    call_sid: str,
    stream_sid: str,
    owner: str,
    host: str,
    owner_dead: Callable[[str], bool] | None = None,
) -> str | None:
    """Use token `nonce` to open the live stream of `call_sid` in process `owner`.

    One transaction: the token must have been issued for `call_sid` and be unused, and
    the call must have no live stream (a live row whose owner `owner_dead(owner)` says
    is gone is taken over). On success the token is used up and the live row is ours.

    Returns:
        None when claimed; else `UNKNOWN_TOKEN`, `USED_TOKEN` or `LIVE` (nothing changed:
        a `LIVE` start may retry once the earlier stream is released).
    """
    now = _now()
    with db.session() as s:
        begin_write(s)
        tok = s.execute(_TOKEN, {"nonce": nonce}).first()
        if tok is None or tok.call_sid != call_sid or _utc(tok.expires_at) <= now:
            return UNKNOWN_TOKEN
        if tok.used_at is not None:
            return USED_TOKEN
        live_owner = s.execute(_LIVE_OWNER, {"call_sid": call_sid}).scalar()
        if live_owner is not None:
            if owner_dead is None or not owner_dead(live_owner):
                return LIVE
            s.execute(_DROP_LIVE_OF, {"call_sid": call_sid, "owner": live_owner})
        # The call's key decides, in one statement: another process that claimed the
        # call since our read (committed or in flight) makes this insert nothing.
        if not insert_once(
            s,
            LiveStreamRow,
            {
                "call_sid": call_sid,
                "stream_sid": stream_sid,
                "owner": owner,
                "host": host,
                "started_at": now,
            },
        ):
            s.rollback()
            return LIVE
        used = s.execute(_USE_TOKEN, {"b_nonce": nonce, "b_now": now})
        if used.rowcount != 1:  # type: ignore[attr-defined]
            s.rollback()  # another process used it since our read: our live row goes too
            return USED_TOKEN
    return None


def stream_is_live(db: Database, call_sid: str) -> bool:
    """True while some process holds the live stream of `call_sid`."""
    with db.session() as s:
        return s.execute(_LIVE_OWNER, {"call_sid": call_sid}).first() is not None


def release_stream(db: Database, call_sid: str, stream_sid: str) -> None:
    """Drop the live row of stream `stream_sid` (a no-op if it is not the live one)."""
    with db.session() as s:
        release_stream_in(s, call_sid, stream_sid)


def release_stream_in(s: Session, call_sid: str, stream_sid: str) -> None:
    """`release_stream` within the open transaction `s` (it takes effect at its commit)."""
    s.execute(_RELEASE, {"call_sid": call_sid, "stream_sid": stream_sid})


def release_orphans(db: Database, owner: str, held: Callable[[str], bool]) -> list[str]:
    """Delete the live rows of process `owner` whose call it no longer holds.

    A live row is normally released by the stream's last write, after its record; if the
    record writer gave that write up (the database failed for longer than its retries),
    the row would stay until a restart and the call would count towards the box's
    `max_concurrent_calls` for good. The process calls this now and then.

    Args:
        db: the database.
        owner: this process's `records.process_owner`.
        held: `held(call_sid)` is True while the process still serves the call, is still
            opening its stream, or still has its record writes queued (their last step
            releases the row, so a resumed stream sees the saved conversation first).

    Returns:
        The CallSids whose row was deleted.
    """
    with db.session() as s:
        rows = s.execute(
            select(LiveStreamRow.call_sid, LiveStreamRow.stream_sid).where(
                LiveStreamRow.owner == owner
            )
        ).all()
        gone = [(call_sid, sid) for call_sid, sid in rows if not held(call_sid)]
        for call_sid, sid in gone:  # by stream too: a new stream of the call is left alone
            s.execute(
                delete(LiveStreamRow).where(
                    LiveStreamRow.call_sid == call_sid,
                    LiveStreamRow.stream_sid == sid,
                    LiveStreamRow.owner == owner,
                )
            )
    return [call_sid for call_sid, _ in gone]


def token_business(db: Database, call_sid: str) -> str | None:
    """The business of the newest token issued for `call_sid` (None: never answered)."""
    with db.session() as s:
        return s.scalar(
            select(StreamTokenRow.business_id)
            .where(StreamTokenRow.call_sid == call_sid)
            .order_by(StreamTokenRow.issued_at.desc())
            .limit(1)
        )


def clear_dead_owners(db: Database, owner_dead: Callable[[str], bool]) -> int:
    """Start-up: delete live rows whose process is gone; returns how many."""
    with db.session() as s:
        rows = s.scalars(select(LiveStreamRow)).all()
        dead = [r for r in rows if owner_dead(r.owner)]
        for r in dead:
            s.delete(r)
        return len(dead)


def count_rows(db: Database) -> tuple[int, int]:
    """(stream_tokens, live_streams) row counts (tests, diagnostics)."""
    with db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(StreamTokenRow)) or 0,
            s.scalar(select(func.count()).select_from(LiveStreamRow)) or 0,
        )
