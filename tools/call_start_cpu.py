"""CPU of the per-call-start policy lookups (issue 12): `get_business_policy` (every call
start) and `business_for_number` (every `/voice`), against a seeded SQLite file.

    python tools/call_start_cpu.py

Prints µs per call, best of 5 rounds of 300 (`timeit`). Compare two trees by running this
file with each tree first on `PYTHONPATH` (ratios, not absolute numbers, on a shared box).
"""

from __future__ import annotations

import tempfile
import timeit
from pathlib import Path

from voicectl.booking.policy import business_for_number, get_business_policy, seed_policies
from voicectl.store.db import Database


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "policy.db")
        seed_policies(db)
        cases = [
            ("get_business_policy", lambda: get_business_policy("demo-spa", db=db)),
            ("business_for_number (known)", lambda: business_for_number("+97233720100", db=db)),
            ("business_for_number (unknown)", lambda: business_for_number("+15005550006", db=db)),
        ]
        for name, fn in cases:
            n = 300
            best = min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6
            print(f"{name:34s} {best:8.1f} µs")
        db.dispose()


if __name__ == "__main__":
    main()
