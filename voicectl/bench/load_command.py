"""`voicectl bench --load` / `--find-capacity`: run the load, judge it, report it.

The figures of one load run (`LoadFigures`) and the gates of the budget file's ``load:``
section (`voicectl.sim.budgets.LoadBudgets`): no failed turns, no audio gaps, V2V within
budget, and the generator's own send lateness p99 within its limit - when the generator
fell behind, the run says so and judges nothing about the server.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from voicectl.bench.context import run_context
from voicectl.bench.gates import Gate
from voicectl.bench.load import LoadPlan, WorkerReport, resolve, run_generators
from voicectl.bench.report import STYLE, num, table
from voicectl.bench.server import ServeProcess, scrape_lag, tree_sample, worst_lag_p99_ms
from voicectl.bench.stats import percentile, summarize
from voicectl.config import Settings
from voicectl.sim.budgets import BudgetFile, verdict
from voicectl.sim.emulator import http_base_of
from voicectl.sim.scenario import Scenario

__all__ = ["LoadFigures", "judge_load", "measure", "run_load_command"]

CALLS_PER_GENERATOR = 25
RUNS_PER_TABLE = 5


@dataclass
class LoadFigures:
    """One load run, aggregated (ms unless named otherwise; None = not measured)."""

    calls: int
    generators: int
    duration_s: float
    workers: int = 1  # server processes (`serve --workers`)
    placed: int = 0
    errored: int = 0
    first_error: str | None = None
    call_minutes: float = 0.0
    turns: int = 0
    failed_turns: int = 0
    v2v: dict[str, float] = field(default_factory=dict)
    barge_in: dict[str, float] = field(default_factory=dict)
    gaps: int = 0
    gap_ms_per_reply_s: float = 0.0
    largest_gap_ms: float = 0.0
    lead_p50_ms: float | None = None
    lead_p05_ms: float | None = None
    lateness_p99_ms: float | None = None
    lateness_max_ms: float | None = None
    server_cpu_s: float | None = None
    cpu_s_per_call_minute: float | None = None
    peak_rss_mb: float | None = None
    rss_per_call_mb: float | None = None
    loop_lag_p99_ms: float | None = None
    generator_cpu_s_per_call_minute: float | None = None  # while placing calls
    generator_setup_cpu_s: float | None = None  # imports and audio, all processes
    protocol_errors: list[str] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    verdict: str = "GO"


def aggregate(reports: list[WorkerReport], plan: LoadPlan) -> LoadFigures:
    """Pool every call of every generator into one `LoadFigures`."""
    calls = [c for r in reports for c in r.calls]
    fig = LoadFigures(plan.calls, len(reports), plan.duration_s, placed=len(calls))
    v2v, barge, gaps, leads, late = [], [], [], [], []
    reply_ms = 0.0
    for c in calls:
        if c.error:
            fig.errored += 1
            fig.first_error = fig.first_error or c.error
        fig.call_minutes += c.seconds / 60
        fig.turns += c.turns
        fig.failed_turns += c.failed_turns
        v2v += c.v2v_ms
        barge += c.barge_in_ms
        gaps += c.gaps_ms
        leads += c.leads_ms
        late += c.lateness_ms
        reply_ms += c.reply_ms
        if c.protocol_errors and len(fig.protocol_errors) < 5:
            fig.protocol_errors += c.protocol_errors[: 5 - len(fig.protocol_errors)]
    if fig.call_minutes:
        fig.generator_cpu_s_per_call_minute = sum(r.cpu_s for r in reports) / fig.call_minutes
    fig.generator_setup_cpu_s = sum(r.setup_cpu_s for r in reports)
    fig.v2v = summarize(v2v)
    fig.barge_in = summarize(barge)
    fig.gaps = len(gaps)
    fig.gap_ms_per_reply_s = sum(gaps) / (reply_ms / 1000) if reply_ms else 0.0
    fig.largest_gap_ms = max(gaps, default=0.0)
    if leads:
        fig.lead_p50_ms = percentile(leads, 50)
        fig.lead_p05_ms = percentile(leads, 5)
    if late:
        fig.lateness_p99_ms = percentile(late, 99)
        fig.lateness_max_ms = max(late)
    return fig


def judge_load(fig: LoadFigures, budgets: BudgetFile) -> tuple[str, list[Gate]]:
    """The load gates and verdict (NO-GO when any gate fails; WARN when V2V is WARN)."""
    lb = budgets.load
    gates = []
    late_ok = (
        fig.lateness_p99_ms is not None and fig.lateness_p99_ms <= lb.generator_lateness_p99_ms
    )
    gates.append(
        Gate(
            "generator lateness",
            late_ok,
            f"p99 {num(fig.lateness_p99_ms)} ms (limit {lb.generator_lateness_p99_ms:g})"
            + (
                ""
                if late_ok
                else ": the load generator fell behind - this run cannot judge "
                "the server; use more --generators or fewer --calls"
            ),
        )
    )
    gates.append(
        Gate(
            "failed turns",
            fig.failed_turns <= lb.failed_turns and fig.turns > 0,
            f"{fig.failed_turns} of {fig.turns} turns had no reply audio within 3 s "
            f"(limit {lb.failed_turns:g})"
            + (f"; {fig.errored} calls failed: {fig.first_error}" if fig.errored else ""),
        )
    )
    gates.append(
        Gate(
            "audio gaps",
            fig.gaps <= lb.audio_gaps,
            f"{fig.gaps} gaps, {fig.gap_ms_per_reply_s:.1f} ms per s of reply, largest "
            f"{fig.largest_gap_ms:.0f} ms (limit {lb.audio_gaps:g})",
        )
    )
    v = fig.v2v.get(lb.v2v.stat, math.nan)
    v2v_verdict = verdict(lb.v2v, v)
    gates.append(
        Gate(
            "V2V_MS",
            v2v_verdict != "NO-GO",
            f"{lb.v2v.stat} {num(v)} ms: {v2v_verdict} (GO <= {lb.v2v.go_max:g}, "
            f"NO-GO > {lb.v2v.nogo_above:g})",
        )
    )
    if not all(g.ok for g in gates):
        result = "NO-GO"
    else:
        result = "WARN" if v2v_verdict == "WARN" else "GO"
    return result, gates


def measure(
    scenarios: list[Scenario],
    settings: Settings,
    budgets: BudgetFile,
    *,
    calls: int,
    duration_s: float,
    ramp_s: float,
    url: str | None,
    generators: int | None,
    console: Console,
    workers: int = 1,
) -> LoadFigures:
    """Run one load against a fresh `voicectl serve` subprocess (or `url`) and judge it."""
    gens = generators or max(1, math.ceil(calls / CALLS_PER_GENERATOR))
    server: ServeProcess | None = None
    died: str | None = None
    if url is None:
        env = _server_env(settings)
        # The server's load shedding (`max_concurrent_calls`, "Safe by default") must not
        # be what this run measures: the cap is raised to the calls asked for.
        # A slot places its next call as the last one ends, so both may be in flight.
        env["VOICECTL_MAX_CONCURRENT_CALLS"] = str(max(settings.max_concurrent_calls, 2 * calls))
        server = ServeProcess(env, workers=workers).__enter__()
        http_base, pid = server.http_base, server.pid
    else:
        http_base, pid = http_base_of(url), None
    try:
        plan = LoadPlan(
            resolve([Path(str(s.source)) for s in scenarios]),
            calls,
            duration_s,
            ramp_s,
            http_base,
            media_url=url,
            auth_token=settings.twilio_auth_token,
            generators=gens,
        )
        before = scrape_lag(http_base, workers)
        p0 = tree_sample(pid) if pid else None
        console.print(
            f"load: {calls} calls from {gens} generator process(es), {duration_s:g} s "
            f"(ramp {ramp_s:g} s) against "
            f"{url or f'{http_base} (voicectl serve, pid {pid}, {workers} process(es))'}",
            highlight=False,
        )
        t0 = time.monotonic()
        reports = run_generators(plan)
        wall = time.monotonic() - t0
        p1 = tree_sample(pid) if pid else None
        after = scrape_lag(http_base, workers)
        died = server.exit_report() if server is not None else None
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    if died is not None:  # the figures only show failed calls: say why
        console.print(f"load: the server did not last the run - {died}", markup=False)
    fig = aggregate(reports, plan)
    fig.workers = workers
    if p0 and p1:
        fig.server_cpu_s = p1.cpu_s - p0.cpu_s
        if fig.call_minutes:
            fig.cpu_s_per_call_minute = fig.server_cpu_s / fig.call_minutes
        fig.peak_rss_mb = p1.peak_rss_bytes / 2**20
        fig.rss_per_call_mb = max(p1.peak_rss_bytes - p0.rss_bytes, 0) / 2**20 / calls
    fig.loop_lag_p99_ms = worst_lag_p99_ms(before, after)
    v, gates = judge_load(fig, budgets)
    fig.verdict = v
    fig.gates = [asdict(g) for g in gates]
    console.print(f"load: done in {wall:.0f} s, {fig.placed} calls placed", highlight=False)
    return fig


def _server_env(settings: Settings) -> dict[str, str]:
    """The latency settings the bench runs with, passed on to the server process."""
    from voicectl.bench.context import LATENCY_SETTINGS
    from voicectl.config import env_name

    return {env_name(k): str(getattr(settings, k)) for k in LATENCY_SETTINGS}


def load_table(figs: list[LoadFigures]) -> Any:
    """One column block per run would not fit 80 columns: one row per figure instead,
    one column per run (calls)."""
    n = figs[0].workers if figs else 1
    t = table(
        "Load (one server process)" if n == 1 else f"Load ({n} server processes, one port)",
        ("figure", "left"),
        *[(f"{f.calls} calls", "right") for f in figs],
    )

    def row(name: str, cells: list[str]) -> None:
        t.add_row(name, *cells)

    row("generator processes", [str(f.generators) for f in figs])
    row("calls placed / failed", [f"{f.placed}/{f.errored}" for f in figs])
    row("call-minutes", [f"{f.call_minutes:.1f}" for f in figs])
    row("turns / failed (>3 s)", [f"{f.turns}/{f.failed_turns}" for f in figs])
    row("V2V_MS p50", [num(f.v2v.get("p50")) for f in figs])
    row("V2V_MS p95", [num(f.v2v.get("p95")) for f in figs])
    row("V2V_MS max", [num(f.v2v.get("max")) for f in figs])
    row("BARGE_IN_STOP_MS p95", [num(f.barge_in.get("p95")) for f in figs])
    row("audio gaps", [str(f.gaps) for f in figs])
    row("gap ms per s of reply", [f"{f.gap_ms_per_reply_s:.1f}" for f in figs])
    row("largest gap ms", [num(f.largest_gap_ms) for f in figs])
    row("bot lead p50 / p5 ms", [f"{num(f.lead_p50_ms)}/{num(f.lead_p05_ms)}" for f in figs])
    row("server CPU s/call-min", [num(f.cpu_s_per_call_minute) for f in figs])
    row("server peak RSS MB", [num(f.peak_rss_mb) for f in figs])
    row("RSS per call MB", [num(f.rss_per_call_mb) for f in figs])
    row("event-loop lag p99 ms", [num(f.loop_lag_p99_ms) for f in figs])
    row("generator late p99 ms", [num(f.lateness_p99_ms) for f in figs])
    row("generator late max ms", [num(f.lateness_max_ms) for f in figs])
    row("generator CPU s/call-min", [num(f.generator_cpu_s_per_call_minute) for f in figs])
    row("generator set-up CPU s", [num(f.generator_setup_cpu_s) for f in figs])
    t.add_row("verdict", *[Text(f.verdict, style=STYLE[f.verdict]) for f in figs])
    return t


def _passes(fig: LoadFigures) -> bool:
    return fig.verdict != "NO-GO"


def _generator_ok(fig: LoadFigures) -> bool:
    return any(g["name"] == "generator lateness" and g["ok"] for g in fig.gates)


def run_load_command(
    console: Console,
    *,
    scenarios: list[Scenario],
    settings: Settings,
    budget_file: BudgetFile,
    calls: int,
    duration_s: float,
    ramp_s: float,
    url: str | None,
    find_capacity: bool,
    generators: int | None,
    json_out: Path | None,
    junit: Path | None,
    strict: bool,
    workers: int = 1,
) -> int:
    """Run `--load` (one run at `calls`) or `--find-capacity` (the largest passing C up to
    `calls`: doubling from 10, then bisection to 10%); print, write files, return the exit
    code (0 GO/WARN, 1 NO-GO or WARN with strict)."""
    kw = dict(
        settings=settings,
        budgets=budget_file,
        duration_s=duration_s,
        ramp_s=ramp_s,
        url=url,
        generators=generators,
        console=console,
        workers=workers,
    )
    figs: list[LoadFigures] = []
    capacity: int | None = None
    note = ""
    if not find_capacity:
        figs.append(measure(scenarios, calls=calls, **kw))  # type: ignore[arg-type]
    else:
        lo, hi = 0, None
        c = min(10, calls)
        while True:
            fig = measure(scenarios, calls=c, **kw)  # type: ignore[arg-type]
            figs.append(fig)
            if not _generator_ok(fig):
                server_ok = all(g["ok"] for g in fig.gates if g["name"] != "generator lateness")
                note = (
                    f"the load generator fell behind at {c} calls"
                    + (" (the server's own gates passed there)" if server_ok else "")
                    + f": capacity is at least {lo} as judged, the rest is unknown - run "
                    "with more --generators, on a quieter machine, or against --url"
                )
                break
            if _passes(fig):
                lo = c
            else:
                hi = c
            if hi is None:
                if c >= calls:
                    break
                c = min(calls, c * 2)
            else:
                if hi - lo <= max(1, round(lo * 0.1)):
                    break
                c = (lo + hi) // 2
        capacity = lo
        figs.sort(key=lambda f: f.calls)
    if find_capacity:
        final = "GO" if capacity else "NO-GO"
        where = "one server process" if workers == 1 else f"{workers} server processes"
        line = (
            f"BENCH {final}: capacity {capacity} calls in {where} (the largest "
            f"C meeting every load gate, searched up to {calls})"
        )
        if note:
            line += f"; {note}"
        code = 0 if capacity else 1
    else:
        fig = figs[0]
        final = fig.verdict
        failing = [g["name"] for g in fig.gates if not g["ok"]]
        line = (
            f"BENCH {final}: {fig.calls} calls, V2V p95 {num(fig.v2v.get('p95'))} ms, "
            f"{fig.failed_turns} failed turns, {fig.gaps} audio gaps"
        )
        if failing:
            line += f"; failed: {', '.join(failing)}"
        code = 1 if final == "NO-GO" or (strict and final == "WARN") else 0
    context = run_context(
        settings,
        mode="find-capacity" if find_capacity else "load",
        calls=calls,
        duration_s=duration_s,
        ramp_s=ramp_s,
        server=url or "voicectl serve subprocess",
        scenarios=[s.name for s in scenarios],
        budgets=budget_file.path,
        cpu_count=os.cpu_count(),
    )
    if json_out is not None:
        from voicectl.bench.results import _clean

        json_out.write_text(
            json.dumps(
                _clean(
                    {
                        "schema": "voicectl.bench.load/1",
                        "context": context,
                        "runs": [asdict(f) for f in figs],
                        "capacity": capacity,
                        "verdict": final,
                        "summary": line,
                        "exit_code": code,
                    }
                ),
                ensure_ascii=False,
                indent=2,
            ),
            encoding="utf-8",
        )
    if junit is not None:
        from voicectl.bench.junit import write_junit

        gates = [
            Gate(f"{f.calls} calls: {g['name']}", g["ok"], g["detail"])
            for f in figs
            for g in f.gates
        ]
        write_junit(junit, [], [], gates)
    # Files first (above): a report cut short still leaves them.
    for i in range(0, len(figs), RUNS_PER_TABLE):  # 80 columns hold five runs side by side
        console.print(load_table(figs[i : i + RUNS_PER_TABLE]))
    if figs:
        last = figs[-1] if not find_capacity else max(figs, key=lambda f: f.calls)
        gt = table("Load gates", ("gate", "left"), ("", "left"), ("detail", "fold"))
        for g in (figs[0] if not find_capacity else last).gates:
            gt.add_row(
                g["name"],
                Text("pass" if g["ok"] else "FAIL", style=STYLE["GO" if g["ok"] else "NO-GO"]),
                g["detail"],
            )
        console.print(gt)
    console.print(Text(line, style=STYLE.get(final, "")), soft_wrap=True)  # one greppable line
    return code
