"""The database engine: one SQLAlchemy engine per process over SQLite (default) or PostgreSQL.

Tables live beside this module: `store/calls.py` (calls, turns, call log) and
`store/booking.py` (businesses, services, appointments, leads, events, tool traces) and
`store/flows.py` (outbox deliveries, attempts, recorded messages).

`Database(url)` takes the configured `database` setting: a file path (SQLite), or a
SQLAlchemy URL - `sqlite:///path`, or `postgresql+psycopg://user:pass@host/dbname` for
PostgreSQL (`postgresql://` and `postgres://` mean the same driver: psycopg 3, the
`postgres` extra). Several processes and boxes may share one PostgreSQL database.

It creates every table at start-up (migrations run only at start-up, never inside a call -
SEEDS.md seed 002 A). Schema creation is safe when many processes open one new database at
once: on SQLite it runs under an exclusive file lock beside the database
(`<file>.schema-lock`); on PostgreSQL in one transaction holding a transaction-level
advisory lock (`pg_advisory_xact_lock`), which also serialises processes on other boxes.
A second process waits, then sees the finished schema. New nullable columns and new
indexes added to a model are added to an existing table by the same step (the project's
only migration kinds so far; anything else needs a real migration tool).

Conventions that hold on both databases: naive `DateTime` columns hold UTC; aware
(`DateTime(timezone=True)`) columns come back aware in UTC on PostgreSQL (the session time
zone is UTC) and naive on SQLite, so readers normalise with `.replace(tzinfo=UTC)` when
naive; uniqueness that matters (a slot cell, a call's ending, an idempotency key) is a
primary key or unique constraint, never a read-then-write in Python.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import NoSuchModuleError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from voicectl.store.sqlite_writers import QueuedWritersConnection


class Base(DeclarativeBase):
    """Declarative base shared by every table of the project."""


class DatabaseConfigError(ValueError):
    """The `database` setting cannot be used: a bad URL, its driver's extra is missing, or
    the database cannot be opened at start-up (the message is one line saying which)."""


def sqlite_url(path: str | Path) -> str:
    """Return the SQLAlchemy URL of a SQLite file at `path`."""
    return f"sqlite:///{Path(path)}"


#: URL schemes taken as PostgreSQL through psycopg 3 (SQLAlchemy's plain `postgresql://`
#: would pick psycopg2, which this project does not install).
_PG_ALIASES = ("postgres://", "postgresql://")

#: PostgreSQL connections a process keeps open, and how many more it may open under load.
#: Every thread that can touch the database at once should find one without waiting: the
#: agent, db, control and flows pools (`voicectl.executors.POOL_THREADS`: 32 + 8 + 8 + 2)
#: plus the record writer. Each is a server process on PostgreSQL: `max_connections`
#: (default 100) must cover boxes x workers x `PG_POOL_SIZE` at least.
PG_POOL_SIZE, PG_MAX_OVERFLOW = 10, 45

#: Key of the PostgreSQL advisory lock held while the schema is created or extended
#: (a fixed 32-bit number derived from the project's name).
SCHEMA_LOCK_KEY = zlib.crc32(b"voicectl.schema")


def database_url(setting: str | Path) -> str:
    """The SQLAlchemy URL of a `database` setting.

    A plain path becomes `sqlite:///path`; `postgres://...` and `postgresql://...` become
    `postgresql+psycopg://...`; any other URL is returned unchanged.
    """
    url = str(setting)
    if "://" not in url:
        return sqlite_url(url)
    for alias in _PG_ALIASES:
        if url.startswith(alias):
            return "postgresql+psycopg://" + url[len(alias) :]
    return url


def display_url(url: str) -> str:
    """`url` with its password (if any) shown as `***`, for logs and reports."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL: nothing to mask
        return url


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinite float inside it replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_dumps(value: Any) -> str:
    """How `JSON` columns are written on every database: standard JSON (RFC 8259), so a
    NaN or infinite float (a metric divided by zero) is stored as null - PostgreSQL's
    `json` type refuses Python's `NaN` / `Infinity`, which SQLite would keep as text."""
    return json.dumps(_finite(value))


