"""Two calls racing for one slot: exactly one wins, enforced by the database - across
threads and across processes with separate `Database` objects on one file."""

from __future__ import annotations

import multiprocessing as mp
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from voicectl.booking.appointments import create_appointment
from voicectl.booking.bench import race
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


def test_threads_race_for_one_slot(tmp_path: Path) -> None:
    db = Database(tmp_path / "race.db")
    spa = get_business_policy("demo-spa")
    barrier = threading.Barrier(N)
    results: list[dict] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        # overlapping services too: 12:00 60 min vs 12:30-starting variants all collide
        r = create_appointment(db, spa, NOW, SLOT, "swedish", f"thread {i}", f"05012345{i:02d}")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r["ok"]]
    taken = [r for r in results if not r["ok"]]
    assert len(ok) == 1, results
    assert len(taken) == N - 1 and all(r["error"] == "slot_taken" for r in taken), taken
    assert all(r["suggestions"] and SLOT not in r["suggestions"] for r in taken)
    assert _counts(db) == (1, 1, 12)  # 60 min = 12 five-minute cells
    db.dispose()


def test_processes_race_for_one_slot(tmp_path: Path) -> None:
    path = str(tmp_path / "race-proc.db")
    Database(path).dispose()  # create the schema once, before the race
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(N)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=race,
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


def test_overlapping_services_race(tmp_path: Path) -> None:
    """Different starts whose intervals overlap (12:00 60 min vs 12:30 30 min) collide too."""
    db = Database(tmp_path / "overlap.db")
    spa = get_business_policy("demo-spa")
    barrier = threading.Barrier(N)
    results: list[dict] = []

    def worker(i: int) -> None:
        start, svc = (SLOT, "swedish") if i % 2 else ("2026-11-22T12:30:00+02:00", "reflexology")
        barrier.wait()
        results.append(create_appointment(db, spa, NOW, start, svc, f"t{i}"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["ok"] for r in results) == 1
    assert {r.get("error") for r in results if not r["ok"]} == {"slot_taken"}
    db.dispose()
