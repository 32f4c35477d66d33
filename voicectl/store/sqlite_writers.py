"""SQLite writers queue on a file lock instead of polling in SQLite's busy handler.

SQLite lets one transaction write at a time. A writer that finds the file locked waits in
SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and then 100 ms
between looks (`sqliteDefaultBusyCallback`, sqlite.org "sqlite3_busy_timeout"): it wakes
up to 100 ms after the lock was freed, and a writer that keeps losing waits seconds.
Under `voicectl bench --load` (200 calls, two server processes on one file) that made a
booking turn's hold write take 436 ms at p95 and 1.5 s at worst (docs/benchmarks.md,
"Issue 12: garbage-collector pauses and SQLite writers").

Here a statement that writes (or `BEGIN IMMEDIATE`) first takes an exclusive `flock` on
`<database>.write-lock`, and the connection's commit, rollback or close releases it. The
kernel queues the waiters of every thread and process and wakes the next one the moment
the lock is released; SQLite's own lock is then free when it gets there, and it still
decides correctness (a process that does not take the file lock - the `sqlite3` shell -
meets SQLite's busy handler as before). A connection whose thread already holds the file
lock through another connection does not wait for it (it would wait for itself).

Writers that no caller waits on - the call-record writer and the after-call flows, whose
threads call `yield_to_call_path` - first queue among themselves on
`<database>.background-lock`, so at most one of them (per database, across processes)
stands in the write lock's queue ahead of a call-path writer such as `create_appointment`.
Under `bench --load` at 200 calls those threads made more than half of the write
transactions; queued all together ahead of a booking they made its tool call take 59-184 ms
at p95 against 3-18 ms at the median (docs/benchmarks.md, issue 12).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's busy handler is all there is
    fcntl = None  # type: ignore[assignment]

__all__ = ["QueuedWritersConnection", "yield_to_call_path"]

_FLAGS = os.O_RDWR | os.O_CREAT
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")

# Per lock file: the thread holding it in this process (None: none).
_holders: dict[str, int | None] = {}

_thread = threading.local()


def yield_to_call_path() -> None:
    """Mark the calling thread as a background writer: from now on its writes queue on the
    database's background lock before the write lock (see the module docstring)."""
    _thread.background = True


def _lock_path(database: Any, kind: str = "write") -> str | None:
    """`<database>.<kind>-lock` (absolute), or None for a database with no file to share."""
    if fcntl is None or not isinstance(database, str | os.PathLike):
        return None
    name = os.fspath(database)
    if not name or name == ":memory:" or name.startswith("file:"):
        return None  # private or URI databases: nothing to share
    return f"{os.path.realpath(name)}.{kind}-lock"


def _writes(sql: str) -> bool:
    head = sql.lstrip()[:16].upper()
    if head.startswith("BEGIN"):
        return "IMMEDIATE" in head or "EXCLUSIVE" in head
    return head.startswith(_WRITES)


class QueuedWritersConnection(sqlite3.Connection):
    """A `sqlite3.Connection` whose writes queue on the database's write-lock file (see
    the module docstring). Pass it as `sqlite3.connect(..., factory=...)`."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._lock_file = _lock_path(database)
        self._bg_lock_file = _lock_path(database, "background")
        self._fd: int | None = None
        self._bg_fd: int | None = None  # the background lock, once a background thread wrote
        self._holds = False
        self._holds_bg = False

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # noqa: D102 - sqlite3's
        return super().cursor(factory or _QueuedCursor)

    def _before(self, sql: str) -> None:
        path = self._lock_file
        if path is None or self._holds or not _writes(sql):
            return
        me = threading.get_ident()
        if _holders.get(path) == me:  # this thread's other connection holds it
            return
        if getattr(_thread, "background", False):
            if self._bg_fd is None:
                self._bg_fd = os.open(self._bg_lock_file, _FLAGS, 0o644)  # type: ignore[arg-type]
            fcntl.flock(self._bg_fd, fcntl.LOCK_EX)
            self._holds_bg = True
        try:
            if self._fd is None:
                self._fd = os.open(path, _FLAGS, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        except BaseException:
            self._release_background()
            raise
        _holders[path] = me
        self._holds = True

    def _after(self) -> None:
        if self._holds and not self.in_transaction:  # autocommit, or a failed BEGIN
            self._release()

    def _release(self) -> None:
        if not self._holds:
            return
        self._holds = False
        _holders[self._lock_file] = None  # type: ignore[index]
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)  # type: ignore[arg-type]
        self._release_background()  # after the write lock: the next background writer

    def _release_background(self) -> None:
        if self._holds_bg:
            self._holds_bg = False
            with contextlib.suppress(OSError):
                fcntl.flock(self._bg_fd, fcntl.LOCK_UN)  # type: ignore[arg-type]

    def commit(self) -> None:  # noqa: D102 - sqlite3's
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._release()

    def rollback(self) -> None:  # noqa: D102 - sqlite3's
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:  # noqa: D102 - sqlite3's
        try:
            super().close()
        finally:
            self._release()
            for fd in (self._fd, self._bg_fd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._fd = self._bg_fd = None


class _QueuedCursor(sqlite3.Cursor):
    def _queued(self, run: Any, sql: str, args: Any) -> sqlite3.Cursor:
        conn: QueuedWritersConnection = self.connection  # type: ignore[assignment]
        conn._before(sql)
        try:
            return run(sql, args)
        finally:
            conn._after()

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # noqa: D102
        return self._queued(super().execute, sql, parameters)

    def executemany(self, sql: str, seq: Any, /) -> sqlite3.Cursor:  # noqa: D102
        return self._queued(super().executemany, sql, seq)
