"""The bench suite: each scenario N times, up to C calls at once, judged like `simulate`.

Every run goes through the simulator's own pieces - `voicectl.sim.runner.run_call` (the
Twilio emulator over a real WebSocket) and `evaluate` (marks, budgets, expectation checks)
- so a bench run and a `simulate` run of a scenario are the same call.

In-process (the default) each run gets its own server (`InProcessServer`) on a fresh
SQLite file, as `simulate` does: a repeated booking scenario would otherwise find its own
slot taken by the previous run. With `url`, every run goes to that server.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from voicectl.config import Settings
from voicectl.sim.budgets import Budget
from voicectl.sim.emulator import CallerAudio, http_base_of
from voicectl.sim.runner import (
    InProcessServer,
    SimResult,
    caller_audio,
    evaluate,
    rest_fake_for,
    run_call,
)
from voicectl.sim.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["RunOutcome", "expand_paths", "load_suite", "run_suite"]


@dataclass
class RunOutcome:
    """One scenario run: its index (1-based per scenario) and result, or the error that
    kept it from running (server unreachable, call setup refused)."""

    scenario: Scenario
    run: int
    result: SimResult | None
    error: str | None = None
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Ran and met every expectation (latency is judged over the whole bench)."""
        return self.result is not None and self.result.expectations_met

    @property
    def first_failure(self) -> str | None:
        """Why it failed, one line: the error, or the first failed check."""
        if self.error:
            return self.error
        assert self.result is not None
        failed = [c for c in self.result.checks if not c.ok]
        return f"{failed[0].name}: {failed[0].detail}" if failed else None


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Scenario files from files and folders (a folder: its *.yaml / *.yml, sorted).

    Raises:
        ScenarioError: a path that does not exist, or a folder without scenarios.
    """
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise ScenarioError(str(p), "", "no scenario files (*.yaml) in this folder")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise ScenarioError(str(p), "", "no such file or folder")
    return out


def load_suite(paths: Iterable[Path]) -> list[Scenario]:
    """Load every scenario under `paths`.

    Raises:
        ScenarioError: a missing path or an invalid scenario (file, field and problem).
    """
    return [load_scenario(p) for p in expand_paths(paths)]


async def run_suite(
    scenarios: list[Scenario],
    settings: Settings,
    budgets: dict[str, Budget],
    *,
    repeat: int = 1,
    concurrency: int = 1,
    url: str | None = None,
    on_start: Callable[[Scenario, int], None] | None = None,
    on_done: Callable[[RunOutcome], None] | None = None,
) -> list[RunOutcome]:
    """Run each scenario `repeat` times, at most `concurrency` calls at once.

    Args:
        scenarios: loaded scenarios.
        settings: server settings (in-process) or, with `url`, the tokens to sign with.
        budgets: mark -> budget, used for every run (per-turn verdicts, as in simulate).
        repeat: runs per scenario (>= 1).
        concurrency: calls at once (>= 1).
        url: ``ws://host:port/media`` of a running server; None = in-process.
        on_start, on_done: progress callbacks (called on the event loop).

    Returns:
        One `RunOutcome` per run, ordered by scenario then run.
    """
    utterances: dict[str, list[CallerAudio]] = {}
    for sc in scenarios:
        utterances[sc.name] = await asyncio.to_thread(caller_audio, sc)
    gate = asyncio.Semaphore(max(1, concurrency))
    tmp = tempfile.TemporaryDirectory(prefix="voicectl-bench-")

    async def one(sc: Scenario, run: int, slot: int) -> RunOutcome:
        async with gate:
            if on_start is not None:
                on_start(sc, run)
            t0 = time.monotonic()
            try:
                if url is None:
                    db = Path(tmp.name) / f"run-{slot}.db"
                    # As `simulate`: the server's REST client (hang-up, <Gather>) talks
                    # to a loopback fake of Twilio's API, one per run.
                    with contextlib.ExitStack() as stack:
                        fake_cm = rest_fake_for(settings.model_copy(update={"database": str(db)}))
                        s, fake = await asyncio.to_thread(stack.enter_context, fake_cm)
                        server = InProcessServer(s)
                        await asyncio.to_thread(stack.enter_context, server)
                        try:
                            record, caller = await run_call(
                                sc,
                                server.http_base,
                                auth_token=s.twilio_auth_token,
                                admin_token=s.admin_token,
                                utterances=utterances[sc.name],
                                rest=fake,
                                account_sid=s.twilio_account_sid,
                            )
                        finally:
                            await asyncio.to_thread(stack.close)
                    where = "in-process"
                else:
                    record, caller = await run_call(
                        sc,
                        http_base_of(url),
                        media_url=url,
                        auth_token=settings.twilio_auth_token,
                        admin_token=settings.admin_token,
                        utterances=utterances[sc.name],
                    )
                    where = url
                result = evaluate(sc, record, caller, budgets, where)
                result.wall_s = time.monotonic() - t0
                out = RunOutcome(sc, run, result, wall_s=result.wall_s)
            except (OSError, RuntimeError, ValueError) as exc:
                out = RunOutcome(sc, run, None, f"{type(exc).__name__}: {exc}"[:300])
                out.wall_s = time.monotonic() - t0
            if on_done is not None:
                on_done(out)
            return out

    jobs = [(sc, r) for sc in scenarios for r in range(1, repeat + 1)]
    try:
        return list(await asyncio.gather(*(one(sc, r, i) for i, (sc, r) in enumerate(jobs))))
    finally:
        tmp.cleanup()
