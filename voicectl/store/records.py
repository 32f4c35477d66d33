"""Saving a call as it goes, and reading it back as one record.

A call is written when its stream starts, after every finished turn, and when it ends -
never per frame (seed 002 D.3, E.2) - so a crash loses at most the turn in flight. Every
write goes through `RecordWriter`: one thread per process that owns the call-path
database writes, so the event loop never waits on SQLite's lock (a 2 s lock held by
another process used to stop every live call's audio for 2 s; issue 6 item 5).

Each write is a full *snapshot* of the call (row, turns, log lines), written as an
idempotent upsert. Snapshots of one call that queue up while the database is busy are
merged into the newest one, so the queue holds at most one entry per call and a stall
cannot grow memory. A failed write is retried with back-off and, if it still fails,
logged as an ERROR naming the call - never dropped silently.

At start-up, `recover_interrupted` closes calls a dead process left "in-progress" as
"interrupted", keeping the turns and log lines saved so far (issue 6 item 6); while
serving, `close_lost_owners` does the same for processes on any box whose lease lapsed
(`store/leases.py`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from voicectl.logs import get_logger, scrub_surrogates
from voicectl.store.booking import (
    AppointmentRow,
    EventRow,
    ToolTraceRow,
    begin_write,
    insert_traces,
)
from voicectl.store.calls import CallLogRow, CallRow, TurnRow
from voicectl.store.db import Database, clip_to
from voicectl.store.sqlite_writers import yield_to_call_path
from voicectl.store.upsert import insert_once

_log = get_logger("records")

#: Back-off between attempts of a failed write (s). With SQLite's 5 s busy timeout per
#: attempt this rides out a write lock held for about half a minute.
RETRY_DELAYS_S = (0.2, 1.0, 2.0, 5.0)

#: Twilio's final call statuses (TWILIO.md: call status callback), plus ours.
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled", "interrupted"})


def process_owner(instance: str) -> str:
    """The `calls.owner` of calls this process serves: `host:pid:instance`."""
    return f"{socket.gethostname()}:{os.getpid()}:{instance}"


@dataclass
class CallSnapshot:
    """Everything saved about one call at one moment (plain data, taken on the loop).

    Attributes:
        started: this snapshot (re)opens the call: status "in-progress", no end time.
        ended: this stream is over: the call's status becomes `end_status` ("completed",
            or "gather" while the call waits in a `<Gather>`) unless a final status (a
            status callback's, "interrupted") is already there; `ended_at` is set.
        turns: `CallSession.record()["turns"]` of the current stream.
        log_lines: every (level, message) of the call so far, in order.
        traces: `tool_traces` rows not handed to the writer before (`TraceRows.take`);
            stored in the same transaction as the snapshot, each once.
    """

    call_sid: str
    stream_sid: str | None
    business_id: str
    caller_number: str | None
    owner: str | None = None
    from_number: str | None = None
    started: bool = False
    ended: bool = False
    end_status: str = "completed"
    turns: list[dict[str, Any]] = field(default_factory=list)
    log_lines: list[tuple[str, str]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    traces: list[dict[str, Any]] = field(default_factory=list)


class TraceRows:
    """A call's `tool_traces` rows on their way to its record (`BookingTools.store_trace`).

    The agent's threads `append` rows as tools run; each record snapshot `take`s what has
    come since the last one, and the `RecordWriter` stores them with it - one transaction
    per turn instead of one more per tool call. After `close` (the call's last snapshot
    was taken) a late row, e.g. a hold confirmation that failed after the caller hung up,
    is inserted at once. Thread-safe.

    Args:
        db: where late rows go.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._rows: list[dict[str, Any]] = []
        self._closed = False
        self._lock = threading.Lock()

    def append(self, row: dict[str, Any]) -> None:
        """Queue one row (after `close`: insert it now; raises what the insert raises)."""
        with self._lock:
            if not self._closed:
                self._rows.append(row)
                return
        with self.db.session() as s:
            insert_traces(s, [row])

    def take(self) -> list[dict[str, Any]]:
        """The rows queued since the last `take`, oldest first."""
        with self._lock:
            rows, self._rows = self._rows, []
        return rows

    def close(self) -> list[dict[str, Any]]:
        """`take` for the last time: rows from now on are inserted at once."""
        with self._lock:
            self._closed = True
            rows, self._rows = self._rows, []
        return rows


def snapshot(
    session: Any,
    log_lines: list[tuple[str, str]],
    *,
    owner: str | None = None,
    from_number: str | None = None,
    started: bool = False,
    ended: bool = False,
    end_status: str = "completed",
    traces: list[dict[str, Any]] | None = None,
) -> CallSnapshot:
    """Copy what is to be saved of `session` (a `CallSession`) right now, with the
    `tool_traces` rows `traces` (from `TraceRows.take`, or `close` for the last one)."""
    rec = session.record()
    return CallSnapshot(
        call_sid=session.call_sid,
        stream_sid=session.stream_sid,
        business_id=session.business_id,
        caller_number=session.caller_number,
        owner=owner,
        from_number=from_number,
        started=started,
        ended=ended,
        end_status=end_status,
        turns=rec["turns"],
        log_lines=list(log_lines),
        metrics=rec["metrics"],
        errors=rec["errors"],
        traces=traces or [],
    )


def _clean(value: Any) -> Any:
    """`value` with lone surrogates and NUL characters replaced by U+FFFD in every string
    inside it (neither can be stored: UTF-8 has no surrogates, PostgreSQL text no NUL)."""
    if isinstance(value, str):
        return scrub_surrogates(value).replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


_CALLS, _TURNS, _LOG = CallRow.__table__, TurnRow.__table__, CallLogRow.__table__
#: The columns of a turn row a snapshot sets (all but its id and keys).
_TURN_FIELDS = ("index", "kind", "user_text", "bot_text", "marks", "barged_in", "tools")
#: The call row's columns a snapshot may set.
_CALL_FIELDS = (
    "stream_sid",
    "business_id",
    "caller_number",
    "from_number",
    "owner",
    "status",
    "ended_at",
    "metrics",
    "errors",
)


def _of_stream(table: Any) -> Any:
    """WHERE: one stream's rows of `table` (turns, log lines); binds `sid` and `stream`
    (a stream id of None matches NULL, as `== None` would)."""
    return (table.c.call_sid == bindparam("sid")) & table.c.stream_sid.is_not_distinct_from(
        bindparam("stream")
    )


# The statements of a save, built once (SQLAlchemy then compiles each once per engine).
_SELECT_CALL = (
    select(*(_CALLS.c[f] for f in _CALL_FIELDS))
    .where(_CALLS.c.call_sid == bindparam("sid"))
    .with_for_update()
)
_SELECT_TURNS = (
    select(_TURNS.c.id, *(_TURNS.c[f] for f in _TURN_FIELDS))
    .where(_of_stream(_TURNS))
    .order_by(_TURNS.c.id)
)
_DELETE_TURNS = delete(_TURNS).where(_of_stream(_TURNS))
_INSERT_TURN = insert(_TURNS)
_UPDATE_TURN = update(_TURNS).where(_TURNS.c.id == bindparam("row_id"))
_DELETE_TURN = delete(_TURNS).where(_TURNS.c.id == bindparam("row_id"))
_COUNT_LOG = select(func.count()).select_from(_LOG).where(_of_stream(_LOG))
_INSERT_LOG = insert(_LOG)


def save_call(
    db: Database,
    snap: CallSnapshot,
    traces: list[dict[str, Any]] | None = None,
    then: Sequence[Callable[[Session], object]] = (),
) -> None:
    """Upsert one snapshot (idempotent: writing it twice stores it once), and insert the
    `tool_traces` rows `traces` (None: `snap.traces`) in the same transaction - those are
    not idempotent: the `RecordWriter` hands each row over once. Each of `then` (e.g. the
    end of the call's other writes) is called with the session last, in order: one
    transaction for all, committed together or not at all.

    The call row is created or updated; this stream's turns become the snapshot's and this
    stream's log lines beyond those already stored are appended (a call resumed after a
    `<Gather>` adds its streams' turns and lines to one record); its metrics are the worst
    over its streams.

    Only what differs from what is stored is written: the call row's changed columns, the
    turns that are new or changed (a turn's marks and barge-in may change after it was
    first saved; a turn taken back disappears), the new log lines - so a save after turn N
    writes about one turn, not N (Core statements; no ORM objects).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the write failed (e.g. the database is locked).
    """
    sid = snap.call_sid
    stream_sid = clip_to(CallRow.stream_sid, _clean(snap.stream_sid))
    with db.session() as s:
        begin_write(s)  # SQLite: the read-modify-write below under the write lock
        conn = s.connection()
        found = conn.execute(_SELECT_CALL, {"sid": sid}).first()
        if found is None:
            # Create the row if missing in one statement (the start of a call resumed in
            # another process can race its last stream's end), then lock it for the merge.
            insert_once(s, CallRow, {"call_sid": sid, "business_id": snap.business_id})
            found = conn.execute(_SELECT_CALL, {"sid": sid}).one()
        row = found._asdict()
        new: dict[str, Any] = {
            "stream_sid": stream_sid,
            "business_id": snap.business_id,
            "caller_number": clip_to(CallRow.caller_number, _clean(snap.caller_number)),
        }
        if snap.from_number is not None:
            new["from_number"] = clip_to(CallRow.from_number, _clean(snap.from_number))
        if snap.owner is not None:
            new["owner"] = snap.owner
        if snap.started:
            new["status"] = "in-progress"
            new["ended_at"] = None
        if snap.ended:
            if (new.get("status") or row["status"]) not in FINAL_STATUSES:
                new["status"] = snap.end_status
            new["ended_at"] = datetime.now(UTC)
        old = dict(row["metrics"] or {})
        new["metrics"] = {k: max(v, old.get(k) or 0) for k, v in snap.metrics.items()}
        errors = list(row["errors"] or [])
        new["errors"] = errors + [e for e in _clean(list(snap.errors)) if e not in errors]
        changed = {k: v for k, v in new.items() if row[k] != v}
        if changed:
            conn.execute(update(_CALLS).where(_CALLS.c.call_sid == sid).values(**changed))
        _save_turns(conn, sid, stream_sid, snap.turns)
        stored = conn.execute(_COUNT_LOG, {"sid": sid, "stream": stream_sid}).scalar()
        lines = [
            {"call_sid": sid, "stream_sid": stream_sid, "level": level, "message": _clean(msg)}
            for level, msg in snap.log_lines[stored or 0 :]
        ]
        if lines:
            conn.execute(_INSERT_LOG, lines)
        insert_traces(conn, snap.traces if traces is None else traces)
        for follow_up in then:
            follow_up(s)


def _save_turns(conn: Any, sid: str, stream_sid: str | None, turns: list[dict]) -> None:
    """Make this stream's stored turns the snapshot's `turns`, writing only the difference.

    A turn is known by its index (unique within a call); a stored turn whose index the
    snapshot no longer has is deleted. Should either side repeat an index (rows of an
    older build), every row of the stream is replaced.
    """
    want = [
        {
            "index": t["index"],
            "kind": t["kind"],
            "user_text": _clean(t["user_text"]),
            "bot_text": _clean(t["bot_text"]),
            "marks": t["marks"],
            "barged_in": t["barged_in"],
            "tools": _clean(t["tools"]),
        }
        for t in turns
    ]
    stream = {"sid": sid, "stream": stream_sid}
    stored = conn.execute(_SELECT_TURNS, stream).mappings().all()
    by_index = {r["index"]: r for r in stored}
    wanted = {t["index"] for t in want}
    if len(by_index) != len(stored) or len(wanted) != len(want):
        conn.execute(_DELETE_TURNS, stream)
        by_index = {}
    gone = [{"row_id": r["id"]} for i, r in by_index.items() if i not in wanted]
    if gone:
        conn.execute(_DELETE_TURN, gone)
    for t in want:
        r = by_index.get(t["index"])
        if r is None:
            conn.execute(_INSERT_TURN, {"call_sid": sid, "stream_sid": stream_sid, **t})
        elif any(r[f] != t[f] for f in _TURN_FIELDS):
            conn.execute(_UPDATE_TURN, {"row_id": r["id"], **t})


@dataclass
class _Entry:
    snap: CallSnapshot
    version: int = 0
    start_version: int = -1  # version of the newest merged snapshot that was a start
    futures: list[concurrent.futures.Future[bool]] = field(default_factory=list)
    then: list[Callable[[Session], object]] = field(default_factory=list)
    traces: list[dict[str, Any]] = field(default_factory=list)  # not yet stored
    attempts: int = 0


class RecordWriter:
    """The process's single writer of call records, on its own thread.

    Args:
        db: the database.
        max_calls: calls with an unwritten snapshot before new calls' snapshots are
            refused (logged as ERROR); bounds memory during a long database stall.
        retry_delays_s: back-off between attempts of a failed write.

    `submit` never blocks (call it on the event loop); `wait` awaits one write with a
    bounded wait.
    """

    def __init__(
        self,
        db: Database,
        *,
        max_calls: int = 2000,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    ) -> None:
        self.db = db
        self.max_calls = max_calls
        self.retry_delays_s = retry_delays_s
        self._cond = threading.Condition()
        self._pending: dict[str, _Entry] = {}  # insertion order = write order
        self._closed = False
        self.written = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="voicectl-records", daemon=True)
        self._thread.start()

    def submit(
        self, snap: CallSnapshot, then: Callable[[Session], object] | None = None
    ) -> concurrent.futures.Future[bool]:
        """Queue `snap`; the future resolves True once it (or a newer snapshot of the
        same call) is stored, False if the write was given up (already logged).

        Args:
            snap: the call now.
            then: an idempotent follow-up write (e.g. `call.ended`), called with the
                session of the snapshot's own transaction on the writer thread - in
                order, committed and retried with it.
        """
        fut: concurrent.futures.Future[bool] = concurrent.futures.Future()
        with self._cond:
            entry = self._pending.get(snap.call_sid)
            if entry is None:
                if len(self._pending) >= self.max_calls or self._closed:
                    self.failed += 1
                    _log.error(
                        "record of call %s not saved: writer backlog full (%d calls)",
                        snap.call_sid,
                        len(self._pending),
                    )
                    fut.set_result(False)
                    return fut
                entry = _Entry(snap)
                self._pending[snap.call_sid] = entry
                entry.traces += snap.traces
            else:
                merged_ended = entry.snap.ended or snap.ended
                entry.traces += snap.traces  # the newer snapshot replaces, rows add up
                entry.snap = snap
                entry.snap.ended = merged_ended
                entry.version += 1
            if snap.started:
                entry.start_version = entry.version
            entry.snap.started = entry.start_version >= 0
            entry.futures.append(fut)
            if then is not None:
                entry.then.append(then)
            self._cond.notify()
        return fut

    async def wait(self, fut: concurrent.futures.Future[bool], timeout_s: float) -> bool:
        """Await a submitted write for at most `timeout_s`; False on timeout (the write
        still happens later: nothing is lost, the caller just stops waiting)."""
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), timeout_s)
        except TimeoutError:
            _log.warning("call record write still pending after %.1f s", timeout_s)
            return False

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Block until every queued snapshot is written or given up (False on timeout).
        For shutdown and tests - never call it on the event loop."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self, timeout_s: float = 10.0) -> bool:
        """Write what is queued (bounded wait), then stop the thread."""
        ok = self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=1.0)
        return ok

    def pending(self, call_sid: str) -> bool:
        """True while a snapshot (and its follow-ups) of `call_sid` is queued or being
        written; False once stored or given up."""
        with self._cond:
            return call_sid in self._pending

    @property
    def backlog(self) -> int:
        """Calls with a snapshot not yet written."""
        with self._cond:
            return len(self._pending)

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        yield_to_call_path()  # no caller waits on these writes: the call path goes first
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                call_sid, entry = next(iter(self._pending.items()))
                snap, version, then = entry.snap, entry.version, list(entry.then)
                traces = list(entry.traces)
            try:
                save_call(self.db, snap, traces, then)
            except Exception as exc:  # noqa: BLE001 - every failure is retried or logged
                self._failed_once(call_sid, entry, exc)
                continue
            with self._cond:
                self.written += 1
                if entry.start_version <= version:
                    entry.start_version = -1
                    entry.snap.started = False
                entry.attempts = 0
                del entry.then[: len(then)]
                del entry.traces[: len(traces)]
                if entry.version == version:
                    del self._pending[call_sid]
                    done, entry.futures = entry.futures, []
                else:  # a newer snapshot arrived while writing: write that one too
                    done = []
                self._cond.notify_all()
            for f in done:
                if not f.done():
                    f.set_result(True)

    def _failed_once(self, call_sid: str, entry: _Entry, exc: Exception) -> None:
        entry.attempts += 1
        if entry.attempts <= len(self.retry_delays_s):
            delay = self.retry_delays_s[entry.attempts - 1]
            _log.warning(
                "call %s: record write failed (%s); retry %d in %.1f s",
                call_sid,
                exc.__class__.__name__,
                entry.attempts,
                delay,
            )
            time.sleep(delay)
            return
        _log.error("call %s: record NOT saved after %d attempts: %r", call_sid, entry.attempts, exc)
        with self._cond:
            self.failed += 1
            self._pending.pop(call_sid, None)
            done, entry.futures = entry.futures, []
            self._cond.notify_all()
        for f in done:
            if not f.done():
                f.set_result(False)


