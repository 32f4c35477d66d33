"""Reliability proof 2 (issue 9): `voicectl serve` is SIGKILLed between a booking's commit
and the delivery of its confirmation; after a restart exactly one message is delivered.

The server runs as a real subprocess on loopback with `messenger: http_bridge` pointed at
the fake bridge; the booking is committed into the server's database file. Two kill
points:

- `bridge_down`: the bridge answers 503, so the server is retrying when it dies;
- `in_flight`: the bridge has accepted the message and holds its answer, so the server
  dies not knowing the message went out. The restarted server takes the delivery over
  once the dead one's lease ends and resends with the same idempotency key, which the
  bridge recognises - still one message.

Waits are bounded polls (no timing is asserted).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import ServeProcess, eventually
from whatsapp_fakes import FakeBridge

from voicectl.booking.appointments import create_appointment
from voicectl.booking.policy import get_business_policy, seed_policies
from voicectl.flows.messages import list_messages
from voicectl.store.db import Database

RULES = """
delivery: {poll_s: 0.1, lease_s: 2, backoff_base_s: 0.2, backoff_max_s: 0.5}
"""


def _wait(cond: Callable[[], bool], timeout_s: float = 60.0) -> None:
    if not eventually(cond, timeout_s):
        raise AssertionError("condition not met in time")


def _server(dbfile: str | Path, rules: Path, bridge_url: str, tmp: Path) -> ServeProcess:
    env = {
        "VOICECTL_MESSENGER": "http_bridge",
        "VOICECTL_WHATSAPP_BRIDGE_URL": bridge_url,
        "VOICECTL_WHATSAPP_BRIDGE_TOKEN": "bridge-token",
        "VOICECTL_FLOWS_RULES": str(rules),
    }
    return ServeProcess(tmp, "--db", str(dbfile), env=env).wait_healthy(60)


@pytest.mark.parametrize("kill_point", ["bridge_down", "in_flight"])
def test_sigkill_between_commit_and_delivery_then_exactly_one_message(
    tmp_path: Path, kill_point: str, db_url: str
) -> None:
    dbfile = db_url  # a SQLite file, or PostgreSQL
    rules = tmp_path / "flows.yaml"
    rules.write_text(RULES, encoding="utf-8")
    db = Database(dbfile)
    seed_policies(db)
    with FakeBridge() as bridge:
        release = threading.Event()
        if kill_point == "bridge_down":
            bridge.fail_first = 10**6
        else:
            bridge.hold = release
        server = _server(dbfile, rules, f"{bridge.base}/send", tmp_path)
        try:
            policy = get_business_policy("demo-spa", db=db)
            now = datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))
            res = create_appointment(
                db, policy, now, "2026-11-22T09:00:00+02:00", "swedish", "דני", "0501234567"
            )
            assert res["ok"]  # committed: the event is in the outbox
            _wait(lambda: len(bridge.requests) >= (2 if kill_point == "bridge_down" else 1))
            server.kill()
        finally:
            server.stop()
        [pending] = list_messages(db)
        assert pending["status"] == "pending"  # the dead server never recorded a result
        expected_delivered = 0 if kill_point == "bridge_down" else 1
        assert len(bridge.delivered) == expected_delivered

        bridge.fail_first = 0
        release.set()
        bridge.hold = None
        restarted = _server(dbfile, rules, f"{bridge.base}/send", tmp_path)
        try:
            _wait(lambda: list_messages(db)[0]["status"] == "sent")
        finally:
            restarted.stop()
    assert len(bridge.delivered) == 1
    [m] = list_messages(db)
    assert m["to"] == "+972501234567" and m["attempts"] >= 2
    keys = {r["headers"].get("Idempotency-Key") for r in bridge.requests}
    assert keys == {f"{m['event_id']}:whatsapp_confirmation"}
