"""The booking bench runs (no timing assertions)."""

from __future__ import annotations

from pathlib import Path

from voicectl.booking import bench


def test_bench_smoke(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    r = bench.run(n_appointments=30, runs=10, db_path=str(tmp_path / "b.db"))
    assert r["appointments"] == 30
    assert r["find_slots"]["median_ms"] > 0 and r["create_appointment"]["p95_ms"] > 0
    assert bench.main(["--appointments", "10", "--runs", "5"]) == 0
    assert "find_slots" in capsys.readouterr().out