def _pid_alive(pid: int) -> bool:
    """True if process `pid` runs on this host (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def owner_dead(owner: str | None, me: str) -> bool:
    """Whether the process named by `owner` (`host:pid:instance`) is gone.

    Calls of another host are left alone (its own start-up recovers them); rows from
    builds that did not record an owner count as dead.
    """
    if owner is None:
        return True
    if owner == me:
        return False
    host, _, rest = owner.partition(":")
    pid_s, _, _instance = rest.partition(":")
    if host != socket.gethostname() or not pid_s.isdigit():
        return False
    pid = int(pid_s)
    return pid == os.getpid() or not _pid_alive(pid)


def recover_interrupted(db: Database, me: str) -> list[str]:
    """Start-up: close calls left "in-progress" by a dead process of this box, or by any
    process whose lease lapsed (`store/leases.py`), as "interrupted".

    Each gets a log line saying so and its `call.ended` event (`outcome="interrupted"`,
    `ended_by="startup_recovery"`) through the one `call.ended` writer.

    Args:
        db: the database.
        me: this process's `process_owner` (its own live calls are never touched).

    Returns:
        The CallSids closed (their turns and log lines stay as saved).
    """
    from voicectl.store import leases

    lapsed = leases.lapsed(db) - {me}
    closed = _close_calls(
        db, lambda owner: owner_dead(owner, me) or owner in lapsed, "startup_recovery"
    )
    _forget(db, lapsed)
    return closed


def close_lost_owners(db: Database, me: str) -> list[str]:
    """While serving: close the calls of processes whose lease lapsed (a box that died
    and never came back) as "interrupted" (`ended_by="owner_lost"`), clear their
    live-stream rows and forget their leases. Returns the CallSids closed."""
    from voicectl.store import leases

    lapsed = leases.lapsed(db) - {me}
    if not lapsed:
        return []
    closed = _close_calls(db, lambda owner: owner in lapsed, "owner_lost")
    _forget(db, lapsed)
    return closed


def _forget(db: Database, owners: set[str]) -> None:
    from voicectl.store import leases, streams

    if owners:
        streams.clear_dead_owners(db, lambda owner: owner in owners)
        leases.forget(db, owners)


def _close_calls(
    db: Database, dead_owner: Callable[[str | None], bool], ended_by: str
) -> list[str]:
    """Close the "in-progress" calls whose owner `dead_owner` names; see the callers."""
    from voicectl.store.call_end import write_call_ended

    closed: list[str] = []
    with db.session() as s:
        rows = s.execute(
            select(CallRow.call_sid, CallRow.owner).where(CallRow.status == "in-progress")
        ).all()
    dead = [sid for sid, owner in rows if dead_owner(owner)]
    with db.session() as s:
        begin_write(s)
        for call_sid in dead:
            # Conditional: N processes starting at once close each call once.
            got = s.execute(
                update(CallRow)
                .execution_options(synchronize_session=False)
                .where(CallRow.call_sid == call_sid, CallRow.status == "in-progress")
                .values(status="interrupted", ended_at=datetime.now(UTC))
            ).rowcount
            if got != 1:
                continue
            s.add(
                CallLogRow(
                    call_sid=call_sid,
                    level="WARNING",
                    message="call interrupted: the serving process ended without closing it "
                    + (
                        "(closed at the next start-up with what was saved)"
                        if ended_by == "startup_recovery"
                        else "(its lease lapsed; closed by another process with what was saved)"
                    ),
                )
            )
            closed.append(call_sid)
    for call_sid in closed:
        write_call_ended(db, call_sid, outcome="interrupted", ended_by=ended_by)
    if closed:
        _log.warning("%s: %d call(s) left in progress closed as interrupted", ended_by, len(closed))
    return closed


def call_exists(db: Database, call_sid: str) -> bool:
    """True if the database has a row for `call_sid`."""
    with db.session() as s:
        return s.get(CallRow, call_sid) is not None


def call_business(db: Database, call_sid: str) -> str | None:
    """The business a known call is for (None for an unknown call)."""
    with db.session() as s:
        row = s.get(CallRow, call_sid)
        return row.business_id if row is not None else None


def mark_status(db: Database, call_sid: str, status: str) -> bool:
    """Record a Twilio call status; returns False for an unknown call."""
    with db.session() as s:
        row = s.get(CallRow, call_sid)
        if row is None:
            return False
        if status in FINAL_STATUSES:
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
            select(TurnRow).where(TurnRow.call_sid == call_sid).order_by(TurnRow.index, TurnRow.id)
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
