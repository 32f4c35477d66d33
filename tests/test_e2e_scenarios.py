"""Every shipped scenario, run as a user runs it: `voicectl simulate FILE --json OUT`.

Each run is a real call - in-process server, real WebSocket on loopback, real VAD on the
committed μ-law fixtures, real SQLite file - so the scenarios run concurrently (they are
real time, not CPU bound) and each test asserts one scenario's verdict and outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from helpers import ServeProcess, free_port, simulate_url

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


#: Speculative endpointing, opt-in (docs/vad.md): the seed scenario at the 120 ms hangover.
SPECULATIVE = "book-tomorrow-noon-no-phone@120"


def _run(path: Path, out_dir: Path, tag: str = "") -> tuple[int, list[dict[str, Any]], str]:
    out = out_dir / f"{path.stem}{tag}.json"
    env = {**os.environ, "VAD_HANGOVER_MS": "120"} if tag else None
    proc = subprocess.run(
        [sys.executable, "-m", "voicectl", "simulate", str(path), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env=env,
    )
    data = json.loads(out.read_text(encoding="utf-8")) if out.exists() else []
    return proc.returncode, data, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, Any, str]]:
    out_dir = tmp_path_factory.mktemp("sim")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda p: _run(p, out_dir), SCENARIOS)
        seed = ROOT / "scenarios" / "book-tomorrow-noon-no-phone.yaml"
        speculative = pool.submit(_run, seed, out_dir, "@120")
        found = {p.stem: r for p, r in zip(SCENARIOS, results, strict=True)}
        found[SPECULATIVE] = speculative.result()
        return found


def test_there_are_shipped_scenarios() -> None:
    assert len(SCENARIOS) >= 4


@pytest.mark.parametrize("name", [p.stem for p in SCENARIOS])
def test_scenario_passes(runs: dict[str, tuple[int, Any, str]], name: str) -> None:
    code, data, output = runs[name]
    assert code == 0, output[-3000:]
    (result,) = data
    failed = [c for c in result["checks"] if not c["ok"]]
    assert not failed, failed
    assert result["latency_verdict"] in ("GO", "WARN")
    assert "VERDICT PASS" in output
    # Every turn the caller spoke has a voice-to-voice time measured on the caller side.
    speech = [t for t in result["turns"] if t["kind"] == "speech"]
    assert all("TURN_LATENCY_MS" in t["marks"] for t in speech)


def _record(runs: dict[str, tuple[int, Any, str]], name: str) -> dict[str, Any]:
    return runs[name][1][0]["record"]


def test_seed_booking_without_phone(runs: dict[str, tuple[int, Any, str]]) -> None:
    rec = _record(runs, "book-tomorrow-noon-no-phone")
    assert [c["name"] for c in rec["tool_calls"]][:2] == ["find_slots", "create_appointment"]
    (appt,) = rec["appointments"]
    assert appt["appointment_id"]
    assert appt["customer_phone"] is None
    assert appt["start_iso"] == "2026-11-23T12:00:00+02:00"
    assert rec["errors"] == []


def test_a_paused_utterance_is_one_turn_over_the_real_websocket(
    runs: dict[str, tuple[int, Any, str]],
) -> None:
    """`book_tomorrow_noon` has a clause pause longer than the 120 ms hangover: the server
    starts a reply at the tentative end, the caller goes on, that turn is taken back, and
    ONE turn runs on the whole sentence - with one booking (speculative endpointing)."""
    code, _, output = runs[SPECULATIVE]
    assert code == 0, output[-3000:]
    rec = _record(runs, SPECULATIVE)
    speech = [t for t in rec["turns"] if t["kind"] == "speech"]
    assert [t["user_text"] for t in speech] == [
        "תקבע לי מחר ב-12 שוודי, השם דני",
        "לא תודה, זה הכל",
    ]
    taken_back = [line for line in rec["log"] if "taken back" in line]
    assert len(taken_back) == 1 and taken_back[0].startswith("INFO "), rec["log"]
    assert len(rec["appointments"]) == 1


def test_seed_dtmf_capture(runs: dict[str, tuple[int, Any, str]]) -> None:
    code, data, output = runs["dtmf-phone-capture"]
    rec = data[0]["record"]
    # The seed's line, number masked like every log line (the full number is on the call).
    assert "DTMF phone captured: +97250****567, waiting_for_dtmf=false" in output
    assert rec["caller_number"] == "+972501234567"
    assert rec["appointments"][-1]["customer_phone"] == "+972501234567"
    errors = [c["error"] for c in rec["tool_calls"] if not c["ok"]]
    assert "need_phone" in errors


def test_barge_in_is_measured_and_stops_the_bot(runs: dict[str, tuple[int, Any, str]]) -> None:
    result = runs["barge-in-change-day"][1][0]
    assert any("BARGE_IN_STOP_MS" in m for m in result["caller_marks"])
    assert any(t["barged_in"] for t in result["record"]["turns"])


def _check_gather_round_trip(result: dict[str, Any]) -> None:
    """Seed 000 path B end to end: REST <Gather> by the twilio library, digits to
    /webhook/dtmf_done, a new stream of the SAME conversation, the booking with the number."""
    rec, twilio = result["record"], result["twilio"]
    turns = rec["turns"]
    # Numbering continues across the streams (never restarts); a turn taken back by
    # speculative endpointing keeps its number out of the record (docs/vad.md).
    indices = [t["index"] for t in turns]
    assert indices[0] == 0 and indices == sorted(set(indices))
    assert [t["kind"] for t in turns].count("greeting") == 1  # one greeting in the call
    assert "dtmf_phone" in [t["kind"] for t in turns]
    assert twilio["streams"] == 2
    gather_updates = [q for q in twilio["rest_requests"] if "Twiml" in q["form"]]
    assert len(gather_updates) == 1
    (update,) = gather_updates
    assert update["method"] == "POST" and update["path"].endswith(f"/Calls/{rec['call_sid']}.json")
    assert update["authorized"] and update["user_agent"].startswith("twilio-python/")
    twiml = update["form"]["Twiml"]
    assert '<Gather action="http' in twiml and "/webhook/dtmf_done" in twiml
    assert 'finishOnKey="#"' in twiml and 'input="dtmf"' in twiml and 'timeout="6"' in twiml
    assert 'language="he-IL"' in twiml and 'voice="Google.he-IL-' in twiml
    assert twilio["gather_says"] == ["הקישו את מספר הטלפון ואחר כך סולמית"]
    # The bot said goodbye; its REST hang-up races the caller's own `stop` here (the
    # hang-up through REST is tested on its own in test_call_end.py).
    assert [q["form"] for q in twilio["rest_requests"]].count({"Status": "completed"}) <= 1
    (appt,) = rec["appointments"]
    assert appt["customer_phone"] == "+972501234567"
    ended = [e for e in rec["events"] if e["type"] == "call.ended"]
    assert len(ended) == 1 and ended[0]["payload"]["ended_by"] in ("bot_hangup", "stop")
    assert ended[0]["payload"]["turns"] == len(turns)
    assert ended[0]["payload"]["appointment_ids"] == [appt["appointment_id"]]


def test_gather_fallback_in_process(runs: dict[str, tuple[int, Any, str]]) -> None:
    code, data, output = runs["dtmf-gather-fallback"]
    assert code == 0, output[-3000:]
    _check_gather_round_trip(data[0])


def test_gather_fallback_against_a_running_server(tmp_path: Path) -> None:
    """`voicectl serve` + `voicectl simulate --url`: both read the same settings, so the
    simulator's REST fake listens where the server's twilio client is pointed."""

    rest_port = free_port()
    env = {
        "TWILIO_ACCOUNT_SID": "AC" + "7" * 32,
        "TWILIO_AUTH_TOKEN": "e2e-token",
        "VOICECTL_TWILIO_API_BASE_URL": f"http://127.0.0.1:{rest_port}",
        "VOICECTL_DATABASE": str(tmp_path / "serve.db"),
    }
    with ServeProcess(tmp_path, "--accept-sim-params", env=env, cwd=ROOT) as server:
        server.wait_healthy()
        out = tmp_path / "gather.json"
        gather = ROOT / "scenarios/dtmf-gather-fallback.yaml"
        proc = simulate_url(server.media, gather, out, env, ROOT)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        _check_gather_round_trip(json.loads(out.read_text(encoding="utf-8"))[0])
