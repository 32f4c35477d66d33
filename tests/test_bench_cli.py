"""`voicectl bench` exit codes through the CLI: malformed input -> 2 before any call, and
a budget no call can meet -> 1 (one real call, in-process, with JSON and JUnit written)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from junitparser import JUnitXml
from typer.testing import CliRunner

from voicectl.cli import app

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "scenarios" / "book-tomorrow-noon-no-phone.yaml"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("marks: {V2V_MS: {go: 900, no_go: 100}}\n", "marks.V2V_MS: no_go (100) is below go"),
        ("load: {audio_gap: 0}\n", "load.audio_gap: unknown key"),
        ("marks: {V2V_MS: {go: 1\n", "malformed YAML"),
    ],
)
def test_malformed_budget_file_exits_2_naming_file_and_key(
    tmp_path: Path, text: str, words: str
) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(text, encoding="utf-8")
    res = CliRunner().invoke(app, ["bench", str(SEED), "--budgets", str(path)])
    assert res.exit_code == 2, res.output
    assert str(path) in res.output.replace("\n", "")
    assert words in res.output.replace("\n", "")


def test_other_invalid_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "base.json"
    bad.write_text("[]", encoding="utf-8")
    cases = [
        ["bench", str(SEED), "--baseline", str(bad)],
        ["bench", str(tmp_path / "missing.yaml")],
        ["bench", str(SEED), "--find-capacity"],
        ["bench", str(SEED), "--repeat", "0"],
        ["bench", str(SEED), "--url", "http://127.0.0.1:8080"],  # not the ws:// URL
        ["simulate", str(SEED), "--url", "http://127.0.0.1:8080"],
    ]
    for args in cases:
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        if "--url" in args:
            assert "ws://host:port/media" in res.output.replace("\n", "")


def test_a_stream_that_does_not_open_is_named_as_the_error(tmp_path: Path) -> None:
    from voicectl.config import Settings
    from voicectl.sim.runner import InProcessServer

    with InProcessServer(Settings(database=str(tmp_path / "s.db"))) as srv:
        wrong = srv.http_base.replace("http://", "ws://") + "/not-media"
        res = CliRunner().invoke(app, ["simulate", str(SEED), "--url", wrong])
    assert res.exit_code == 1, res.output
    out = res.output.replace("\n", "")
    assert "media stream did not open" in out and "/not-media" in out


def test_help_lists_the_exit_codes() -> None:
    res = CliRunner().invoke(app, ["bench", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert "0 = GO (or WARN without --strict)" in res.output
    assert "2 = invalid input" in res.output


def test_a_budget_no_call_can_meet_exits_1_and_writes_json_and_junit(tmp_path: Path) -> None:
    budgets = tmp_path / "impossible.yaml"
    budgets.write_text("marks:\n  V2V_MS: {go: 0, no_go: 0}\n", encoding="utf-8")
    out, xml = tmp_path / "bench.json", tmp_path / "bench.xml"
    res = CliRunner().invoke(
        app,
        ["bench", str(SEED), "--budgets", str(budgets), "--json", str(out), "--junit", str(xml)],
        env={"COLUMNS": "80"},
    )
    assert res.exit_code == 1, res.output
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("BENCH NO-GO:") and "V2V_MS" in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) <= 80  # the report, not logs
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["verdict"] == "NO-GO" and data["exit_code"] == 1
    assert data["marks"]["V2V_MS"]["verdict"] == "NO-GO"
    assert data["runs"][0]["ok"], data["runs"][0]["first_failure"]  # expectations still met
    assert data["context"]["machine"]["cores"] >= 1
    assert data["context"]["providers"]["agent"]
    assert "vad_hangover_ms" in data["context"]["settings"]
    speech = [t for t in data["runs"][0]["turns"] if t["kind"] == "speech"]
    assert speech and all("V2V_MS" in t["marks"] for t in speech)
    suites = {s.name: s for s in JUnitXml.fromfile(str(xml))}
    [run] = list(suites["voicectl.bench.runs"])
    assert run.is_passed
    gate = next(c for c in suites["voicectl.bench.gates"] if c.name == "V2V_MS")
    assert not gate.is_passed and "V2V_MS p95" in gate.result[0].message


def test_load_mode_places_real_calls_against_a_serve_subprocess(tmp_path: Path) -> None:
    """Two calls through `voicectl serve` in its own process, from a generator process:
    every figure of the load report is measured (values are not judged here: the gates'
    verdict depends on how busy the machine is)."""
    out, xml = tmp_path / "load.json", tmp_path / "load.xml"
    res = CliRunner().invoke(
        app,
        ["bench", "--load", "--calls", "2", "--duration", "2", "--ramp-s", "0", str(SEED)]
        + ["--json", str(out), "--junit", str(xml)],
        env={"COLUMNS": "80"},
    )
    assert res.exit_code in (0, 1), res.output
    data = json.loads(out.read_text(encoding="utf-8"))
    [run] = data["runs"]
    assert run["placed"] >= 2 and run["errored"] == 0, run["first_error"]
    assert run["turns"] >= 4  # two caller turns per call that expect a reply
    assert run["v2v"]["n"] >= 1 and run["v2v"]["p95"] > 0
    assert run["lateness_p99_ms"] is not None
    assert run["server_cpu_s"] > 0 and run["peak_rss_mb"] > 10  # read from /proc/<pid>
    assert run["loop_lag_p99_ms"] is not None  # from the server's /metrics histogram
    assert {g["name"] for g in run["gates"]} == {
        "generator lateness", "failed turns", "audio gaps", "V2V_MS"
    }  # fmt: skip
    assert res.stdout.strip().splitlines()[-1].startswith("BENCH ")
    cases = [c.name for s in JUnitXml.fromfile(str(xml)) for c in s]
    assert "2 calls: audio gaps" in cases


def test_the_gather_fallback_meets_its_expectations_under_bench_as_under_simulate(
    tmp_path: Path,
) -> None:
    """`bench` runs a scenario as `simulate` does: the server's REST client reaches the
    loopback Twilio API fake, so a call moved to `<Gather>` comes back and books (bench
    once ran in-process servers with no REST at all: the call never left the stream)."""
    out = tmp_path / "bench.json"
    scenario = REPO / "scenarios" / "dtmf-gather-fallback.yaml"
    res = CliRunner().invoke(
        app, ["bench", str(scenario), "--json", str(out)], env={"COLUMNS": "80"}
    )
    data = json.loads(out.read_text(encoding="utf-8"))
    [run] = data["runs"]
    assert run["ok"], (run["first_failure"], res.output[-2000:])


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of every process whose parent is `pid` (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = cmd
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_killed_load_run_leaves_no_server_or_generator_running() -> None:
    import signal
    import subprocess
    import sys
    import time

    cmd = [sys.executable, "-m", "voicectl.cli", "bench", "--load", "--calls", "2"]
    bench = subprocess.Popen(
        [*cmd, "--duration", "120", "--ramp-s", "0", str(SEED)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kids: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the server, then the generator process
            kids = _children(bench.pid)
            if any("serve" in c for c in kids.values()) and any(
                "multiprocessing" in c and "resource_tracker" not in c for c in kids.values()
            ):
                break
            time.sleep(0.2)
        assert any("serve" in c for c in kids.values()), kids
        bench.send_signal(signal.SIGKILL)  # no clean-up code runs
        bench.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_running(p) for p in kids):
            time.sleep(0.2)
        left = {p: c for p, c in kids.items() if _running(p)}
        assert not left, f"still running after the bench was killed: {left}"
    finally:
        for p in kids:
            if _running(p):
                os.kill(p, signal.SIGKILL)
