"""A write that found SQLite locked past its busy timeout is run again, a bounded number of
times; nothing else is retried."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from voicectl.store.db import LOCKED_RETRIES, is_locked_error, retry_locked


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
