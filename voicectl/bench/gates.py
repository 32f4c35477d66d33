"""Marks judged over a bench run: budget verdict, baseline regression, the final verdict.

A mark's judged value is its budget's statistic (`Budget.stat`, p95 unless the file says
otherwise) over every turn of every run. Against a baseline (an earlier `bench --json`),
the same statistic may grow by at most `max_regression_pct` percent; a change smaller than
one 20 ms frame (`REGRESSION_FLOOR_MS`) is below what a call can resolve and never counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from voicectl.audio.frames import FRAME_MS
from voicectl.bench.stats import summarize
from voicectl.sim.budgets import Budget, verdict, worst

__all__ = ["REGRESSION_FLOOR_MS", "Gate", "MarkGate", "final_verdict", "judge_marks", "regression"]

#: Smallest change of a time mark counted as a regression (ms): one 20 ms frame tick.
REGRESSION_FLOOR_MS = float(FRAME_MS)


@dataclass
class MarkGate:
    """One mark over a bench run.

    Attributes:
        mark: the mark name.
        summary: ``{n, p50, p90, p95, p99, max, mean}`` over the run's turns (ms or count).
        budget: its budget, or None (an info mark: shown, never judged).
        value: the judged statistic (`budget.stat`), None for info marks.
        verdict: GO / WARN / NO-GO from the budget, ``info`` without one.
        baseline: the same statistic in the baseline run (None = no baseline or mark).
        change_pct: (value - baseline) / |baseline| in percent.
        regressed: the change is a regression beyond the allowed percentage.
    """

    mark: str
    summary: dict[str, float]
    budget: Budget | None
    value: float | None
    verdict: str
    baseline: float | None = None
    change_pct: float | None = None
    regressed: bool = False

    @property
    def failed(self) -> bool:
        """NO-GO or regressed: this gate fails the bench."""
        return self.verdict == "NO-GO" or self.regressed


@dataclass
class Gate:
    """A functional or load gate: a name, pass/fail and a one-line explanation."""

    name: str
    ok: bool
    detail: str


def regression(base: float, now: float, max_pct: float, unit: str = "ms") -> tuple[float, bool]:
    """Compare a judged statistic with its baseline.

    Args:
        base: the baseline's value.
        now: this run's value.
        max_pct: the largest allowed growth, percent of |base|.
        unit: ``ms`` applies the one-frame floor; counters count any increase.

    Returns:
        (change in percent of |base| - ``inf`` when base is 0 and now is larger, regressed).
    """
    delta = now - base
    if base == 0:
        pct = math.inf if delta > 0 else (0.0 if delta == 0 else -math.inf)
    else:
        pct = delta / abs(base) * 100
    floor = REGRESSION_FLOOR_MS if unit == "ms" else 0.0
    return pct, bool(delta > floor and pct > max_pct)


def judge_marks(
    values: Mapping[str, list[float]],
    budgets: Mapping[str, Budget],
    baseline: Mapping[str, Mapping[str, float]] | None = None,
    max_regression_pct: float = 20.0,
) -> list[MarkGate]:
    """Judge every mark that has values.

    Args:
        values: mark -> every measured value of the run (ms or count).
        budgets: mark -> budget (marks without one are ``info``).
        baseline: mark -> statistic name -> value, from an earlier run (`results.baseline_of`).
        max_regression_pct: allowed growth of a judged statistic over the baseline.

    Returns:
        One `MarkGate` per mark in `values` that has at least one value, in its order.
    """
    out = []
    for mark, vals in values.items():
        if not vals:
            continue
        summary = summarize(vals)
        budget = budgets.get(mark)
        if budget is None:
            out.append(MarkGate(mark, summary, None, None, "info"))
            continue
        value = summary[budget.stat]
        gate = MarkGate(mark, summary, budget, value, verdict(budget, value))
        base = (baseline or {}).get(mark, {}).get(budget.stat)
        if base is not None and math.isfinite(base) and math.isfinite(value):
            gate.baseline = base
            gate.change_pct, gate.regressed = regression(
                base, value, max_regression_pct, budget.unit
            )
        out.append(gate)
    return out


def final_verdict(marks: list[MarkGate], gates: list[Gate]) -> tuple[str, list[str]]:
    """The bench verdict and its reasons.

    NO-GO when a mark is NO-GO, a mark regressed or a gate failed; else WARN when a mark is
    WARN; else GO.

    Returns:
        (``GO`` | ``WARN`` | ``NO-GO``, reasons: one short phrase per failing or warning item,
        worst first).
    """
    reasons: list[str] = []
    for g in gates:
        if not g.ok:
            reasons.append(f"{g.name}: {g.detail}")
    for m in marks:
        if m.verdict == "NO-GO":
            reasons.append(f"{m.mark} {_stat(m)} NO-GO (> {m.budget.nogo_above:g})")  # type: ignore[union-attr]
        if m.regressed:
            reasons.append(
                f"{m.mark} {_stat(m)} regressed {m.change_pct:+.0f}% vs baseline {m.baseline:,.0f}"
            )
    failing = bool(reasons)
    for m in marks:
        if m.verdict == "WARN":
            reasons.append(f"{m.mark} {_stat(m)} WARN (> {m.budget.go_max:g})")  # type: ignore[union-attr]
    if failing:
        return "NO-GO", reasons
    return worst(m.verdict for m in marks), reasons


def _stat(m: MarkGate) -> str:
    assert m.budget is not None and m.value is not None
    return f"{m.budget.stat} {m.value:,.0f}"
