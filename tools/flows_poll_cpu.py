"""CPU of one idle round of the after-call flows dispatcher (issue 12): what every `serve`
process spends every `poll_s` (0.5 s) looking for events and deliveries when there are
none - `Dispatcher.run_once` on an empty SQLite file.

    python tools/flows_poll_cpu.py

Prints CPU µs per round (`time.process_time`), best of 5 rounds of 300. Compare two trees
by running this file with each tree first on `PYTHONPATH` (ratios, not absolute numbers,
on a shared box).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from voicectl.flows.dispatcher import Dispatcher
from voicectl.flows.engine import FlowEngine
from voicectl.store.db import Database


def main() -> None:
    """Print the best CPU µs per idle `run_once` over 5 rounds of 300."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "flows.db")
        dispatcher = Dispatcher(FlowEngine(db))
        for _ in range(50):  # statements compiled, pool warm
            dispatcher.run_once()
        best = float("inf")
        for _ in range(5):
            t0 = time.process_time()
            for _ in range(300):
                dispatcher.run_once()
            best = min(best, (time.process_time() - t0) / 300 * 1e6)
        db.dispose()
    print(f"idle dispatcher round: {best:.0f} µs CPU (best of 5 x 300)")


if __name__ == "__main__":
    main()
