"""A write that lost a lock conflict - SQLite locked past its busy timeout, a real
PostgreSQL deadlock - is run again, a bounded number of times; nothing else is retried."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from voicectl.store.booking import EventRow
from voicectl.store.db import LOCKED_RETRIES, Database, is_locked_error, retry_locked


def _locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))


def test_lock_timeouts_are_retried_then_succeed() -> None:
    calls = []

    def write() -> str:
        calls.append(1)
        if len(calls) < LOCKED_RETRIES:
            raise _locked()
        return "ok"

    assert retry_locked(write) == "ok"
    assert len(calls) == LOCKED_RETRIES


def test_the_last_lock_timeout_is_raised() -> None:
    calls = []

    def write() -> None:
        calls.append(1)
        raise _locked()

    with pytest.raises(OperationalError):
        retry_locked(write)
    assert len(calls) == LOCKED_RETRIES


def test_other_errors_are_not_retried() -> None:
    calls = []

    def write() -> None:
        calls.append(1)
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("no such table: x"))

    with pytest.raises(OperationalError):
        retry_locked(write)
    assert calls == [1]
    assert not is_locked_error(ValueError("database is locked"))


def test_a_postgresql_deadlock_is_detected_and_retried(pg_database: str) -> None:
    """Two transactions lock two rows in opposite orders; PostgreSQL aborts one
    (SQLSTATE 40P01), `retry_locked` runs it again, and both updates land once."""
    db = Database(pg_database)
    with db.session() as s:
        s.add_all([EventRow(type="a", payload="{}"), EventRow(type="b", payload="{}")])
    with db.session() as s:
        a, b = s.scalars(select(EventRow.id).order_by(EventRow.id)).all()
    both_hold_one = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []
    runs: list[int] = []

    def bump(first: int, second: int) -> None:
        def txn() -> None:
            runs.append(first)
            with db.session() as s:
                s.execute(
                    update(EventRow)
                    .where(EventRow.id == first)
                    .values(attempts=EventRow.attempts + 1)
                )
                if runs.count(first) == 1:
                    both_hold_one.wait()  # each holds one row lock, then wants the other's
                s.execute(
                    update(EventRow)
                    .where(EventRow.id == second)
                    .values(attempts=EventRow.attempts + 1)
                )

        try:
            retry_locked(txn)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=p) for p in ((a, b), (b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(runs) == 3  # one of the two was aborted as the deadlock's victim, once
    with db.session() as s:
        assert s.scalars(select(EventRow.attempts).order_by(EventRow.id)).all() == [2, 2]
    db.dispose()


def test_a_postgresql_unique_violation_is_not_a_lock_conflict(pg_database: str) -> None:
    db = Database(pg_database)
    with db.session() as s:
        s.add(EventRow(id=1, type="a", payload="{}"))
    with pytest.raises(IntegrityError) as caught, db.session() as s:
        s.add(EventRow(id=1, type="b", payload="{}"))
    assert not is_locked_error(caught.value)
    db.dispose()
