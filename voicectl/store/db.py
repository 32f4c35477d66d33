"""The database engine: one SQLAlchemy engine per process over a SQLite file (default).

Tables live beside this module: `store/calls.py` (calls, turns, call log) and
`store/booking.py` (businesses, services, appointments, leads, events, tool traces) and
`store/flows.py` (outbox deliveries, attempts, recorded messages).
`Database(url)` creates every table at start-up (migrations run only at start-up, never
inside a call - SEEDS.md seed 002 A). Schema creation is safe when many processes open one
new SQLite file at once: it runs under an exclusive file lock beside the database
(`<file>.schema-lock`), so a second process waits and then sees the finished schema. New
nullable columns added to a model are added to an existing table by the same step (the
project's only migration kind so far; anything else needs a real migration tool).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base shared by every table of the project."""


def sqlite_url(path: str | Path) -> str:
    """Return the SQLAlchemy URL of a SQLite file at `path`."""
    return f"sqlite:///{Path(path)}"


class Database:
    """An engine plus a session factory; creates the schema on construction.

    Args:
        url: a SQLAlchemy URL or a plain file path (taken as SQLite).

    SQLite runs in WAL mode (synchronous=NORMAL) with a 5 s busy timeout so several
    processes (serve, a concurrent bench, tests) can share one file.
    """

    def __init__(self, url: str | Path) -> None:
        url = str(url)
        if "://" not in url:
            Path(url).parent.mkdir(parents=True, exist_ok=True)
            url = sqlite_url(url)
        self.url = url
        is_sqlite = url.startswith("sqlite")
        self.engine: Engine = create_engine(
            url,
            connect_args={"timeout": 5, "check_same_thread": False} if is_sqlite else {},
        )
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.path: Path | None = _sqlite_file(url)
        # Import the table modules so every table is registered before create_all.
        from voicectl.store import booking, call_end, call_state, calls, flows, streams  # noqa: F401

        with _schema_lock(self.path):
            Base.metadata.create_all(self.engine)
            _add_missing_columns(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session; commit on success, roll back on any exception (re-raised)."""
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


T = TypeVar("T")

#: How often a write transaction that found the database locked is run again.
LOCKED_RETRIES = 3


def is_locked_error(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" / "database table is locked" errors.

    They mean another writer held the lock longer than the busy timeout (5 s): the
    transaction was rolled back and wrote nothing, so running it again is safe.
    """
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError) and "is locked" in str(exc.orig or exc)


def retry_locked(fn: Callable[[], T], attempts: int = LOCKED_RETRIES) -> T:
    """Run the write transaction `fn`, again (up to `attempts` times in all) while it fails
    with a lock timeout; any other exception, or the last lock timeout, is re-raised.

    A booking under heavy contention (20 processes racing for one slot on a loaded
    machine) must end as `ok` or `slot_taken`, never as a spurious error.
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not is_locked_error(exc):
                raise
    raise AssertionError("unreachable")


def _sqlite_file(url: str) -> Path | None:
    """The file behind a `sqlite:///path` URL (None for memory or another database)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@contextlib.contextmanager
def _schema_lock(path: Path | None) -> Iterator[None]:
    """Hold an exclusive `flock` on `<path>.schema-lock` (no-op without a file or fcntl).

    Twenty processes opening a new database at once otherwise race on `CREATE TABLE`
    ("table already exists" / "database is locked" escape `create_all`; issue 6 item 8).
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: SQLite's own locking is all there is
        yield
        return
    if path is None:
        yield
        return
    fd = os.open(f"{path}.schema-lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _add_missing_columns(engine: Engine) -> None:
    """`ALTER TABLE ... ADD COLUMN` for nullable model columns an existing table lacks.

    `create_all` creates missing tables only; a database made by an older build would
    otherwise fail on the first query that names a new column.
    """
    insp = inspect(engine)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if not insp.has_table(table.name):
                continue
            have = {c["name"] for c in insp.get_columns(table.name)}
            for col in table.columns:
                if col.name in have or not col.nullable or col.primary_key:
                    continue
                kind = col.type.compile(dialect=engine.dialect)
                conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{col.name}" {kind}'))


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit is durable across a process crash; only an OS crash / power
    # loss can lose the last commits. Halves create_appointment's p95 (docs/benchmarks.md).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
