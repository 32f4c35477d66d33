"""The database engine: one SQLAlchemy engine per process over a SQLite file (default).

Tables live beside this module: `store/calls.py` (calls, turns, call log) and
`store/booking.py` (businesses, services, appointments, leads, events, tool traces) and
`store/flows.py` (outbox deliveries, attempts, recorded messages).
`Database(url)` creates every table at start-up (migrations run only at start-up, never
inside a call - SEEDS.md seed 002 A).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
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
        # Import the table modules so every table is registered before create_all.
        from voicectl.store import booking, calls, flows  # noqa: F401

        Base.metadata.create_all(self.engine)

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


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit is durable across a process crash; only an OS crash / power
    # loss can lose the last commits. Halves create_appointment's p95 (docs/benchmarks.md).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