def create_db_engine(url: str) -> Engine:
    """A SQLAlchemy engine for `url` (from `database_url`), set up for this project.

    SQLite: 5 s busy timeout, usable from any thread, WAL (see `_sqlite_pragmas`).
    PostgreSQL: a pool of `PG_POOL_SIZE` (+ `PG_MAX_OVERFLOW`) connections, each checked
    before use (`pool_pre_ping`: a restarted server or a proxy that dropped an idle
    connection costs a reconnect, not a failed call write), each session's time zone UTC.

    Raises:
        DatabaseConfigError: the URL does not parse, names a database other than SQLite
            or PostgreSQL, or its driver is not installed (e.g. PostgreSQL without the
            `postgres` extra).
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises ArgumentError/ValueError
        raise DatabaseConfigError(f"database: not a database URL or path: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        # The store's insert-if-missing and locking are written per dialect
        # (`store/upsert.py`): any other database would fail mid-call, not here.
        raise DatabaseConfigError(
            f"database: unknown kind of database {parsed.drivername!r}: only SQLite and "
            "PostgreSQL are supported (use a file path, sqlite:///path or "
            "postgresql+psycopg://...)"
        )
    try:
        if backend == "sqlite":
            engine = create_engine(
                url,
                # Writers queue on a file lock, not in SQLite's busy-handler sleeps.
                connect_args={
                    "timeout": 5,
                    "check_same_thread": False,
                    "factory": QueuedWritersConnection,
                },
                json_serializer=json_dumps,
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        if backend == "postgresql":
            return create_engine(
                url,
                pool_pre_ping=True,
                pool_size=PG_POOL_SIZE,
                max_overflow=PG_MAX_OVERFLOW,
                connect_args={"options": "-c timezone=UTC"},
                json_serializer=json_dumps,
            )
    except NoSuchModuleError:
        raise DatabaseConfigError(
            f"database: unknown kind of database {parsed.drivername!r} "
            "(use a file path, sqlite:///path or postgresql+psycopg://...)"
        ) from None
    except ModuleNotFoundError as exc:
        if backend == "postgresql":
            raise DatabaseConfigError(
                f"database: PostgreSQL needs the postgres extra ({exc.name} is missing): "
                "pip install 'voicectl[postgres]'"
            ) from None
        raise DatabaseConfigError(f"database: no driver for {backend} ({exc})") from None


class Database:
    """An engine plus a session factory; creates the schema on construction.

    Args:
        url: a SQLAlchemy URL or a plain file path (taken as SQLite); see `database_url`.

    Raises:
        DatabaseConfigError: see `create_db_engine`; or the database cannot be opened
            (server unreachable, bad credentials, unwritable file).

    SQLite runs in WAL mode (synchronous=NORMAL) with a 5 s busy timeout so several
    processes (serve, a concurrent bench, tests) can share one file.
    """

    def __init__(self, url: str | Path) -> None:
        url = database_url(url)
        self.path: Path | None = _sqlite_file(url)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        #: `url` with any password masked: for logs and reports.
        self.display_url: str = display_url(url)
        self.engine: Engine = create_db_engine(url)
        self.dialect: str = self.engine.dialect.name
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Import the table modules so every table is registered before create_all.
        from voicectl.store import (  # noqa: F401
            booking,
            call_end,
            call_state,
            calls,
            flows,
            leases,
            streams,
        )

        if self.dialect == "postgresql":
            self._check_open()
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
                Base.metadata.create_all(conn)
                _add_missing_columns(conn)
                _add_missing_indexes(conn)
        else:
            # The first connection switches a new file to WAL, which takes SQLite's lock
            # without waiting: under the schema lock, so a second process starting at the
            # same moment (`serve --workers 2`) does not fail with "database is locked".
            with _schema_lock(self.path):
                self._check_open()
                with self.engine.begin() as conn:
                    Base.metadata.create_all(conn)
                    _add_missing_columns(conn)
                    _add_missing_indexes(conn)

    def _check_open(self) -> None:
        """One connection first: an unreachable server is one clear line, not a trace.

        Raises:
            DatabaseConfigError: the database cannot be opened.
        """
        try:
            with self.engine.connect():
                pass
        except OperationalError as exc:
            why = str(exc.orig or exc).strip().splitlines()[0][:200]
            raise DatabaseConfigError(f"database: cannot open {self.display_url}: {why}") from None

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


def lock_transaction(session: Session, name: str) -> None:
    """Serialise `session`'s transaction with every other that takes the lock `name`.

    PostgreSQL: a transaction-level advisory lock (`pg_advisory_xact_lock`, keyed by the
    CRC-32 of `name`), held until commit or rollback, across processes and boxes. SQLite:
    nothing - call `store.booking.begin_write` first, which serialises every writer.
    For decisions no key can hold, where rows are read, then written: seeding the business
    policies from N processes at once, counting a box's calls under its cap. Where a key
    can decide (a slot cell, a call's ending, a token), let it: no lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(name.encode())})


def clip_to(column: Any, value: str | None) -> str | None:
    """`value` cut to `column`'s declared `String(n)` length (unchanged if it has none).

    PostgreSQL enforces VARCHAR lengths (a longer value fails the whole write); SQLite
    does not. For values from the network that are stored, not matched on.
    """
    length = getattr(getattr(column, "type", None), "length", None)
    return value[:length] if value is not None and length else value


T = TypeVar("T")

#: How often a write transaction that found the database locked is run again.
LOCKED_RETRIES = 3


#: SQLSTATEs after which PostgreSQL rolled the transaction back and running it again is
#: safe: serialization_failure, deadlock_detected (PostgreSQL manual, Appendix A).
_PG_RETRYABLE = frozenset({"40001", "40P01"})


def is_locked_error(exc: BaseException) -> bool:
    """True for a write that lost a lock conflict and wrote nothing, so running it again
    is safe.

    SQLite: "database is locked" / "database table is locked" (another writer held the lock
    longer than the busy timeout, 5 s). PostgreSQL: a serialization failure or a detected
    deadlock (SQLSTATE 40001 / 40P01).
    """
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError) and "is locked" in str(exc.orig or exc):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _PG_RETRYABLE


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


