"""SQLite writers of every thread and process queue on the database's write-lock file
(voicectl.store.sqlite_writers): with SQLite's busy timeout at 0, so that any writer
meeting another's lock fails at once with "database is locked", none does."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from voicectl.store.db import Database
from voicectl.store.sqlite_writers import QueuedWritersConnection, yield_to_call_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock")
fcntl = pytest.importorskip("fcntl")

ROUNDS = 40


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, factory=QueuedWritersConnection)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=0")
    return conn


def _write(path: Path, who: str, errors: list[str]) -> None:
    conn = _connect(path)
    try:
        for i in range(ROUNDS):
            try:
                cur = conn.cursor()
                cur.execute("BEGIN IMMEDIATE")
                cur.execute("SELECT count(*) FROM t")  # a read-modify-write, as booking does
                n = cur.fetchone()[0]
                cur.execute("INSERT INTO t (who, seen) VALUES (?, ?)", (f"{who}-{i}", n))
                cur.execute("UPDATE t SET seen = seen + 1 WHERE who = ?", (f"{who}-{i}",))
                conn.commit()
                conn.cursor().execute("INSERT INTO t (who, seen) VALUES (?, 0)", (f"{who}+{i}",))
            except sqlite3.OperationalError as exc:  # "database is locked"
                errors.append(str(exc))
                conn.rollback()
    finally:
        conn.close()


_CHILD = """
import sys, threading
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from test_store_sqlite_writers import _write
errors = []
threads = [threading.Thread(target=_write, args=(Path(sys.argv[1]), f"p{k}", errors))
           for k in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(errors), errors[:1])
"""


def test_writers_of_many_threads_and_processes_never_meet_sqlites_lock(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    setup = _connect(path)
    setup.execute("CREATE TABLE t (who TEXT PRIMARY KEY, seen INTEGER)")
    setup.close()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    errors: list[str] = []
    threads = [threading.Thread(target=_write, args=(path, f"t{k}", errors)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out, _ = child.communicate(timeout=120)
    assert errors == []
    assert out.split()[0] == "0", out
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 8 * ROUNDS * 2
    conn.close()


def test_a_thread_writing_through_two_connections_does_not_wait_for_itself(
    tmp_path: Path,
) -> None:
    path = tmp_path / "n.db"
    setup = _connect(path)
    setup.execute("CREATE TABLE t (who TEXT PRIMARY KEY, seen INTEGER)")
    setup.close()
    outcome: list[str] = []

    def one_thread() -> None:
        first, second = _connect(path), _connect(path)
        first.cursor().execute("BEGIN IMMEDIATE")  # holds the write-lock file
        try:
            second.cursor().execute("INSERT INTO t VALUES ('x', 0)")
            outcome.append("wrote")
        except sqlite3.OperationalError as exc:  # SQLite's own lock, at once
            outcome.append(str(exc))
        first.rollback()
        second.cursor().execute("INSERT INTO t VALUES ('y', 0)")  # given back: goes on
        outcome.append("then wrote")
        first.close()
        second.close()

    runner = threading.Thread(target=one_thread, daemon=True)  # a deadlock must not hang
    runner.start()
    runner.join(timeout=30)
    assert outcome == ["database is locked", "then wrote"]


def test_a_writer_of_another_thread_waits_for_the_commit(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    first = _connect(path)
    first.execute("CREATE TABLE t (who TEXT PRIMARY KEY, seen INTEGER)")
    first.cursor().execute("BEGIN IMMEDIATE")
    first.cursor().execute("INSERT INTO t VALUES ('a', 0)")
    done: list[str] = []

    def other() -> None:
        conn = _connect(path)  # busy timeout 0: only the file lock can make it wait
        conn.cursor().execute("INSERT INTO t VALUES ('b', 0)")
        done.append("b")
        conn.close()

    waiter = threading.Thread(target=other, daemon=True)
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive() and not done  # queued behind the open transaction
    first.commit()
    waiter.join(timeout=30)
    assert done == ["b"]
    first.close()


def test_the_servers_database_queues_its_writers(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    with db.engine.connect() as conn:
        assert isinstance(conn.connection.dbapi_connection, QueuedWritersConnection)
    db.dispose()
    assert (tmp_path / "s.db.write-lock").exists()  # the schema's writes took it


def test_background_writers_queue_among_themselves_and_the_call_path_passes_them(
    tmp_path: Path,
) -> None:
    """The records writer and the flows threads (`yield_to_call_path`) wait for the one
    background writer ahead of them before they join the write lock's queue; a call-path
    writer (a booking) never waits for that queue."""
    path = tmp_path / "b.db"
    setup = _connect(path)
    setup.execute("CREATE TABLE t (who TEXT PRIMARY KEY, seen INTEGER)")
    setup.close()
    # Another process's background writer, between its turns: it holds the background lock.
    other = os.open(f"{os.path.realpath(path)}.background-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)
    done: list[str] = []

    def writer(who: str, background: bool) -> None:
        if background:
            yield_to_call_path()
        conn = _connect(path)
        conn.cursor().execute("INSERT INTO t VALUES (?, 0)", (who,))
        done.append(who)
        conn.close()

    booking = threading.Thread(target=writer, args=("booking", False), daemon=True)
    booking.start()
    booking.join(timeout=30)
    assert done == ["booking"]  # the call path did not queue behind the background writer
    records = threading.Thread(target=writer, args=("records", True), daemon=True)
    records.start()
    records.join(timeout=0.5)
    assert records.is_alive() and done == ["booking"]  # waits for the one ahead of it
    fcntl.flock(other, fcntl.LOCK_UN)
    records.join(timeout=30)
    assert done == ["booking", "records"]
    # Once written, it has given the background lock back to the next one.
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(other)
