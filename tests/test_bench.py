"""`voicectl bench`: percentiles, verdicts (WARN bands, baselines, regressions), budget
files, the JSON and JUnit results (JUnit parsed back with junitparser), and the load
figures - all on synthetic runs through the real `evaluate` and checks, no timing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from voicectl.bench.gates import REGRESSION_FLOOR_MS, final_verdict, judge_marks, regression
from voicectl.bench.junit import write_junit
from voicectl.bench.results import BaselineError, baseline_of, build_result
from voicectl.bench.stats import percentile, summarize
from voicectl.bench.suite import RunOutcome, expand_paths
from voicectl.sim.budgets import (
    DEFAULT_BUDGETS,
    Budget,
    BudgetError,
    BudgetFile,
    LoadBudgets,
    load_budget_file,
)
from voicectl.sim.emulator import EmulatorResult
from voicectl.sim.runner import evaluate
from voicectl.sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]

SCENARIO = """\
name: hello
now: "2026-11-22T10:00:00+02:00"
business: demo-spa
steps:
  - expect_bot: {}
  - say: "שלום"
  - expect_bot: {}
  - hangup: {}
expect:
  tool_calls: [find_slots]
"""


# ---------------------------------------------------------------- statistics
def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1], 101)
    s = summarize([10, 20, 30])
    assert (s["n"], s["p50"], s["max"], s["mean"]) == (3, 20, 30, 20)


# ---------------------------------------------------------------- verdicts
def _budget(go: float, no_go: float, stat: str = "p95") -> dict[str, Budget]:
    return {"V2V_MS": Budget("V2V_MS", go, no_go, "ms", stat)}


@pytest.mark.parametrize(
    ("values", "expected"),
    [([100.0] * 20, "GO"), ([100.0] * 18 + [1200.0] * 2, "WARN"), ([3000.0] * 20, "NO-GO")],
)
def test_the_judged_statistic_falls_in_go_warn_or_no_go(values: list, expected: str) -> None:
    [gate] = judge_marks({"V2V_MS": values}, _budget(1000, 2000))
    assert gate.verdict == expected
    assert gate.value == pytest.approx(percentile(values, 95))


def test_the_budget_names_the_statistic_judged() -> None:
    values = [100.0] * 99 + [5000.0]  # one outlier: p95 is fine, max is not
    [p95] = judge_marks({"V2V_MS": values}, _budget(1000, 2000, "p95"))
    [mx] = judge_marks({"V2V_MS": values}, _budget(1000, 2000, "max"))
    assert (p95.verdict, mx.verdict) == ("GO", "NO-GO")


def test_marks_without_budget_are_info_and_empty_marks_are_left_out() -> None:
    gates = judge_marks({"TOTAL_MS": [5.0], "V2V_MS": []}, _budget(1, 2))
    assert [(g.mark, g.verdict, g.value) for g in gates] == [("TOTAL_MS", "info", None)]


def test_regression_needs_the_percentage_and_more_than_one_frame() -> None:
    assert regression(100, 125, 20) == (25.0, True)
    assert regression(100, 119, 20) == (pytest.approx(19.0), False)
    assert regression(50, 65, 20)[1] is False  # +30 % but only 15 ms: under one 20 ms frame
    assert REGRESSION_FLOOR_MS == 20
    assert regression(-100, -40, 20) == (60.0, True)  # overrun grew by 60 ms
    assert regression(0, 1, 20, unit="count") == (math.inf, True)
    assert regression(0, 0, 20, unit="count") == (0.0, False)
    assert regression(300, 200, 20)[1] is False  # faster is never a regression


def test_baseline_regression_fails_even_within_budget() -> None:
    base = {"V2V_MS": {"p95": 300.0}}
    [gate] = judge_marks({"V2V_MS": [400.0] * 10}, _budget(1500, 2500), base, 20)
    assert gate.verdict == "GO" and gate.regressed and gate.failed
    assert gate.change_pct == pytest.approx(33.33, abs=0.01)
    verdict, reasons = final_verdict([gate], [])
    assert verdict == "NO-GO"
    assert "V2V_MS p95 400 regressed +33% vs baseline 300" in reasons[0]
    [ok] = judge_marks({"V2V_MS": [330.0] * 10}, _budget(1500, 2500), base, 20)
    assert not ok.regressed and final_verdict([ok], [])[0] == "GO"


def test_final_verdict_warn_and_failed_gates() -> None:
    from voicectl.bench.gates import Gate

    [warn] = judge_marks({"V2V_MS": [1200.0]}, _budget(1000, 2000))
    assert final_verdict([warn], [])[0] == "WARN"
    v, reasons = final_verdict([warn], [Gate("expectations", False, "0/1 runs")])
    assert v == "NO-GO" and reasons[0].startswith("expectations")


# ---------------------------------------------------------------- budget files
def test_default_budget_file_is_the_spec_defaults_and_the_load_gates() -> None:
    bf = load_budget_file(REPO / "budgets" / "default.yaml")
    assert bf.marks == dict(DEFAULT_BUDGETS)
    assert bf.expectation_pass_rate == 1.0
    assert bf.load == LoadBudgets()
    assert bf.marks["SEND_QUEUE_FULL"].stat == "max"
    assert load_budget_file(None) == BudgetFile(None, dict(DEFAULT_BUDGETS))


def test_budget_file_sections(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(
        "gates: {expectation_pass_rate: 0.5}\n"
        "marks:\n"
        "  TOTAL_MS: {go: 4000}\n"
        "  V2V_MS: {stat: p99}\n"
        "load: {audio_gaps: 3, V2V_MS: {go: 400, no_go: 600}, generator_lateness_p99_ms: 8}\n",
        encoding="utf-8",
    )
    bf = load_budget_file(path)
    assert bf.expectation_pass_rate == 0.5
    assert bf.marks["TOTAL_MS"] == Budget("TOTAL_MS", 4000, 4000)  # no no_go: no WARN band
    assert bf.marks["V2V_MS"] == Budget("V2V_MS", 1500, 2500, "ms", "p99")
    assert bf.load == LoadBudgets(0, 3, Budget("V2V_MS", 400, 600, "ms", "p99"), 8)


def test_invalid_budget_file_names_file_key_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("load: {V2V_MS: {go: 400, no_go: 300}}\n", encoding="utf-8")
    with pytest.raises(BudgetError, match=r"b\.yaml: load\.V2V_MS: no_go \(300\) is below go"):
        load_budget_file(path)


# ---------------------------------------------------------------- results
def _outcome(tmp_path: Path, run: int, v2v: float, tools: list[str]) -> RunOutcome:
    (tmp_path / "hello.yaml").write_text(SCENARIO, encoding="utf-8")
    sc = load_scenario(tmp_path / "hello.yaml")
    record = {
        "call_sid": f"CA{run}",
        "turns": [
            {"index": 0, "kind": "greeting", "bot_text": "שלום", "marks": {"TURN_LATENCY_MS": 20}},
            {
                "index": 1,
                "kind": "speech",
                "user_text": "שלום",
                "bot_text": "היי",
                "marks": {"TURN_LATENCY_MS": v2v - 30, "AI_LATENCY_MS": 2.0},
            },
        ],
        "metrics": {"QUEUE_MAX_DEPTH": 5, "SEND_QUEUE_FULL": 0},
        "tool_calls": [{"name": t, "ok": True} for t in tools],
    }
    caller = EmulatorResult(f"CA{run}", caller_marks=[{"V2V_MS": v2v}])
    caller.expect_turns = [(0, []), (1, [])]
    result = evaluate(sc, record, caller, dict(DEFAULT_BUDGETS), "in-process")
    return RunOutcome(sc, run, result, wall_s=1.5)


def test_result_json_shape_and_baseline_round_trip(tmp_path: Path) -> None:
    runs = [_outcome(tmp_path, 1, 300, ["find_slots"]), _outcome(tmp_path, 2, 320, [])]
    res = build_result(runs, BudgetFile(None, dict(DEFAULT_BUDGETS)), context={"x": 1})
    data = json.loads(json.dumps(res.to_json(), allow_nan=False))
    assert data["schema"] == "voicectl.bench/1"
    assert data["verdict"] == "NO-GO" and data["exit_code"] == 1  # run 2 missed find_slots
    assert data["scenarios"]["hello"]["runs"] == 2
    assert data["scenarios"]["hello"]["passed"] == 1
    assert data["scenarios"]["hello"]["first_failure"].startswith("run 2: tool_calls")
    assert data["runs"][0]["turns"][1]["marks"]["V2V_MS"] == 300
    assert data["marks"]["V2V_MS"]["n"] == 2  # greeting turns are not counted
    assert data["marks"]["TURN_LATENCY_MS"]["max"] == 290
    assert data["marks"]["V2V_MS"]["verdict"] == "GO"
    assert data["marks"]["V2V_MS"]["stat"] == "p95"
    assert data["budgets"]["marks"]["V2V_MS"] == {
        "go": 1500, "no_go": 2500, "stat": "p95", "unit": "ms"
    }  # fmt: skip
    assert data["context"] == {"x": 1}
    path = tmp_path / "base.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    base = baseline_of(path)
    assert base["V2V_MS"]["p95"] == pytest.approx(319.0)
    again = build_result(runs[:1], BudgetFile(None, dict(DEFAULT_BUDGETS)), baseline=base)
    v2v = next(m for m in again.marks if m.mark == "V2V_MS")
    assert v2v.baseline == pytest.approx(319.0) and not v2v.regressed
    assert again.verdict == "GO" and again.exit_code == 0


def test_warn_passes_unless_strict(tmp_path: Path) -> None:
    runs = [_outcome(tmp_path, 1, 2000, ["find_slots"])]  # V2V 2000: WARN (1500..2500)
    budgets = BudgetFile(None, dict(DEFAULT_BUDGETS))
    assert build_result(runs, budgets).verdict == "WARN"
    assert build_result(runs, budgets).exit_code == 0
    assert build_result(runs, budgets, strict=True).exit_code == 1


def test_bad_baselines_are_invalid_input(tmp_path: Path) -> None:
    p = tmp_path / "b.json"
    with pytest.raises(BaselineError, match="file not found"):
        baseline_of(p)
    p.write_text("{not json", encoding="utf-8")
    with pytest.raises(BaselineError, match="not a readable JSON"):
        baseline_of(p)
    p.write_text('{"schema": "other"}', encoding="utf-8")
    with pytest.raises(BaselineError, match="schema"):
        baseline_of(p)


def test_junit_has_a_case_per_run_and_per_gate_and_names_the_numbers(tmp_path: Path) -> None:
    runs = [_outcome(tmp_path, 1, 300, ["find_slots"]), _outcome(tmp_path, 2, 3000, [])]
    res = build_result(runs, BudgetFile(None, dict(DEFAULT_BUDGETS)))
    path = tmp_path / "bench.xml"
    write_junit(
        path,
        [
            (r.scenario.name, f"run {r.run}", r.wall_s, None if r.ok else r.first_failure)
            for r in runs
        ],
        res.marks,
        res.gates,
    )
    xml = JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    cases = {c.name: c for c in suites["voicectl.bench.runs"]}
    assert set(cases) == {"run 1", "run 2"}
    assert cases["run 1"].is_passed
    assert "tool_calls" in cases["run 2"].result[0].message
    gates = {c.name: c for c in suites["voicectl.bench.gates"]}
    judged = {m.mark for m in res.marks if m.budget is not None}
    assert set(gates) == judged | {"expectations"}
    [failure] = [r for r in gates["V2V_MS"].result if isinstance(r, Failure)]
    assert "V2V_MS p95 = 2865.0 ms is NO-GO" in failure.message
    assert "NO-GO above 2500" in failure.message
    assert gates["AI_LATENCY_MS"].is_passed


def test_folders_expand_to_their_scenarios(tmp_path: Path) -> None:
    got = expand_paths([REPO / "scenarios"])
    assert REPO / "scenarios" / "dtmf-phone-capture.yaml" in got
    from voicectl.sim.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="no scenario files"):
        expand_paths([tmp_path])
