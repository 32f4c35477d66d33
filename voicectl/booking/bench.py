"""Micro-benchmark of the booking tools on a busy calendar.

`python -m voicectl.booking.bench [--appointments 1000] [--runs 200] [--db PATH]` books
`--appointments` appointments for `demo-spa` (window widened to a year so they fit), then
times `find_slots` on random days and `create_appointment` on random free slots, and prints
the median and p95 in ms. Aims: find_slots < 5 ms, create_appointment < 10 ms.

`race(db_path, ...)` is a helper for the cross-process double-booking test: one process
books one slot and puts the result's `error` (or "ok") on a queue.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from voicectl.booking.appointments import create_appointment
from voicectl.booking.policy import get_business_policy
from voicectl.booking.slots import find_slots
from voicectl.store.db import Database

BENCH_NOW = "2026-11-20T08:00:00+02:00"
SERVICES = ("swedish", "deep_tissue", "sports", "reflexology")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def fill(db: Database, n: int, seed: int = 7) -> int:
    """Book up to `n` appointments on random free `demo-spa` slots; return how many."""
    rng = random.Random(seed)
    policy = get_business_policy("demo-spa", overrides={"booking_window_days": 365})
    now = datetime.fromisoformat(BENCH_NOW).astimezone(policy.tz)
    booked = 0
    attempts = 0
    while booked < n and attempts < n * 20:
        attempts += 1
        day = (now + timedelta(days=rng.randint(1, 360))).date().isoformat()
        svc = rng.choice(SERVICES)
        res = find_slots(db, policy, now, day, svc)
        if not res.get("slots"):
            continue
        slot = rng.choice(res["slots"])
        phone = (
            f"05{rng.randint(0, 8)}{rng.randint(1000000, 9999999)}" if rng.random() < 0.7 else None
        )
        out = create_appointment(db, policy, now, slot["start_iso"], svc, f"לקוח {booked}", phone)
        booked += bool(out.get("ok"))
    return booked


def run(n_appointments: int = 1000, runs: int = 200, db_path: str | None = None) -> dict[str, Any]:
    """Fill a calendar and time both tools.

    Returns:
        `{appointments, find_slots: {median_ms, p95_ms}, create_appointment: {...}}`.
    """
    tmp = None
    if db_path is None:
        tmp = tempfile.TemporaryDirectory()
        db_path = str(Path(tmp.name) / "bench.db")
    db = Database(db_path)
    try:
        booked = fill(db, n_appointments)
        policy = get_business_policy("demo-spa", overrides={"booking_window_days": 365})
        now = datetime.fromisoformat(BENCH_NOW).astimezone(policy.tz)
        rng = random.Random(11)
        fs: list[float] = []
        ca: list[float] = []
        for i in range(runs):
            day = (now + timedelta(days=rng.randint(1, 360))).date().isoformat()
            svc = rng.choice(SERVICES)
            t0 = time.perf_counter()
            res = find_slots(db, policy, now, day, svc)
            fs.append((time.perf_counter() - t0) * 1000)
            if not res.get("slots"):
                continue
            start = rng.choice(res["slots"])["start_iso"]
            t0 = time.perf_counter()
            out = create_appointment(db, policy, now, start, svc, f"בנץ' {i}", "0521234567")
            ca.append((time.perf_counter() - t0) * 1000)
            assert out["ok"], out
        return {
            "appointments": booked,
            "find_slots": {"median_ms": statistics.median(fs), "p95_ms": _pct(fs, 0.95)},
            "create_appointment": {"median_ms": statistics.median(ca), "p95_ms": _pct(ca, 0.95)},
            "runs": {"find_slots": len(fs), "create_appointment": len(ca)},
        }
    finally:
        db.dispose()
        if tmp is not None:
            tmp.cleanup()


def race(
    db_path: str,
    business_id: str,
    now_iso: str,
    start_iso: str,
    service: str,
    name: str,
    barrier: Any,
    results: Any,
) -> None:
    """Book one slot from its own process with its own `Database`; put the outcome
    (`"ok"` or the error code) on `results`. Waits on `barrier` so all start together."""
    db = Database(db_path)
    try:
        policy = get_business_policy(business_id)
        now = datetime.fromisoformat(now_iso)
        barrier.wait()
        out = create_appointment(db, policy, now, start_iso, service, name)
        results.put("ok" if out.get("ok") else str(out.get("error")))
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints the medians and p95s in ms."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--appointments", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument(
        "--db", default=None, help="SQLite file or database URL (default: a temporary SQLite file)"
    )
    args = ap.parse_args(argv)
    r = run(args.appointments, args.runs, args.db)
    print(f"calendar: {r['appointments']} existing appointments (demo-spa)")
    for tool, aim in (("find_slots", 5.0), ("create_appointment", 10.0)):
        m = r[tool]
        print(
            f"{tool:<20} median {m['median_ms']:6.2f} ms   p95 {m['p95_ms']:6.2f} ms"
            f"   (aim < {aim:g} ms, n={r['runs'][tool]})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
