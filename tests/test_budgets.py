"""Tests for latency budgets and GO / WARN / NO-GO verdicts (DESIGN.md "Latency marks")."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from voicectl.sim.budgets import (
    DEFAULT_BUDGETS,
    INFO_MARKS,
    Budget,
    BudgetError,
    classify,
    is_known_mark,
    load_budgets,
    verdict,
    worst,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("mark", "go", "nogo"),
    [
        ("STT_FIRST_PARTIAL_MS", 600, 900),
        ("STT_FINAL_MS", 900, 1350),
        ("AI_LATENCY_MS", 1500, 1800),
        ("TTS_READY_MS", 400, 600),
        ("TTS_SEND_OVERRUN_MS", 1000, 1500),
        ("TURN_LATENCY_MS", 1200, 2500),
        ("SEND_QUEUE_FULL", 0, 0),
        ("V2V_MS", 1500, 2500),
        ("BARGE_IN_STOP_MS", 300, 600),
    ],
)
def test_default_figures_and_boundaries(mark: str, go: float, nogo: float) -> None:
    b = DEFAULT_BUDGETS[mark]
    assert (b.go_max, b.nogo_above) == (go, nogo)
    assert verdict(b, go) == "GO"
    assert verdict(b, nogo + 0.001) == "NO-GO"
    if nogo > go:
        assert verdict(b, go + 0.001) == "WARN"
        assert verdict(b, nogo) == "WARN"


def test_send_queue_full_is_a_count() -> None:
    b = DEFAULT_BUDGETS["SEND_QUEUE_FULL"]
    assert b.unit == "count"
    assert verdict(b, 0) == "GO"
    assert verdict(b, 1) == "NO-GO"


def test_ai_latency_thresholds_exact() -> None:
    b = DEFAULT_BUDGETS["AI_LATENCY_MS"]
    assert [verdict(b, v) for v in (0, 1500, 1500.5, 1800, 1800.01)] == [
        "GO",
        "GO",
        "WARN",
        "WARN",
        "NO-GO",
    ]


def test_nan_is_no_go() -> None:
    assert verdict(DEFAULT_BUDGETS["TTS_READY_MS"], math.nan) == "NO-GO"


def test_budget_rejects_inverted_lines() -> None:
    with pytest.raises(ValueError, match="below go"):
        Budget("X_MS", 100, 50)


def test_defaults_are_read_only() -> None:
    with pytest.raises(TypeError):
        DEFAULT_BUDGETS["AI_LATENCY_MS"] = Budget("AI_LATENCY_MS", 1, 2)  # type: ignore[index]


def test_info_marks_have_no_budget() -> None:
    for mark in INFO_MARKS:
        assert mark not in DEFAULT_BUDGETS
        assert classify(mark, 123.0) == "info"
    assert classify("AI_LATENCY_MS", 1600) == "WARN"
    assert is_known_mark("TOOL_SEND_WHATSAPP_MS")
    assert not is_known_mark("AI_LATENCY")


def test_worst() -> None:
    assert worst([]) == "GO"
    assert worst(["info", "info"]) == "GO"
    assert worst(["GO", "info", "WARN", "GO"]) == "WARN"
    assert worst(["WARN", "NO-GO", "GO"]) == "NO-GO"
    with pytest.raises(ValueError, match="not a verdict"):
        worst(["OK"])


def test_load_none_is_defaults_copy() -> None:
    got = load_budgets(None)
    assert got == dict(DEFAULT_BUDGETS)
    got.pop("AI_LATENCY_MS")
    assert "AI_LATENCY_MS" in DEFAULT_BUDGETS


def test_shipped_default_file_matches_defaults() -> None:
    assert load_budgets(REPO / "budgets" / "default.yaml") == dict(DEFAULT_BUDGETS)


def test_file_overrides_per_mark(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(
        "marks:\n"
        "  AI_LATENCY_MS: {go: 1000, no_go: 1200}\n"
        "  STT_FINAL_MS: {no_go: 2000}\n"
        "  TOTAL_MS: {go: 4000, no_go: 6000}\n"
        "  QUEUE_MAX_DEPTH: {go: 50, no_go: 100, unit: frames}\n",
        encoding="utf-8",
    )
    got = load_budgets(path)
    assert got["AI_LATENCY_MS"] == Budget("AI_LATENCY_MS", 1000, 1200)
    assert got["STT_FINAL_MS"] == Budget("STT_FINAL_MS", 900, 2000)
    assert got["TOTAL_MS"] == Budget("TOTAL_MS", 4000, 6000)
    assert got["QUEUE_MAX_DEPTH"].unit == "frames"
    assert got["TTS_READY_MS"] == DEFAULT_BUDGETS["TTS_READY_MS"]
    assert classify("TOTAL_MS", 5000, got) == "WARN"


def test_empty_file_is_defaults(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("# nothing\n", encoding="utf-8")
    assert load_budgets(path) == dict(DEFAULT_BUDGETS)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("marks: {AI_LATENCY: {go: 1, no_go: 2}}", "marks.AI_LATENCY: unknown mark"),
        ("marks: {AI_LATENCY_MS: {go: 1, no_go: 2, warn: 3}}", "marks.AI_LATENCY_MS.warn"),
        ("marks: {AI_LATENCY_MS: {go: fast}}", "marks.AI_LATENCY_MS.go: expected a number"),
        ("marks: {AI_LATENCY_MS: {go: true}}", "marks.AI_LATENCY_MS.go: expected a number"),
        ("marks: {AI_LATENCY_MS: {go: -1}}", "marks.AI_LATENCY_MS.go"),
        ("marks: {AI_LATENCY_MS: {go: 2000, no_go: 1000}}", "marks.AI_LATENCY_MS: no_go"),
        ("marks: {TOTAL_MS: {no_go: 1}}", "marks.TOTAL_MS: a mark without a default budget"),
        ("marks: {AI_LATENCY_MS: {go: 1, nogo: 2}}", "did you mean 'no_go'?"),
        ("marks: {AI_LATENCY_MS: {stat: p97}}", "marks.AI_LATENCY_MS.stat: 'p97'"),
        ("gates: {expectation_pass_rate: 1.5}", "gates.expectation_pass_rate: a fraction"),
        ("gates: {pass_rate: 1}", "gates.pass_rate: unknown key"),
        ("load: {audio_gaps: many}", "load.audio_gaps: expected a number"),
        ("load: {V2V_MS: {go: 900, no_go: 100}}", "load.V2V_MS: no_go (100) is below go"),
        ("marks: {AI_LATENCY_MS: 1500}", "marks.AI_LATENCY_MS: expected"),
        ("mark: {}", "mark: unknown top-level key"),
        ("marks: [1, 2]", "marks: expected a mapping"),
        ("marks: {AI_LATENCY_MS: {go: 1, no_go: 2}\n", "malformed YAML"),
    ],
)
def test_load_errors_name_file_and_field(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BudgetError) as info:
        load_budgets(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(path))
    assert words in msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BudgetError, match="file not found"):
        load_budgets(tmp_path / "nope.yaml")
