"""Event-loop lag of a server process, as a Prometheus histogram in `/metrics`.

A task sleeps `interval_s` over and over and records by how much each wake-up came late:
the time any coroutine on the loop waited for the CPU (a blocked loop delays every call's
20 ms audio). `voicectl bench --load` reads the histogram before and after a load run and
takes the p99 of the difference.
"""

from __future__ import annotations

import asyncio
import bisect
import time

__all__ = ["BUCKETS_S", "LoopLagMonitor", "histogram_quantile"]

#: Histogram bucket upper bounds (seconds); the last, +Inf, is implicit.
BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
METRIC = "voicectl_event_loop_lag_seconds"


class LoopLagMonitor:
    """Measures event-loop lag; `run()` is the task, `prometheus_lines()` the metric.

    Args:
        interval_s: the sleep whose overshoot is measured (default 50 ms: 20 wake-ups a
            second, far below one call's 50 audio frames a second).
    """

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.counts = [0] * (len(BUCKETS_S) + 1)
        self.total_s = 0.0
        self.samples = 0

    def record(self, lag_s: float) -> None:
        """Count one wake-up that came `lag_s` seconds late (negative = on time)."""
        lag_s = max(lag_s, 0.0)
        self.counts[bisect.bisect_left(BUCKETS_S, lag_s)] += 1
        self.total_s += lag_s
        self.samples += 1

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            self.record(time.perf_counter() - t0 - self.interval_s)

    def prometheus_lines(self) -> list[str]:
        """The histogram in Prometheus text format (cumulative buckets, sum, count)."""
        lines = [
            f"# HELP {METRIC} How late the event loop woke a {self.interval_s * 1000:g} ms timer.",
            f"# TYPE {METRIC} histogram",
        ]
        cum = 0
        for bound, n in zip(BUCKETS_S, self.counts, strict=False):
            cum += n
            lines.append(f'{METRIC}_bucket{{le="{bound:g}"}} {cum}')
        lines.append(f'{METRIC}_bucket{{le="+Inf"}} {self.samples}')
        lines.append(f"{METRIC}_sum {self.total_s:.6f}")
        lines.append(f"{METRIC}_count {self.samples}")
        return lines


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The `q` quantile (0..1) of a cumulative histogram, as Prometheus computes it.

    Args:
        q: the quantile, e.g. 0.99.
        buckets: (upper bound, cumulative count) sorted by bound, ending with +Inf.

    Returns:
        Linear interpolation inside the bucket holding the quantile; the largest finite
        bound when it falls in +Inf; None when the histogram is empty.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound
