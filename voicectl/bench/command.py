"""The `voicectl bench` command (registered by `voicectl.cli`).

Exit codes: 0 = GO (or WARN without --strict); 1 = NO-GO, a failed expectation or a
regression against the baseline; 2 = invalid input (scenario, budget or baseline file,
option values, configuration).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from voicectl.config import ConfigError, load_settings
from voicectl.logs import setup_logging

console = Console()
err_console = Console(stderr=True)

#: The command's --help text (paragraphs; Typer keeps the line breaks of a docstring).
HELP = "\n\n".join(
    [
        "Run scenarios repeatedly and concurrently through the simulator, judge latency "
        "percentiles against a budget file, write JSON / JUnit, and exit non-zero on NO-GO "
        "so CI can gate on it.",
        "With --load: --calls concurrent calls made as Twilio makes them (POST /voice, "
        "WS /media, real-time 20 ms audio, marks echoed after playback) against ONE server "
        "process - by default a `voicectl serve` subprocess, or --url - measuring V2V, "
        "failed turns, audio gaps, server CPU and memory, event-loop lag and the load "
        "generator's own lateness.",
        "Exit codes: 0 = GO (or WARN without --strict); 1 = NO-GO, a failed expectation, "
        "a regression, or a failed load gate; 2 = invalid input (scenario, budget or "
        "baseline file, options, configuration).",
    ]
)


def _fail_input(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(2)


def bench(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Scenario files or folders (default: scenarios/)."),
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Runs per scenario.")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Calls at once.")] = 1,
    budgets: Annotated[
        Path | None, typer.Option(help="Budget file (default: the built-in defaults).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write every turn's marks and verdicts.")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML for CI.")] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="An earlier --json result to compare with.")
    ] = None,
    max_regression: Annotated[
        float,
        typer.Option(min=0, help="Allowed growth of a judged statistic over the baseline, %."),
    ] = 20.0,
    strict: Annotated[bool, typer.Option(help="WARN fails too (exit 1).")] = False,
    url: Annotated[
        str | None,
        typer.Option(help="ws://host:port/media of a running server (default: in-process)."),
    ] = None,
    load: Annotated[
        bool, typer.Option("--load", help="Capacity: many concurrent calls against one server.")
    ] = False,
    calls: Annotated[int, typer.Option(min=1, help="--load: concurrent calls.")] = 50,
    duration: Annotated[float, typer.Option(min=1, help="--load: seconds of load.")] = 60.0,
    ramp_s: Annotated[
        float, typer.Option(min=0, help="--load: seconds to start all calls.")
    ] = 10.0,
    find_capacity: Annotated[
        bool,
        typer.Option(
            "--find-capacity", help="--load: search the largest --calls meeting the gates."
        ),
    ] = False,
    generators: Annotated[
        int | None,
        typer.Option(min=1, help="--load: load-generator processes (default: 1 per 25 calls)."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="--load: server processes (`voicectl serve --workers N`)."
        ),
    ] = 1,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings file (default ./voicectl.yaml).")
    ] = None,
) -> None:
    """Run scenarios repeatedly and concurrently; judge latency percentiles (see --help)."""
    from voicectl.bench.context import run_context
    from voicectl.bench.junit import write_junit
    from voicectl.bench.report import SuiteProgress, print_bench
    from voicectl.bench.results import BaselineError, baseline_of, build_result
    from voicectl.bench.suite import load_suite, run_suite
    from voicectl.sim.budgets import BudgetError, load_budget_file
    from voicectl.sim.scenario import ScenarioError

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise _fail_input(str(exc)) from None
    setup_logging("WARNING")
    try:
        budget_file = load_budget_file(budgets)
    except BudgetError as exc:
        raise _fail_input(f"invalid budget file: {exc}") from None
    try:
        base = baseline_of(baseline) if baseline is not None else None
    except BaselineError as exc:
        raise _fail_input(f"invalid baseline: {exc}") from None
    try:
        scenarios = load_suite(paths or [Path("scenarios")])
    except ScenarioError as exc:
        raise _fail_input(f"invalid scenario: {exc}") from None
    if find_capacity and not load:
        raise _fail_input("--find-capacity needs --load")
    from voicectl.sim.runner import check_media_url

    try:
        check_media_url(url)
    except ValueError as exc:
        raise _fail_input(str(exc)) from None

    if load:
        from voicectl.bench.load_command import run_load_command

        code = run_load_command(
            console,
            scenarios=scenarios,
            settings=settings,
            budget_file=budget_file,
            calls=calls,
            duration_s=duration,
            ramp_s=ramp_s,
            url=url,
            find_capacity=find_capacity,
            generators=generators,
            json_out=json_out,
            junit=junit,
            strict=strict,
            workers=workers,
        )
        raise typer.Exit(code)

    progress = SuiteProgress(console, len(scenarios) * repeat)
    with progress.show():
        runs = asyncio.run(
            run_suite(
                scenarios,
                settings,
                budget_file.marks,
                repeat=repeat,
                concurrency=concurrency,
                url=url,
                on_start=progress.started,
                on_done=progress.finished,
            )
        )
    context = run_context(
        settings,
        mode="suite",
        scenarios=[s.name for s in scenarios],
        repeat=repeat,
        concurrency=concurrency,
        server=url or "in-process",
        budgets=budget_file.path,
        baseline=str(baseline) if baseline else None,
    )
    result = build_result(
        runs,
        budget_file,
        baseline=base,
        max_regression_pct=max_regression,
        strict=strict,
        context=context,
    )
    # Files first: a report cut short (a closed pipe, a killed job) still leaves them.
    if json_out is not None:
        json_out.write_text(
            json.dumps(result.to_json(), ensure_ascii=False, indent=2), encoding="utf-8"
        )
    if junit is not None:
        write_junit(
            junit,
            [
                (
                    r.scenario.name,
                    f"{r.scenario.name} run {r.run}",
                    r.wall_s,
                    None if r.ok else r.first_failure,
                )
                for r in runs
            ],
            result.marks,
            result.gates,
        )
    print_bench(console, result, max_regression)
    raise typer.Exit(result.exit_code)
