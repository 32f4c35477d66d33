"""Percentiles and summaries (the statistics a budget may judge, `sim.budgets.STATISTICS`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["percentile", "summarize"]


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) of `values`, NaN when there are none.

    Linear interpolation between closest ranks (numpy's default, Hyndman & Fan type 7),
    so p50 of [1, 2, 3, 4] is 2.5 and p100 is the max.

    Raises:
        ValueError: `q` outside 0..100.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    if not values:
        return math.nan
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summarize(values: Sequence[float]) -> dict[str, float]:
    """``{n, p50, p90, p95, p99, max, mean}`` of `values` (NaN statistics when empty)."""
    out: dict[str, float] = {"n": float(len(values))}
    for name, q in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99)):
        out[name] = percentile(values, q)
    out["max"] = float(max(values)) if values else math.nan
    out["mean"] = float(sum(values) / len(values)) if values else math.nan
    return out
