"""The bench result: runs, marks judged, gates, verdict - and its JSON form.

JSON shape (``schema: voicectl.bench/1``)::

    {"schema": "voicectl.bench/1", "context": {...see context.py...},
     "budgets": {"path": ..., "expectation_pass_rate": 1.0,
                 "marks": {"V2V_MS": {"go": 1500, "no_go": 2500, "stat": "p95", "unit": "ms"}}},
     "runs": [{"scenario", "run", "ok", "first_failure", "latency_verdict", "call_sid",
               "wall_s", "checks": [{"name", "ok", "detail"}],
               "turns": [{"index", "kind", "marks": {mark: ms}}], "metrics": {name: n}}],
     "marks": {mark: {"n", "p50", "p90", "p95", "p99", "max", "mean", "stat", "value",
                      "verdict", "baseline", "change_pct", "regressed"}},
     "scenarios": {name: {"runs", "passed", "first_failure"}},
     "gates": [{"name", "ok", "detail"}],
     "verdict": "GO" | "WARN" | "NO-GO", "reasons": [...], "exit_code": 0 | 1}

`baseline_of` reads the ``marks`` block back for `--baseline`. NaN becomes null.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicectl.bench.gates import Gate, MarkGate, final_verdict, judge_marks
from voicectl.bench.suite import RunOutcome
from voicectl.call.marks import CALL_METRICS, CALLER_MARKS, SERVER_MARKS
from voicectl.sim.budgets import BudgetFile

__all__ = ["SCHEMA", "BaselineError", "BenchResult", "baseline_of", "build_result"]

SCHEMA = "voicectl.bench/1"


class BaselineError(ValueError):
    """The baseline file cannot be used (message names the file and the problem)."""


@dataclass
class BenchResult:
    """A judged bench run (see the module docstring for its JSON form)."""

    runs: list[RunOutcome]
    marks: list[MarkGate]
    gates: list[Gate]
    verdict: str
    reasons: list[str]
    budgets: BudgetFile
    context: dict[str, Any] = field(default_factory=dict)
    strict: bool = False

    @property
    def exit_code(self) -> int:
        """0 = GO (or WARN without --strict); 1 = NO-GO, failed expectation, regression."""
        if self.verdict == "NO-GO" or (self.strict and self.verdict == "WARN"):
            return 1
        return 0

    def scenarios(self) -> dict[str, dict[str, Any]]:
        """name -> {runs, passed, first_failure} in first-run order."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.runs:
            s = out.setdefault(r.scenario.name, {"runs": 0, "passed": 0, "first_failure": None})
            s["runs"] += 1
            s["passed"] += int(r.ok)
            if not r.ok and s["first_failure"] is None:
                s["first_failure"] = f"run {r.run}: {r.first_failure}"
        return out

    def to_json(self) -> dict[str, Any]:
        """The JSON-able form (module docstring)."""
        b = self.budgets
        return _clean(
            {
                "schema": SCHEMA,
                "context": self.context,
                "budgets": {
                    "path": b.path,
                    "expectation_pass_rate": b.expectation_pass_rate,
                    "marks": {
                        m: {"go": x.go_max, "no_go": x.nogo_above, "stat": x.stat, "unit": x.unit}
                        for m, x in b.marks.items()
                    },
                },
                "runs": [_run_json(r) for r in self.runs],
                "marks": {
                    g.mark: {
                        **g.summary,
                        "stat": g.budget.stat if g.budget else None,
                        "value": g.value,
                        "verdict": g.verdict,
                        "baseline": g.baseline,
                        "change_pct": g.change_pct,
                        "regressed": g.regressed,
                    }
                    for g in self.marks
                },
                "scenarios": self.scenarios(),
                "gates": [{"name": g.name, "ok": g.ok, "detail": g.detail} for g in self.gates],
                "verdict": self.verdict,
                "reasons": self.reasons,
                "exit_code": self.exit_code,
            }
        )


def _run_json(r: RunOutcome) -> dict[str, Any]:
    res = r.result
    return {
        "scenario": r.scenario.name,
        "run": r.run,
        "ok": r.ok,
        "first_failure": r.first_failure,
        "latency_verdict": res.latency_verdict if res else None,
        "call_sid": res.record.get("call_sid") if res else None,
        "wall_s": round(r.wall_s, 3),
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in res.checks]
        if res
        else [],
        "turns": [
            {"index": t.get("index"), "kind": t.get("kind"), "marks": t["marks"]} for t in res.turns
        ]
        if res
        else [],
        "metrics": {k: v for k, (v, _) in res.metrics.items()} if res else {},
    }


def _clean(value: Any) -> Any:
    """NaN / inf -> None (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def mark_values(runs: list[RunOutcome]) -> dict[str, list[float]]:
    """mark -> every value over every run: the marks of caller turns and the call metrics
    (one value per call). Greeting turns are left out, as in `voicectl.sim.figures`: they
    have no caller utterance to measure from, and their ~20 ms "turn latency" from the
    stream start would pull every percentile down."""
    values: dict[str, list[float]] = {m: [] for m in (*SERVER_MARKS, *CALLER_MARKS)}
    for m in CALL_METRICS:
        values[m] = []
    for r in runs:
        if r.result is None:
            continue
        for t in r.result.turns:
            if t.get("kind") == "greeting":
                continue
            for m, v in t["marks"].items():
                values.setdefault(m, []).append(float(v))
        for m, (v, _) in r.result.metrics.items():
            values.setdefault(m, []).append(float(v))
    return values


def build_result(
    runs: list[RunOutcome],
    budgets: BudgetFile,
    *,
    baseline: dict[str, dict[str, float]] | None = None,
    max_regression_pct: float = 20.0,
    strict: bool = False,
    context: dict[str, Any] | None = None,
) -> BenchResult:
    """Judge the runs: marks against budgets and baseline, the expectation gate, verdict."""
    marks = judge_marks(mark_values(runs), budgets.marks, baseline, max_regression_pct)
    passed = sum(r.ok for r in runs)
    rate = passed / len(runs) if runs else 0.0
    need = budgets.expectation_pass_rate
    failed = [r for r in runs if not r.ok]
    detail = f"{passed}/{len(runs)} runs met every expectation (need {need:.0%})"
    if failed:
        first = failed[0]
        detail += f"; first: {first.scenario.name} run {first.run}: {first.first_failure}"
    gates = [Gate("expectations", bool(runs) and rate >= need, detail)]
    verdict, reasons = final_verdict(marks, gates)
    return BenchResult(runs, marks, gates, verdict, reasons, budgets, context or {}, strict)


def baseline_of(path: Path) -> dict[str, dict[str, float]]:
    """mark -> statistic -> value from an earlier `bench --json` file.

    Raises:
        BaselineError: unreadable file, not JSON, or not a bench result.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{path}: not a readable JSON file: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BaselineError(f"{path}: schema: not a `voicectl bench --json` result ({SCHEMA})")
    marks = data.get("marks")
    if not isinstance(marks, dict):
        raise BaselineError(f"{path}: marks: missing or not a mapping")
    out: dict[str, dict[str, float]] = {}
    for mark, stats in marks.items():
        if not isinstance(stats, dict):
            raise BaselineError(f"{path}: marks.{mark}: not a mapping of statistics")
        out[str(mark)] = {
            k: float(v)
            for k, v in stats.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
    return out
