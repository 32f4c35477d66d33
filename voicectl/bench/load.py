"""`bench --load`: many concurrent calls against one server, made as Twilio makes them.

Each call is the simulator's own `TwilioEmulator` running a scenario: it POSTs `/voice`,
opens the `<Stream>` WebSocket, streams real-time 20 ms μ-law caller audio (the scenario's
committed fixtures), sends DTMF, echoes marks when its modelled playback buffer
(`voicectl.sim.playback`) reaches them and echoes at once on `clear`. Nothing here takes a
route or a shortcut Twilio would not.

The calls run in load-generator processes (`multiprocessing`, spawn), never in the
server's: each process runs its share of the call slots on its own event loop. A slot
starts at its ramp time and places call after call (cycling through the scenarios) until
the duration is over; a call in flight then finishes. Each emulator records how late each
caller frame left against its 20 ms schedule, so the report can tell a slow generator from
a slow server.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicectl import memory

__all__ = ["CallStats", "LoadPlan", "WorkerReport", "run_generators"]

#: A caller turn with no reply audio within this long is a failed turn (issue 10).
FAILED_TURN_MS = 3000.0


@dataclass
class LoadPlan:
    """What the generator processes do.

    Attributes:
        scenario_paths: scenario files; call slot i cycles from scenario i % len.
        calls: concurrent call slots.
        duration_s: seconds during which slots place new calls.
        ramp_s: slot i starts at i * ramp_s / calls seconds.
        http_base: the server's ``http://host:port``.
        media_url: connect here instead of the TwiML `<Stream url>` (None = as told).
        auth_token: sign like Twilio (None = unsigned).
        generators: load-generator processes.
    """

    scenario_paths: list[str]
    calls: int
    duration_s: float
    ramp_s: float
    http_base: str
    media_url: str | None = None
    auth_token: str | None = None
    generators: int = 1


@dataclass
class CallStats:
    """What one call measured (caller side)."""

    scenario: str
    v2v_ms: list[float] = field(default_factory=list)
    barge_in_ms: list[float] = field(default_factory=list)
    turns: int = 0  # caller turns that expect a reply
    failed_turns: int = 0
    gaps_ms: list[float] = field(default_factory=list)
    reply_ms: float = 0.0  # bot audio received (ms)
    leads_ms: list[float] = field(default_factory=list)
    lateness_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    failures: list[str] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)


@dataclass
class WorkerReport:
    """One generator process's calls and the CPU time it used (s, user + system): while
    placing calls (`cpu_s`), and before that, importing and preparing the audio
    (`setup_cpu_s`, a one-off that a longer run would not repeat)."""

    worker: int
    calls: list[CallStats]
    cpu_s: float = 0.0
    setup_cpu_s: float = 0.0


def expects_reply(steps: list[Any]) -> list[bool]:
    """Per `say` step: whether the next step that is not `silence` is an `expect_bot`
    (the scenario expects the bot to answer that utterance)."""
    out = []
    for i, step in enumerate(steps):
        if step.kind != "say":
            continue
        nxt = next((s for s in steps[i + 1 :] if s.kind != "silence"), None)
        out.append(nxt is not None and nxt.kind == "expect_bot")
    return out


def call_stats(scenario: Any, caller: Any, seconds: float) -> CallStats:
    """Reduce an `EmulatorResult` to the load figures (see `CallStats`)."""
    st = CallStats(scenario.name, seconds=seconds)
    for marks, expected in zip(caller.caller_marks, expects_reply(scenario.steps), strict=False):
        v2v = marks.get("V2V_MS")
        if v2v is not None:
            st.v2v_ms.append(v2v)
        if "BARGE_IN_STOP_MS" in marks:
            st.barge_in_ms.append(marks["BARGE_IN_STOP_MS"])
        if expected:
            st.turns += 1
            if v2v is None or v2v > FAILED_TURN_MS:
                st.failed_turns += 1
    # says that never ran (the call ended early) and expected a reply are failed turns too
    ran = len(caller.caller_marks)
    missing = sum(expects_reply(scenario.steps)[ran:])
    st.turns += missing
    st.failed_turns += missing
    pb = caller.playback
    st.gaps_ms = [g.ms for g in pb.gaps]
    st.reply_ms = pb.frames_in * 20.0
    st.leads_ms = list(pb.leads_ms)
    st.lateness_ms = list(caller.send_lateness_ms)
    st.failures = list(caller.failures)[:3]
    st.protocol_errors = list(caller.protocol_errors)[:3]
    return st


async def _slots(
    plan: LoadPlan, slots: list[int], t_start: float, cpu_at_start: list[float]
) -> list[CallStats]:
    from voicectl.sim.emulator import TwilioEmulator
    from voicectl.sim.runner import caller_audio
    from voicectl.sim.scenario import load_scenario

    scenarios = [load_scenario(p) for p in plan.scenario_paths]
    audio = [caller_audio(sc) for sc in scenarios]
    stop_at = t_start + plan.duration_s
    results: list[CallStats] = []
    import httpx

    limits = httpx.Limits(max_connections=len(slots) + 1, max_keepalive_connections=len(slots))
    http = httpx.AsyncClient(timeout=10, limits=limits)

    async def slot(i: int) -> None:
        await asyncio.sleep(max(0.0, t_start + i * plan.ramp_s / plan.calls - time.time()))
        k = i
        while time.time() < stop_at:
            sc = scenarios[k % len(scenarios)]
            utt = audio[k % len(scenarios)]
            k += len(scenarios) if len(scenarios) > 1 else 1
            em = TwilioEmulator(
                sc, utt, plan.http_base, plan.auth_token, plan.media_url, record=False, http=http
            )
            t0 = time.monotonic()
            try:
                caller = await em.run()
            except Exception as exc:  # a refused or broken call is a result, not a crash
                st = CallStats(sc.name, seconds=time.monotonic() - t0)
                st.error = f"{type(exc).__name__}: {exc}"[:200]
                st.turns = st.failed_turns = sum(expects_reply(sc.steps))
                results.append(st)
                await asyncio.sleep(1.0)
                continue
            results.append(call_stats(sc, caller, time.monotonic() - t0))

    # Set-up done: its objects are never collected, so a full collection in the middle of
    # the load costs the generator no lateness (the same as the server's start-up).
    memory.freeze_startup_heap()
    cpu_at_start.append(time.process_time())  # the load's CPU starts here
    try:
        await asyncio.gather(*(slot(i) for i in slots))
    finally:
        await http.aclose()
    return results


def _worker(
    plan: LoadPlan, worker: int, slots: list[int], t_start: float, out: Any, parent: int
) -> None:
    """Entry point of a generator process: run `slots`, put a `WorkerReport` on `out`;
    exits if process `parent` (the `bench`) dies first."""
    import logging

    from voicectl.supervisor import exit_with_parent

    exit_with_parent(parent)  # a killed `bench` leaves no calls running
    logging.disable(logging.WARNING)
    try:
        setup: list[float] = []
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            calls = runner.run(_slots(plan, slots, t_start, setup))
        start = setup[0] if setup else 0.0
        out.put(WorkerReport(worker, calls, time.process_time() - start, start))
    except BaseException as exc:  # report, never hang the parent
        st = CallStats("-", error=f"generator {worker} crashed: {exc!r}"[:300])
        out.put(WorkerReport(worker, [st]))


def _loop_factory() -> Any:
    """uvloop's event loop where it is installed (as `voicectl serve` runs on, through
    uvicorn), else asyncio's: its transports and timers cost the generator less CPU."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_generators(plan: LoadPlan, warmup_s: float = 3.0) -> list[WorkerReport]:
    """Start `plan.generators` processes, run the load, collect their reports.

    Args:
        plan: the load.
        warmup_s: head start for the processes to import and prepare audio before the
            first call (wall clock, so every process uses the same start).

    Returns:
        One report per process (a crashed process reports one errored call).
    """
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    n = max(1, min(plan.generators, plan.calls))
    t_start = time.time() + warmup_s + 2.0 * math.log2(n + 1)
    procs = []
    for w in range(n):
        slots = list(range(w, plan.calls, n))
        p = ctx.Process(
            target=_worker,
            args=(plan, w, slots, t_start, out, os.getpid()),
            name=f"voicectl-load-{w}",
        )
        p.start()
        procs.append(p)
    reports: list[WorkerReport] = []
    deadline = t_start + plan.duration_s + plan.ramp_s + 600
    while len(reports) < n and time.time() < deadline:
        try:
            reports.append(out.get(timeout=1.0))
        except Exception:
            if not any(p.is_alive() for p in procs) and out.empty():
                break
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
    return reports


def resolve(paths: list[Path]) -> list[str]:
    """Absolute scenario paths for the child processes."""
    return [str(Path(p).resolve()) for p in paths]