def _add_missing_columns(conn: Connection) -> None:
    """`ALTER TABLE ... ADD COLUMN` for nullable model columns an existing table lacks,
    and (PostgreSQL) `ALTER COLUMN ... TYPE VARCHAR(n)` for a column declared wider.

    `create_all` creates missing tables only; a database made by an older build would
    otherwise fail on the first query that names a new column. Runs on `conn`, inside the
    schema step's lock.
    """
    insp = inspect(conn)
    for table in Base.metadata.sorted_tables:
        if not insp.has_table(table.name):
            continue
        have = {c["name"]: c["type"] for c in insp.get_columns(table.name)}
        for col in table.columns:
            if col.name in have:
                _widen(conn, table.name, col, have[col.name])
                continue
            if not col.nullable or col.primary_key:
                continue
            kind = col.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{col.name}" {kind}'))


def _add_missing_indexes(conn: Connection) -> None:
    """`CREATE INDEX` for model indexes an existing table lacks (e.g. the index of a
    column `_add_missing_columns` just added). `create_all` creates the indexes of the
    tables it creates only. Idempotent; runs on `conn`, inside the schema step's lock,
    after `_add_missing_columns` (an index may name a new column)."""
    insp = inspect(conn)
    for table in Base.metadata.sorted_tables:
        if not insp.has_table(table.name):
            continue
        have = {ix["name"] for ix in insp.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in have:
                index.create(conn)


def _widen(conn: Connection, table: str, col: Any, stored: Any) -> None:
    """PostgreSQL: widen a `VARCHAR(n)` column the model now declares longer (a metadata
    change, no table rewrite). SQLite does not enforce lengths: nothing to do."""
    want = getattr(col.type, "length", None)
    have = getattr(stored, "length", None)
    if conn.dialect.name != "postgresql" or not want or not have or have >= want:
        return
    conn.execute(text(f'ALTER TABLE "{table}" ALTER COLUMN "{col.name}" TYPE VARCHAR({want})'))


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit is durable across a process crash; only an OS crash / power
    # loss can lose the last commits. Halves create_appointment's p95 (docs/benchmarks.md).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
