"""`simulate`'s latency table stays whole in an 80-column log with no terminal."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from voicectl.call.marks import CALLER_MARKS, SERVER_MARKS
from voicectl.sim.budgets import DEFAULT_BUDGETS, classify
from voicectl.sim.report import fit_columns, latency_tables


def _turns(n: int) -> list[dict]:
    turns = []
    for i in range(n):
        marks = {m: 12345.6 - i for m in SERVER_MARKS + CALLER_MARKS}
        verdicts = {m: classify(m, v) for m, v in marks.items()}
        turns.append({"index": i, "kind": "speech", "marks": marks, "verdicts": verdicts})
    return turns


def test_every_mark_name_and_turn_is_printed_whole_at_80_columns() -> None:
    result = SimpleNamespace(turns=_turns(7), budgets=dict(DEFAULT_BUDGETS))
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False, color_system=None)
    for table in latency_tables(result, console.width):
        console.print(table)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    for mark in SERVER_MARKS + CALLER_MARKS:
        assert f" {mark} " in text  # never cut to "TOOL_CRE…"
    for i in range(7):
        assert f"T{i} caller" in text
    assert "…" not in text
    assert "part 1 of" in text


def test_fit_columns_groups() -> None:
    assert fit_columns([10], [10, 10, 10], 80) == [[0, 1, 2]]
    assert fit_columns([10], [35, 35, 35], 80) == [[0], [1], [2]]
    assert fit_columns([100], [5], 80) == [[0]]  # at least one per table
