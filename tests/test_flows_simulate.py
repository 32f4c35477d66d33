"""A simulated call's messages are kept and inspectable afterwards (issue 9): `voicectl
simulate` on the database `VOICECTL_DATABASE` names prints the flows' messages, and
`voicectl flows list --db` reads them back. A real call (real time, ~30 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_simulated_call_messages_are_listed_afterwards(tmp_path: Path) -> None:
    dbfile = tmp_path / "sim.db"
    env = {**os.environ, "VOICECTL_DATABASE": str(dbfile)}
    sim = subprocess.run(
        [sys.executable, "-m", "voicectl", "simulate", "scenarios/clinic-caller-id.yaml",
         "--no-log"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, env=env,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stdout[-3000:] + sim.stderr[-2000:]
    assert "Flows: messages for this call" in sim.stdout
    assert "✓ messages: 1 message(s)" in sim.stdout
    env.pop("VOICECTL_DATABASE")
    listed = subprocess.run(
        [sys.executable, "-m", "voicectl", "flows", "list", "--json", "--db", str(dbfile)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    by_handler = {m["handler"]: m for m in json.loads(listed.stdout)}
    confirmation = by_handler["whatsapp_confirmation"]
    assert (confirmation["status"], confirmation["to"]) == ("sent", "+972521234567")
    assert "ב-10:30 בקליניקה דמו" in confirmation["text"]
    assert by_handler["call_summary"]["status"] == "done"  # call.ended was summarised
