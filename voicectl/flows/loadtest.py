"""Load test of the outbox: N dispatcher processes (`voicectl flows run`) on one SQLite file
drain E `appointment.created` events; prints events/s, delivery delay percentiles and the
exactly-once checks (issue 9 reliability proof 3).

    python -m voicectl.flows.loadtest --events 1000 --workers 2 [--rate 0]

`--rate 0` writes every event at once (a burst: the figure is throughput); `--rate R`
writes R events per second in 10 ms batches while the workers run (the figure is the
delivery delay under a steady load). Delay = `sent_at - created_at` of each delivery.
Messenger: the offline outbox. Exit code 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from voicectl.booking.policy import seed_policies
from voicectl.store.booking import EventRow
from voicectl.store.db import Database
from voicectl.store.flows import AttemptRow, DeliveryRow, OutboxMessageRow

RULES = "delivery: {poll_s: 0.05, batch: 50}\n"


def _payload(i: int) -> str:
    return json.dumps(
        {
            "appointment_id": i,
            "start_iso": "2026-11-22T09:00:00+02:00",
            "service": "swedish",
            "customer_name": "דני",
            "customer_phone": f"+97250{i:07d}",
            "business_id": "demo-spa",
            "call_sid": None,
        }
    )


def _write(db: Database, start: int, n: int) -> None:
    with db.session() as s:
        for i in range(start, start + n):
            s.add(EventRow(type="appointment.created", business_id="demo-spa", payload=_payload(i)))


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(events: int, workers: int, rate: float, tmp: Path) -> dict:
    """Run one load test in `tmp`; returns the figures and checks as a dict."""
    dbfile = tmp / "load.db"
    rules = tmp / "flows.yaml"
    rules.write_text(RULES, encoding="utf-8")
    db = Database(dbfile)
    seed_policies(db)
    env = {**os.environ, "VOICECTL_FLOWS_RULES": str(rules), "VOICECTL_LOG_LEVEL": "WARNING"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "voicectl", "flows", "run", "--db", str(dbfile)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    time.sleep(2.0)  # let the workers start (imports) before the clock starts
    t0 = time.monotonic()
    if rate <= 0:
        _write(db, 0, events)
    else:
        written, step = 0, max(1, int(rate / 100))
        while written < events:
            n = min(step, events - written)
            _write(db, written, n)
            written += n
            time.sleep(max(0.0, t0 + written / rate - time.monotonic()))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        with db.session() as s:
            sent = s.scalar(
                select(func.count()).select_from(DeliveryRow).where(DeliveryRow.status == "sent")
            )
        if sent >= events:
            break
        time.sleep(0.05)
    wall = time.monotonic() - t0
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    with db.session() as s:
        rows = s.execute(select(DeliveryRow.created_at, DeliveryRow.sent_at, DeliveryRow.attempts))
        rows = rows.all()
        outbox = s.scalar(select(func.count()).select_from(OutboxMessageRow))
        attempts = s.scalar(select(func.count()).select_from(AttemptRow))
        per_worker = dict(
            s.execute(select(AttemptRow.worker, func.count()).group_by(AttemptRow.worker)).all()
        )
    delays = [(b - a).total_seconds() * 1000 for a, b, _ in rows if b is not None]
    checks = {
        "every event has one delivery": len(rows) == events,
        "every delivery sent": len(delays) == events,
        "one attempt each": all(n == 1 for _, _, n in rows) and attempts == events,
        "one outbox message each": outbox == events,
    }
    return {
        "events": events,
        "workers": workers,
        "rate": rate,
        "wall_s": round(wall, 2),
        "events_per_s": round(events / wall, 1),
        "delay_ms_p50": round(_pct(delays, 50), 1) if delays else None,
        "delay_ms_p95": round(_pct(delays, 95), 1) if delays else None,
        "delay_ms_max": round(max(delays), 1) if delays else None,
        "per_worker": sorted(per_worker.values(), reverse=True),
        "checks": checks,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", type=float, default=0.0, help="events/s; 0 = all at once")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="voicectl-flows-load-") as tmp:
        out = run(args.events, args.workers, args.rate, Path(tmp))
    print(json.dumps(out, indent=2))
    return 0 if all(out["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
