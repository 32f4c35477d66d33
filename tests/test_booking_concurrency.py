"""Two calls racing for one slot: exactly one wins, enforced by the database - across
threads and across processes with separate `Database` objects on one database, on SQLite
(one file) and on PostgreSQL (the `appointment_slots` primary key; no Python lock)."""

from __future__ import annotations

import multiprocessing as mp
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from helpers import race
from sqlalchemy import func, select

from voicectl.booking import bench
from voicectl.booking.appointments import create_appointment
from voicectl.booking.policy import get_business_policy
from voicectl.store.booking import AppointmentRow, AppointmentSlotRow, EventRow
from voicectl.store.db import Database

TZ = ZoneInfo("Asia/Jerusalem")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)
SLOT = "2026-11-22T12:00:00+02:00"
N = 20


def _counts(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(m))
            for m in (AppointmentRow, EventRow, AppointmentSlotRow)
        )


def test_threads_race_for_one_slot(db_url: str) -> None:
    db = Database(db_url)
    spa = get_business_policy("demo-spa")
    results = race(
        N,
        lambda i: create_appointment(
            db, spa, NOW, SLOT, "swedish", f"thread {i}", f"05012345{i:02d}"
        ),
    )
    ok = [r for r in results if r["ok"]]
    taken = [r for r in results if not r["ok"]]
    assert len(ok) == 1, results
    assert len(taken) == N - 1 and all(r["error"] == "slot_taken" for r in taken), taken
    assert all(r["suggestions"] and SLOT not in r["suggestions"] for r in taken)
    assert _counts(db) == (1, 1, 12)  # 60 min = 12 five-minute cells
    db.dispose()


def test_processes_race_for_one_slot(db_url: str) -> None:
    path = db_url
    Database(path).dispose()  # create the schema once, before the race
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(N)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=bench.race,
            args=(path, "demo-spa", NOW.isoformat(), SLOT, "sports", f"proc {i}", barrier, results),
        )
        for i in range(N)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(outcomes) == ["ok"] + ["slot_taken"] * (N - 1)
    db = Database(path)
    assert _counts(db) == (1, 1, 9)  # 45 min = 9 cells
    db.dispose()


def test_overlapping_services_race(db_url: str) -> None:
    """Different starts whose intervals overlap (12:00 60 min vs 12:30 30 min) collide too."""
    db = Database(db_url)
    spa = get_business_policy("demo-spa")

    def book(i: int) -> dict:
        start, svc = (SLOT, "swedish") if i % 2 else ("2026-11-22T12:30:00+02:00", "reflexology")
        return create_appointment(db, spa, NOW, start, svc, f"t{i}")

    results = race(N, book)
    assert sum(r["ok"] for r in results) == 1
    assert {r.get("error") for r in results if not r["ok"]} == {"slot_taken"}
    db.dispose()


def test_the_primary_key_decides_even_when_every_read_saw_the_slot_free(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each racer's check of the slot is blinded (it sees the slot free): the
    `appointment_slots` primary key alone still lets exactly one booking commit - the
    guarantee is the database's, not the read's and not a lock's."""
    import voicectl.booking.appointments as appointments

    real = appointments.occupied_cells
    seen = threading.local()

    def blind_first_read(*args: object) -> set[int]:
        if not getattr(seen, "blinded", False):
            seen.blinded = True
            return set()
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(appointments, "occupied_cells", blind_first_read)
    db = Database(db_url)
    spa = get_business_policy("demo-spa")
    results = race(
        N, lambda i: create_appointment(db, spa, NOW, SLOT, "swedish", f"t{i}", f"0521234{i:03d}")
    )
    assert sum(r["ok"] for r in results) == 1, results
    assert {r.get("error") for r in results if not r["ok"]} == {"slot_taken"}, results
    assert _counts(db) == (1, 1, 12)
    db.dispose()
