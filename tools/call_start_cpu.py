"""CPU of the per-call-start database work (issue 12), against a seeded SQLite file: the
policy lookups `get_business_policy` (every call start) and `business_for_number` (every
`/voice`), and the stream-token statements (`store/streams.py`) with 100 calls in flight
(50 live, 50 answered): `issue_token` under the box cap (every `/voice`), and a whole
call start - token, claim of the live stream, its release; and one `find_slots` tool
call as the agent makes it each turn (`BookingTools`: the query and its trace row).

    python tools/call_start_cpu.py

Prints CPU µs per call (`time.process_time`), best of 5 rounds of 300 (`timeit`). Compare
two trees by running this file with each tree first on `PYTHONPATH` (ratios, not
absolute numbers, on a shared box).
"""

from __future__ import annotations

import tempfile
import time
import timeit
from datetime import datetime
from pathlib import Path

from voicectl.booking.policy import business_for_number, get_business_policy, seed_policies
from voicectl.booking.tools import BookingTools
from voicectl.store import streams
from voicectl.store.db import Database

IN_FLIGHT = 100


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "policy.db")
        seed_policies(db)
        for i in range(IN_FLIGHT):
            streams.issue_token(db, **_token(f"seed{i}"), ttl_s=3600)
            if i % 2 == 0:
                streams.claim_stream(db, **_claim(f"seed{i}"))
        seq = [0]
        tools = BookingTools(db, "demo-spa", lambda: datetime(2026, 12, 3, 10), call_sid="CA1")

        def issue() -> None:
            seq[0] += 1  # expires at once: the table does not grow with the rounds
            streams.issue_token(db, **_token(f"i{seq[0]}"), ttl_s=0.0001, max_in_flight=10_000)

        def call_start() -> None:
            seq[0] += 1
            streams.issue_token(db, **_token(f"c{seq[0]}"), ttl_s=3600, max_in_flight=10_000)
            streams.claim_stream(db, **_claim(f"c{seq[0]}"))
            streams.release_stream(db, f"CAc{seq[0]}", "MZ1")

        cases = [
            ("get_business_policy", lambda: get_business_policy("demo-spa", db=db)),
            ("business_for_number (known)", lambda: business_for_number("+97233720100", db=db)),
            ("business_for_number (unknown)", lambda: business_for_number("+15005550006", db=db)),
            (f"issue_token ({IN_FLIGHT} in flight)", issue),
            ("issue + claim + release", call_start),
            ("find_slots tool call", lambda: tools.find_slots("2026-12-06", "swedish")),
        ]
        for name, fn in cases:
            n = 300
            best = min(timeit.repeat(fn, number=n, repeat=5, timer=time.process_time)) / n * 1e6
            print(f"{name:34s} {best:8.1f} µs")
        db.dispose()


def _token(key: str) -> dict:
    return {"nonce": key, "call_sid": f"CA{key}", "business_id": "demo-spa", "host": "box"}


def _claim(key: str) -> dict:
    return {"nonce": key, "call_sid": f"CA{key}", "stream_sid": "MZ1", "owner": "o", "host": "box"}


if __name__ == "__main__":
    main()
