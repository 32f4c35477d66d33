"""What `voicectl bench` prints: a progress bar, then 80-column tables and one verdict line.

Tables: one row per latency mark (turns, p50, p95, p99, max, budget, verdict), a
regression table when a baseline was given (baseline, now, change), one row per scenario
(runs, expectations met, first failure reason), the gates, then
``BENCH GO|WARN|NO-GO: ...``. Every table fits 80 columns with no terminal (a CI log):
borderless, numbers without separators, and the free-text column wraps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from voicectl.bench.gates import MarkGate
from voicectl.bench.results import BenchResult
from voicectl.bench.suite import RunOutcome
from voicectl.sim.budgets import Budget
from voicectl.sim.scenario import Scenario

__all__ = ["SuiteProgress", "num", "print_bench", "table", "verdict_text"]

STYLE = {"GO": "green", "WARN": "yellow", "NO-GO": "bold red", "info": "dim"}


def num(value: float | None) -> str:
    """A figure for a table cell: ``-`` for none/NaN, 0.01 resolution below 1 (e.g. CPU s
    per call-minute, where 0.55 against 0.62 matters), 0.1 below 10, else whole."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if abs(value) < 1 and value != 0:
        return f"{value:.2f}"
    return f"{value:.1f}" if abs(value) < 10 else f"{value:.0f}"


def budget_text(b: Budget | None) -> str:
    """``go/no_go`` (``go`` when they are equal), with `` max`` etc. when the statistic
    judged is not p95; ``-`` for none."""
    if b is None:
        return "-"
    text = f"{b.go_max:g}" if b.go_max == b.nogo_above else f"{b.go_max:g}/{b.nogo_above:g}"
    return text if b.stat == "p95" else f"{b.stat} {text}"


def table(title: str, *columns: tuple[str, str]) -> Table:
    """A borderless table that fits an 80-column log; columns are (header, justify)."""
    t = Table(
        title=title,
        title_justify="left",
        box=None,
        pad_edge=False,
        padding=(0, 1),
        show_edge=False,
        header_style="bold",
        collapse_padding=True,
    )
    for header, justify in columns:
        t.add_column(header, justify=justify, no_wrap=justify != "fold", overflow="fold")  # type: ignore[arg-type]
    return t


def verdict_text(v: str) -> Text:
    return Text(v, style=STYLE.get(v, ""))


def marks_table(marks: list[MarkGate]) -> Table:
    """One row per mark: turns, p50, p95, p99, max, budget (GO/NO-GO), verdict."""
    t = table(
        "Latency marks over every caller turn (ms; budgets judge p95 unless named)",
        ("mark", "left"),
        ("turns", "right"),
        ("p50", "right"),
        ("p95", "right"),
        ("p99", "right"),
        ("max", "right"),
        ("budget", "right"),
        ("verdict", "left"),
    )
    for g in marks:
        s = g.summary
        t.add_row(
            g.mark,
            f"{s['n']:.0f}",
            num(s["p50"]),
            num(s["p95"]),
            num(s["p99"]),
            num(s["max"]),
            budget_text(g.budget),
            Text(g.verdict, style=STYLE.get(g.verdict, "")),
        )
    return t


def regression_table(marks: list[MarkGate], max_pct: float) -> Table:
    """Baseline vs now of every judged mark the baseline has."""
    t = table(
        f"Against the baseline (regression: > {max_pct:g}% and > 20 ms)",
        ("mark", "left"),
        ("stat", "left"),
        ("baseline", "right"),
        ("now", "right"),
        ("change", "right"),
        ("", "left"),
    )
    for g in marks:
        if g.baseline is None or g.budget is None:
            continue
        change = "-" if g.change_pct is None else f"{g.change_pct:+.0f}%"
        if g.change_pct is not None and math.isinf(g.change_pct):
            change = "+inf%" if g.change_pct > 0 else "-inf%"
        flag = Text("REGRESSED", style="bold red") if g.regressed else Text("ok", style="green")
        t.add_row(g.mark, g.budget.stat, num(g.baseline), num(g.value), change, flag)
    return t


def scenarios_table(result: BenchResult) -> Table:
    """One row per scenario: runs, runs that met every expectation, first failure."""
    t = table(
        "Scenarios",
        ("scenario", "left"),
        ("runs", "right"),
        ("met", "right"),
        ("first failure", "fold"),
    )
    for name, s in result.scenarios().items():
        ok = s["passed"] == s["runs"]
        t.add_row(
            name,
            str(s["runs"]),
            Text(str(s["passed"]), style="green" if ok else "bold red"),
            s["first_failure"] or "-",
        )
    return t


def gates_table(result: BenchResult) -> Table:
    t = table("Gates", ("gate", "left"), ("", "left"), ("detail", "fold"))
    for g in result.gates:
        t.add_row(g.name, verdict_text("pass" if g.ok else "FAIL"), g.detail)
    return t


def verdict_line(result: BenchResult) -> Text:
    """``BENCH GO|WARN|NO-GO: <runs>, <why>`` - the last line of the report."""
    n = len(result.runs)
    ok = sum(r.ok for r in result.runs)
    head = f"BENCH {result.verdict}: {ok}/{n} runs met expectations"
    if result.reasons:
        head += "; " + "; ".join(result.reasons[:4])
        if len(result.reasons) > 4:
            head += f"; +{len(result.reasons) - 4} more"
    else:
        judged = sum(1 for m in result.marks if m.budget is not None)
        head += f"; {judged} marks within budget"
    if result.verdict == "WARN" and result.strict:
        head += " (--strict: WARN fails)"
    return Text(head, style=STYLE[result.verdict])


def print_bench(console: Console, result: BenchResult, max_regression_pct: float) -> None:
    """Print every table and the verdict line."""
    console.print(marks_table(result.marks))
    if any(g.baseline is not None for g in result.marks):
        console.print(regression_table(result.marks, max_regression_pct))
    console.print(scenarios_table(result))
    console.print(gates_table(result))
    console.print(verdict_line(result), soft_wrap=True)  # one greppable line for CI


class SuiteProgress:
    """Calls done / running / failed and elapsed time while the suite runs.

    On a terminal a rich progress bar; without one (CI) one plain line per finished run,
    so the log stays readable and has no control characters.
    """

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.total = total
        self.done = self.running = self.failed = 0
        self.t0 = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def _fields(self) -> dict[str, Any]:
        return {"running": self.running, "failed": self.failed}

    @contextmanager
    def show(self) -> Iterator[SuiteProgress]:
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]bench"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} done"),
                TextColumn("{task.fields[running]} running"),
                TextColumn("[red]{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                console=self.console,
            )
            with self._progress:
                self._task = self._progress.add_task("bench", total=self.total, **self._fields())
                yield self
        else:
            self.console.print(f"bench: {self.total} runs")
            yield self

    def started(self, scenario: Scenario, run: int) -> None:
        self.running += 1
        self._update()

    def finished(self, out: RunOutcome) -> None:
        self.running -= 1
        self.done += 1
        self.failed += int(not out.ok)
        if self._progress is None:
            status = "ok" if out.ok else f"FAILED: {out.first_failure}"
            elapsed = time.monotonic() - self.t0
            self.console.print(
                f"[{self.done}/{self.total}] {out.scenario.name} run {out.run}: {status} "
                f"({out.wall_s:.1f} s; {self.running} running, {self.failed} failed, "
                f"{elapsed:.0f} s elapsed)",
                highlight=False,
            )
        self._update()

    def _update(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.done, **self._fields())
