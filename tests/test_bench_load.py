"""`bench --load` figures and gates on synthetic calls; the server's loop-lag histogram;
/proc readings. No timing: the generator's playback model itself is in test_playback.py."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from voicectl.bench.load import CallStats, LoadPlan, WorkerReport, call_stats, expects_reply
from voicectl.bench.load_command import aggregate, judge_load
from voicectl.bench.server import ServeProcess, lag_buckets, lag_p99_ms, proc_sample
from voicectl.loop_lag import LoopLagMonitor, histogram_quantile
from voicectl.sim.budgets import BudgetFile, load_budget_file
from voicectl.sim.emulator import EmulatorResult
from voicectl.sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
F = b"\x7f" * 160


def test_a_say_expects_a_reply_when_an_expect_bot_follows() -> None:
    sc = load_scenario(REPO / "scenarios" / "barge-in-change-day.yaml")
    says = [s for s in sc.steps if s.kind == "say"]
    flags = expects_reply(sc.steps)
    assert len(flags) == len(says)
    barge = [i for i, s in enumerate(says) if s.while_bot_speaking_after_ms is not None]
    assert barge, "the scenario has a barge-in"


def test_call_stats_counts_failed_turns_gaps_and_lateness() -> None:
    sc = load_scenario(REPO / "scenarios" / "book-tomorrow-noon-no-phone.yaml")
    caller = EmulatorResult("CA1", caller_marks=[{"V2V_MS": 310.0}, {"V2V_MS": 3500.0}])
    caller.playback.audio(F, 0.0)
    caller.playback.audio(F, 0.1)  # 80 ms gap inside the reply
    caller.send_lateness_ms = [0.1, 0.2, 9.0]
    st = call_stats(sc, caller, seconds=30.0)
    assert (st.turns, st.failed_turns) == (2, 1)  # 3.5 s > 3 s: no reply audio in time
    assert st.v2v_ms == [310.0, 3500.0]
    assert st.gaps_ms == pytest.approx([80.0])
    assert st.reply_ms == 40.0
    assert st.lateness_ms == [0.1, 0.2, 9.0]
    short = call_stats(sc, EmulatorResult("CA2", caller_marks=[{"V2V_MS": 300.0}]), 5.0)
    assert (short.turns, short.failed_turns) == (2, 1)  # the call ended before turn 2


def _plan(calls: int = 2) -> LoadPlan:
    return LoadPlan(["x.yaml"], calls, 60, 0, "http://127.0.0.1:1")


def _call(v2v: list[float], gaps: list[float], late: list[float]) -> CallStats:
    return CallStats(
        "s", v2v_ms=v2v, turns=len(v2v), gaps_ms=gaps, reply_ms=10_000, lateness_ms=late,
        seconds=60, leads_ms=[100.0, 80.0],
    )  # fmt: skip


def test_clean_load_is_go() -> None:
    fig = aggregate([WorkerReport(0, [_call([300, 320], [], [0.1] * 100)])], _plan())
    verdict, gates = judge_load(fig, BudgetFile(None, load_budget_file(None).marks))
    assert verdict == "GO", gates
    assert fig.call_minutes == 1.0 and fig.turns == 2 and fig.lead_p50_ms == 90.0


def test_gaps_and_a_lagging_generator_are_no_go_and_say_which() -> None:
    calls = [_call([300], [40.0, 60.0], [0.1] * 98 + [30.0, 40.0])]
    fig = aggregate([WorkerReport(0, calls), WorkerReport(1, [_call([310], [], [0.1])])], _plan())
    assert (fig.gaps, fig.largest_gap_ms) == (2, 60.0)
    assert fig.gap_ms_per_reply_s == pytest.approx(100 / 20)  # 100 ms over 20 s of reply
    verdict, gates = judge_load(fig, BudgetFile(None, load_budget_file(None).marks))
    assert verdict == "NO-GO"
    by = {g.name: g for g in gates}
    assert not by["audio gaps"].ok and "2 gaps" in by["audio gaps"].detail
    assert not by["generator lateness"].ok
    assert "load generator fell behind" in by["generator lateness"].detail
    assert by["failed turns"].ok and by["V2V_MS"].ok


def test_loop_lag_histogram_round_trips_through_metrics_text() -> None:
    mon = LoopLagMonitor()
    before = lag_buckets("\n".join(mon.prometheus_lines()))
    for _ in range(98):
        mon.record(0.0005)
    mon.record(0.03)
    mon.record(0.3)
    after = lag_buckets("\n".join(mon.prometheus_lines()))
    assert after[-1] == (float("inf"), 100)
    p99 = lag_p99_ms(before, after)
    assert p99 is not None and 20 < p99 <= 50  # the 99th wake-up is in the 20-50 ms bucket
    assert histogram_quantile(0.5, [(0.001, 0), (float("inf"), 0)]) is None


def test_proc_sample_reads_this_process() -> None:
    s = proc_sample(os.getpid())
    if s is None:
        pytest.skip("no /proc on this system")
    assert s.cpu_s > 0 and s.rss_bytes > 10 * 2**20 and s.peak_rss_bytes >= s.rss_bytes
    assert proc_sample(2**22 + 12345) is None


def test_a_server_that_dies_during_a_load_says_how() -> None:
    """`bench --load` against its own server: if that server exits mid-run, its exit
    code and the end of its log are reported (the log goes with the run's temporary
    folder)."""
    srv = ServeProcess().__enter__()
    try:
        assert srv.exit_report() is None  # running
        os.kill(srv.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (report := srv.exit_report()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert report is not None
        assert report.startswith("voicectl serve exited with -9")
        assert "WARNING" in report  # its log: e.g. the unauthenticated-requests warning
    finally:
        srv.__exit__(None, None, None)
