"""The `voicectl` command line: serve, simulate, bench, fixtures.

Exit codes (simulate): 0 = GO or WARN and every expectation met, 1 = NO-GO or an
expectation failed, 2 = invalid scenario, configuration or usage. `bench`: see
`voicectl.bench.command`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from voicectl import __version__
from voicectl.bench.command import HELP as BENCH_HELP
from voicectl.bench.command import bench as bench_command
from voicectl.cli_options import ConfigOpt, err_console, settings_or_exit
from voicectl.doctor import doctor as doctor_command
from voicectl.flows.cli import app as flows_app
from voicectl.logs import setup_logging
from voicectl.serve import serve as serve_command

app = typer.Typer(
    help="Run and test a Hebrew-speaking Twilio phone agent that books appointments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
fixtures_app = typer.Typer(help="Caller audio fixtures for scenarios.", no_args_is_help=True)
app.add_typer(fixtures_app, name="fixtures")
app.command("bench", help=BENCH_HELP)(bench_command)
app.add_typer(flows_app, name="flows")
app.command("doctor")(doctor_command)
app.command("serve")(serve_command)

console = Console()


def _version(value: bool) -> None:
    if value:
        console.print(f"voicectl {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """voicectl: serve the Twilio bridge, simulate calls, measure latency."""


@app.command()
def simulate(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario YAML file(s).")],
    url: Annotated[
        str | None,
        typer.Option(help="ws://host:port/media of a running server (default: in-process)."),
    ] = None,
    record: Annotated[
        Path | None, typer.Option(help="Write the call as heard: stereo WAV, caller L, bot R.")
    ] = None,
    budgets: Annotated[
        Path | None, typer.Option(help="Budget file (overrides the scenario's).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results as JSON.")] = None,
    log: Annotated[bool, typer.Option(help="Show the server's log lines for each call.")] = True,
    db: Annotated[
        str | None,
        typer.Option(
            help="Database of the in-process server (default: VOICECTL_DATABASE, else a "
            "throwaway file); read it afterwards with `voicectl flows list --db`."
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Replay scenario calls over a real WebSocket and judge latency and outcome."""
    from voicectl.audio.wav import AudioFileError
    from voicectl.providers import ProviderError
    from voicectl.sim.budgets import BudgetError
    from voicectl.sim.report import print_result
    from voicectl.sim.runner import check_media_url
    from voicectl.sim.runner import simulate as run
    from voicectl.sim.scenario import ScenarioError, load_scenario

    try:
        check_media_url(url)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    settings = settings_or_exit(config, database=db)
    setup_logging("WARNING")
    try:
        loaded = [load_scenario(p) for p in scenarios]
    except ScenarioError as exc:
        err_console.print(f"[red]invalid scenario:[/red] {exc}")
        raise typer.Exit(2) from None
    if record is not None and len(loaded) > 1:
        err_console.print("[red]error:[/red] --record takes one scenario")
        raise typer.Exit(2)
    code = 0
    results = []
    for sc in loaded:
        try:
            result = run(sc, settings, url=url, record_wav=record, budgets_path=budgets)
        except (BudgetError, AudioFileError, ProviderError) as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None
        except (OSError, RuntimeError) as exc:
            err_console.print(f"[red]error:[/red] {sc.name}: {exc}")
            raise typer.Exit(1) from None
        print_result(console, result, show_log=log)
        results.append(result)
        code = max(code, result.exit_code)
    if record is not None:
        console.print(f"recorded the call to {record}")
    if json_out is not None:
        json_out.write_text(
            json.dumps([_result_json(r) for r in results], ensure_ascii=False, indent=2),
            encoding="utf-8",
        )
    raise typer.Exit(code)


def twilio_side(caller: Any) -> dict[str, Any]:
    """What the simulator saw as Twilio: streams, `<Say>`s, REST requests, callbacks."""
    return {
        "streams": caller.streams,
        "gather_says": caller.gather_says,
        "status_callbacks": caller.status_callbacks,
        "rest_requests": [
            {
                "method": q.method,
                "path": q.path,
                "form": q.form,
                "authorized": q.authorized,
                "user_agent": q.user_agent,
                "status": q.status,
            }
            for q in caller.rest_requests
        ],
    }


def _result_json(r: Any) -> dict[str, Any]:
    return {
        "scenario": r.scenario.name,
        "exit_code": r.exit_code,
        "latency_verdict": r.latency_verdict,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in r.checks],
        "turns": [
            {k: t[k] for k in ("index", "kind", "user_text", "bot_text", "marks", "verdicts")}
            for t in r.turns
        ],
        "metrics": {k: v for k, (v, _) in r.metrics.items()},
        "call_sid": r.record.get("call_sid"),
        "caller_marks": r.caller.caller_marks,
        "twilio": twilio_side(r.caller),
        "record": r.record,
    }


@fixtures_app.command("synth")
def fixtures_synth(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario YAML file(s).")],
    force: Annotated[bool, typer.Option(help="Rewrite files that already exist.")] = False,
) -> None:
    """Synthesise the caller audio a scenario's `say` + `audio:` steps name.

    Each file is written as μ-law 8 kHz mono WAV (what Twilio carries) from the step's
    `say` text with the offline espeak-ng voice; existing files are kept unless --force.
    """
    import yaml

    from voicectl.audio.g711 import ulaw_encode
    from voicectl.audio.wav import write_ulaw_wav
    from voicectl.sim.runner import synthesize_caller

    wrote = 0
    for path in scenarios:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            err_console.print(f"[red]invalid scenario:[/red] {path}: {exc}")
            raise typer.Exit(2) from None
        for i, step in enumerate(data.get("steps") or []):
            if not isinstance(step, dict) or "say" not in step or not step.get("audio"):
                continue
            target = Path(step["audio"])
            if not target.is_absolute() and not target.exists():
                alt = path.parent / target
                target = alt if alt.parent.exists() else target
            if target.exists() and not force:
                console.print(f"kept   {target}")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            pcm = synthesize_caller(str(step["say"]))
            write_ulaw_wav(target, ulaw_encode(pcm))
            console.print(f"wrote  {target}  ({len(pcm) / 8000:.2f} s)  steps[{i}] of {path}")
            wrote += 1
    console.print(f"{wrote} file(s) written")


def main() -> None:
    """Console entry point."""
    logging.captureWarnings(True)
    app()


if __name__ == "__main__":
    main()
