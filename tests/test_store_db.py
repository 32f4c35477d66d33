"""The `database` setting: paths and URLs, the PostgreSQL driver's extra, masked passwords,
and what PostgreSQL hands back (UTC-aware timestamps)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from voicectl.store.calls import CallRow
from voicectl.store.db import (
    Database,
    DatabaseConfigError,
    create_db_engine,
    database_url,
    display_url,
)


def test_paths_and_url_aliases() -> None:
    assert database_url("data/voicectl.db") == "sqlite:///data/voicectl.db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    for alias in ("postgres://u:p@db/vc", "postgresql://u:p@db/vc"):
        assert database_url(alias) == "postgresql+psycopg://u:p@db/vc"
    assert database_url("postgresql+psycopg://u@db/vc") == "postgresql+psycopg://u@db/vc"


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    with pytest.raises(DatabaseConfigError, match=r"pip install 'voicectl\[postgres\]'"):
        create_db_engine(database_url("postgresql://u@127.0.0.1:1/vc"))


def test_a_bad_url_is_a_config_error() -> None:
    with pytest.raises(DatabaseConfigError, match="unknown kind of database"):
        Database("nosuchdb+nodriver://")
    with pytest.raises(DatabaseConfigError, match="not a database URL"):
        Database("::not a url://")


def test_an_unreachable_server_is_one_clear_error() -> None:
    with pytest.raises(DatabaseConfigError, match="cannot open") as caught:
        Database("postgresql://voicectl:s3cret@127.0.0.1:1/vc")  # nothing listens on port 1
    assert "s3cret" not in str(caught.value) and "\n" not in str(caught.value)


def test_passwords_are_masked_for_display() -> None:
    shown = display_url("postgresql+psycopg://voicectl:s3cret@db.internal:5432/vc")
    assert "s3cret" not in shown and "db.internal:5432/vc" in shown


def test_postgresql_timestamps_come_back_aware_in_utc(pg_database: str) -> None:
    db = Database(pg_database)
    assert db.dialect == "postgresql"
    started = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
    with db.session() as s:
        s.add(CallRow(call_sid="CAtz", business_id="demo-spa", started_at=started))
    with db.session() as s:
        got = s.get(CallRow, "CAtz")
        assert got is not None and got.started_at == started
        assert got.started_at.utcoffset() is not None
        assert got.started_at.utcoffset().total_seconds() == 0
    db.dispose()


def test_a_varchar_column_declared_wider_is_widened_on_an_existing_postgresql_database(
    pg_database: str,
) -> None:
    """A database made when `live_streams.stream_sid` was `VARCHAR(64)` takes the
    parser's longest streamSid after the next start-up (PostgreSQL enforces lengths)."""
    from sqlalchemy import inspect, text

    from voicectl.telephony.twilio.messages import MAX_STREAM_SID_CHARS

    Database(pg_database).dispose()
    old = Database(pg_database)
    with old.engine.begin() as conn:
        conn.execute(text("ALTER TABLE live_streams ALTER COLUMN stream_sid TYPE VARCHAR(64)"))
    old.dispose()
    db = Database(pg_database)  # the next start-up
    cols = {c["name"]: c["type"] for c in inspect(db.engine).get_columns("live_streams")}
    assert cols["stream_sid"].length == MAX_STREAM_SID_CHARS
    db.dispose()


def test_a_database_other_than_sqlite_or_postgresql_is_refused_at_start_up() -> None:
    # The store's upserts are written per dialect; another database must fail here, with
    # a clear error, not mid-call.
    from voicectl.store.db import DatabaseConfigError, create_db_engine

    with pytest.raises(DatabaseConfigError, match="only SQLite and PostgreSQL"):
        create_db_engine("mysql+pymysql://u:p@127.0.0.1/x")


def test_an_index_missing_from_an_older_database_is_created_at_start_up(db_url: str) -> None:
    """A database made before `appointments.hold_until` (and its index) existed gets the
    column and the index at the next start-up, and the start-up after that is a no-op."""
    from sqlalchemy import inspect, text

    def indexes(db: Database) -> set[str]:
        return {ix["name"] for ix in inspect(db.engine).get_indexes("appointments")}

    old = Database(db_url)
    assert "ix_appointments_hold_until" in indexes(old)
    with old.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_appointments_hold_until"))
    assert "ix_appointments_hold_until" not in indexes(old)
    old.dispose()
    for _ in range(2):  # the next start-up, and one more (idempotent)
        db = Database(db_url)
        assert "ix_appointments_hold_until" in indexes(db)
        db.dispose()


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_a_process_opening_a_new_file_connects_only_after_the_one_creating_it(
    tmp_path: Path,
) -> None:
    # Two processes' first connections switching one new file to WAL at the same moment
    # made one fail with "database is locked" (SQLite's deadlock rule: no busy wait), and
    # `serve --workers 2` then did not start. The first connection is made under the
    # schema lock, as the schema is: while another process holds it, nothing is opened.
    import fcntl
    import threading

    path = tmp_path / "new.db"
    fd = os.open(f"{path}.schema-lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process is creating the database
    opened: list[Database] = []
    opener = threading.Thread(target=lambda: opened.append(Database(path)))
    opener.start()
    opener.join(timeout=1.0)
    try:
        assert opener.is_alive() and not path.exists()  # waits, has not connected
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    opener.join(timeout=30)
    assert opened and path.exists()
    opened[0].dispose()
