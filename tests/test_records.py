"""Call records are written as the call goes, off the event loop, and survive a crash
(issue 6 items 5, 6 and 8): per-turn writes, start-up recovery of "interrupted" calls,
retried writes, schema creation by 20 processes at once."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import ServeProcess
from media_client import RawCall, record, wait_record
from sqlalchemy import event, select

from voicectl.config import Settings
from voicectl.runtime import Runtime
from voicectl.sim.runner import InProcessServer
from voicectl.store import records
from voicectl.store.booking import EventRow
from voicectl.store.calls import CallRow
from voicectl.store.db import Database


class FakeSession:
    """What `records.snapshot` reads of a `CallSession`."""

    def __init__(self, call_sid: str, turns: int = 1, text: str = "שלום") -> None:
        self.call_sid = call_sid
        self.stream_sid = "MZ" + call_sid
        self.business_id = "demo-spa"
        self.caller_number: str | None = None
        self.turns = [
            {
                "index": i,
                "kind": "speech",
                "user_text": text,
                "bot_text": text,
                "marks": {"TURN_LATENCY_MS": 300.0},
                "barged_in": False,
                "superseded": False,
                "tools": [],
            }
            for i in range(turns)
        ]

    def record(self) -> dict[str, Any]:
        return {
            "turns": [dict(t) for t in self.turns],
            "metrics": {"SEND_QUEUE_FULL": 0},
            "errors": [],
        }


def test_snapshots_are_upserts_and_log_lines_are_appended_once(db_url: str) -> None:
    db = Database(db_url)
    s = FakeSession("CA1", turns=1)
    lines = [("INFO", "call started")]
    records.save_call(db, records.snapshot(s, lines, owner="me", started=True))
    s.turns.append({**s.turns[0], "index": 1, "user_text": "מחר"})
    lines.append(("INFO", "turn 1"))
    snap = records.snapshot(s, lines)
    records.save_call(db, snap)
    records.save_call(db, snap)  # a retried write stores nothing twice
    rec = records.load_record(db, "CA1")
    assert rec is not None and rec["status"] == "in-progress"
    assert [t["index"] for t in rec["turns"]] == [0, 1]
    assert rec["log"] == ["INFO call started", "INFO turn 1"]
    records.save_call(db, records.snapshot(s, lines, ended=True))
    assert records.load_record(db, "CA1")["status"] == "completed"  # type: ignore[index]


def test_turns_changed_or_taken_back_after_a_save_are_stored_as_last_said(db_url: str) -> None:
    db = Database(db_url)
    s = FakeSession("CA2", turns=3)
    records.save_call(db, records.snapshot(s, [("INFO", "call started")], started=True))
    s.turns[1] = {**s.turns[1], "barged_in": True, "marks": {"TURN_LATENCY_MS": 410.0}}
    del s.turns[2]  # taken back: the caller went on
    s.turns.append({**s.turns[0], "index": 3, "user_text": "מחרתיים"})
    records.save_call(db, records.snapshot(s, [("INFO", "call started")]))
    rec = records.load_record(db, "CA2")
    assert rec is not None
    got = [(t["index"], t["barged_in"], t["marks"], t["user_text"]) for t in rec["turns"]]
    assert got == [
        (0, False, {"TURN_LATENCY_MS": 300.0}, "שלום"),
        (1, True, {"TURN_LATENCY_MS": 410.0}, "שלום"),
        (3, False, {"TURN_LATENCY_MS": 300.0}, "מחרתיים"),
    ]
    assert rec["log"] == ["INFO call started"]


def test_a_lone_surrogate_in_a_transcript_does_not_lose_the_record(db_url: str) -> None:
    db = Database(db_url)
    s = FakeSession("CA2", text="שלום \ud800 עולם")
    records.save_call(db, records.snapshot(s, [("INFO", "heard \udcff")], ended=True))
    rec = records.load_record(db, "CA2")
    assert rec is not None and rec["turns"][0]["user_text"] == "שלום \ufffd עולם"
    assert rec["log"] == ["INFO heard \ufffd"]


def test_values_postgresql_would_refuse_do_not_lose_the_record(db_url: str) -> None:
    """PostgreSQL text cannot hold U+0000 and enforces VARCHAR lengths (SQLite does
    neither): a caller's NUL becomes U+FFFD, an over-long stream id or From is cut."""
    db = Database(db_url)
    s = FakeSession("CA3", text="שלום \x00 עולם")
    s.caller_number = "+97250\x001234567"
    s.stream_sid = "MZ" + "9" * 254  # the Media Streams parser accepts 256 characters
    snap = records.snapshot(s, [("INFO", "heard \x00")], from_number="+" + "1" * 255, ended=True)
    records.save_call(db, snap)
    records.save_call(db, snap)  # idempotent with the cut stream id too
    rec = records.load_record(db, "CA3")
    assert rec is not None and rec["turns"][0]["user_text"] == "שלום \ufffd עולם"
    assert len(rec["turns"]) == 1 and rec["log"] == ["INFO heard \ufffd"]
    assert "\x00" not in str(rec["caller_number"]) and rec["stream_sid"].startswith("MZ999")


def test_a_non_finite_metric_does_not_lose_the_record(db_url: str) -> None:
    """PostgreSQL's json refuses NaN / Infinity (SQLite keeps them): they are stored null."""
    db = Database(db_url)
    s = FakeSession("CA4")
    s.turns[0]["marks"] = {"TURN_LATENCY_MS": float("nan"), "STT_FINAL_MS": 120.0}
    snap = records.snapshot(s, [], ended=True)
    snap.metrics = {"SEND_QUEUE_FULL": 0, "V2V_MS": float("inf")}
    records.save_call(db, snap)
    records.save_call(db, snap)  # the stored null is merged with the next snapshot
    rec = records.load_record(db, "CA4")
    assert rec is not None and rec["turns"][0]["marks"]["STT_FINAL_MS"] == 120.0
    assert rec["turns"][0]["marks"]["TURN_LATENCY_MS"] is None
    assert rec["metrics"]["V2V_MS"] is None


def test_the_writer_retries_a_failed_write_and_logs_one_it_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(tmp_path / "w.db")
    real, failures = records.save_call, {"n": 2}

    def flaky(
        db_: Database, snap: records.CallSnapshot, traces: list | None = None, then=()
    ) -> None:
        if failures["n"] > 0:
            failures["n"] -= 1
            raise RuntimeError("database is locked")
        real(db_, snap, traces, then)

    monkeypatch.setattr(records, "save_call", flaky)
    writer = records.RecordWriter(db, retry_delays_s=(0.01, 0.01, 0.01))
    fut = writer.submit(records.snapshot(FakeSession("CA3"), [], started=True))
    assert fut.result(timeout=10) is True
    assert records.load_record(db, "CA3") is not None
    failures["n"] = 99
    with caplog.at_level(logging.WARNING, logger="voicectl.records"):
        lost = writer.submit(records.snapshot(FakeSession("CA4"), [], started=True))
        assert lost.result(timeout=10) is False
    assert any("CA4" in r.message and "NOT saved" in r.message for r in caplog.records)
    assert writer.close()


def test_snapshots_of_one_call_queued_during_a_stall_merge_into_one(tmp_path: Path) -> None:
    db = Database(tmp_path / "m.db")
    gate, entered = threading.Event(), threading.Event()
    real = records.save_call
    calls: list[int] = []

    def slow(
        db_: Database, snap: records.CallSnapshot, traces: list | None = None, then=()
    ) -> None:
        entered.set()
        gate.wait(10)
        calls.append(len(snap.turns))
        real(db_, snap, traces, then)

    writer = records.RecordWriter(db)
    records.save_call, saved = slow, records.save_call  # type: ignore[assignment]
    try:
        s = FakeSession("CA5", turns=0)
        writer.submit(records.snapshot(s, [], started=True))
        assert entered.wait(10)  # the writer is now blocked inside the first write
        for i in range(50):
            s.turns.append({**FakeSession("x").turns[0], "index": i})
            writer.submit(records.snapshot(s, []))
        assert writer.backlog == 1  # one entry per call, however long the stall
        last = writer.submit(records.snapshot(s, [], ended=True))
        gate.set()
        assert last.result(timeout=10)
    finally:
        records.save_call = saved  # type: ignore[assignment]
    assert calls == [0, 50]  # the 51 queued snapshots were written as one
    rec = records.load_record(db, "CA5")
    assert rec is not None and rec["status"] == "completed" and len(rec["turns"]) == 50


def _trace_row(call_sid: str, tool: str) -> dict[str, Any]:
    return {
        "call_sid": call_sid,
        "business_id": "demo-spa",
        "tool": tool,
        "args_json": "{}",
        "ok": True,
        "error": None,
        "latency_ms": 1.0,
    }


def _stored_tools(db: Database, call_sid: str) -> list[str]:
    rec = records.load_record(db, call_sid)
    assert rec is not None
    return [t["name"] for t in rec["tool_calls"]]


def test_tool_traces_go_with_the_record_each_once_through_stalls_and_retries(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "t.db")
    gate, entered = threading.Event(), threading.Event()
    real, attempts = records.save_call, []

    def stalling(
        db_: Database, snap: records.CallSnapshot, traces: list | None = None, then=()
    ) -> None:
        attempts.append(len(traces or []))
        if len(attempts) == 1:  # the first write stalls while more snapshots come
            entered.set()
            gate.wait(10)
        elif len(attempts) == 2:  # the next one fails once and is retried
            raise RuntimeError("database is locked")
        real(db_, snap, traces, then)

    rows = records.TraceRows(db)
    writer = records.RecordWriter(db, retry_delays_s=(0.01, 0.01))
    s = FakeSession("CA7")
    records.save_call, saved = stalling, records.save_call  # type: ignore[assignment]
    try:
        rows.append(_trace_row("CA7", "find_slots"))
        writer.submit(records.snapshot(s, [], started=True, traces=rows.take()))
        assert entered.wait(10)  # the writer is inside the first write
        for tool in ("create_appointment", "attach_phone"):
            rows.append(_trace_row("CA7", tool))
            writer.submit(records.snapshot(s, [], traces=rows.take()))
        last = writer.submit(records.snapshot(s, [], ended=True, traces=rows.close()))
        gate.set()
        assert last.result(timeout=10)
    finally:
        records.save_call = saved  # type: ignore[assignment]
    assert attempts == [1, 2, 2]  # the merged snapshots' rows went together, retried once
    assert _stored_tools(db, "CA7") == ["find_slots", "create_appointment", "attach_phone"]
    rows.append(_trace_row("CA7", "create_appointment"))  # after the last snapshot: now
    assert _stored_tools(db, "CA7")[-1] == "create_appointment"
    assert len(_stored_tools(db, "CA7")) == 4
    assert writer.close()


def test_recovery_closes_only_calls_of_dead_processes(db_url: str) -> None:
    db = Database(db_url)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    owners = {
        "CAdead": f"{host}:{dead.pid}:x",
        "CAlive": f"{host}:{os.getppid()}:y",  # pytest's parent: alive
        "CAother": "another-host:1:z",
        "CAlegacy": None,
    }
    for sid, owner in owners.items():
        records.save_call(
            db, records.snapshot(FakeSession(sid), [("INFO", "hi")], owner=owner, started=True)
        )
    me = records.process_owner("me")
    assert sorted(records.recover_interrupted(db, me)) == ["CAdead", "CAlegacy"]
    status = {sid: records.load_record(db, sid)["status"] for sid in owners}  # type: ignore[index]
    assert status == {
        "CAdead": "interrupted",
        "CAlive": "in-progress",
        "CAother": "in-progress",
        "CAlegacy": "interrupted",
    }
    kept = records.load_record(db, "CAdead")
    assert kept is not None and kept["turns"][0]["bot_text"] == "שלום"
    assert kept["log"][0] == "INFO hi" and "interrupted" in kept["log"][-1]


def test_turns_are_saved_while_the_call_is_live(tmp_path: Path) -> None:
    with InProcessServer(Settings(database=str(tmp_path / "live.db"))) as srv:

        async def go() -> dict:
            async with RawCall(srv.http_base, "CAlive0001") as call:
                await call.until_mark()  # the greeting played: turn 0 is done
                rec = await wait_record(srv.http_base, call.call_sid, lambda r: r["turns"])
                await call.stop()
                return rec

        rec = asyncio.run(go())
    assert rec["status"] == "in-progress" and rec["active"]
    assert rec["turns"][0]["kind"] == "greeting" and rec["turns"][0]["bot_text"]
    assert any("call started" in line for line in rec["log"])


def test_kill_9_mid_call_keeps_the_turns_and_closes_the_call_at_next_start(
    tmp_path: Path, db_url: str
) -> None:
    db_path = db_url
    env = {"VOICECTL_DATABASE": str(db_path), "VOICECTL_ADMIN_TOKEN": "adm"}
    srv = ServeProcess(tmp_path, env=env)
    base = srv.base
    try:
        srv.wait_healthy()

        async def go() -> dict:
            async with RawCall(base, "CAcrash0001") as call:
                await call.until_mark()
                saved = await _poll_admin(base, call.call_sid)
                srv.kill()  # mid-call, the stream still open
                return saved

        before = asyncio.run(go())
    finally:
        srv.kill()
    assert before["status"] == "in-progress"
    db = Database(db_path)
    assert records.load_record(db, "CAcrash0001")["status"] == "in-progress"  # type: ignore[index]
    rt = Runtime(Settings(database=str(db_path)))  # the next start-up
    assert rt.recovered == ["CAcrash0001"]
    rec = records.load_record(db, "CAcrash0001")
    assert rec is not None and rec["status"] == "interrupted"
    assert rec["turns"][0]["kind"] == "greeting" and rec["turns"][0]["bot_text"]
    assert any("call started" in line for line in rec["log"])
    with db.session() as s:
        assert s.get(CallRow, "CAcrash0001").ended_at is not None  # type: ignore[union-attr]


async def _poll_admin(base: str, call_sid: str) -> dict:
    for _ in range(150):
        r = await asyncio.to_thread(record, base, call_sid, "adm")
        if r.status_code == 200 and r.json()["turns"] and r.json()["turns"][0]["bot_text"]:
            return r.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"turn 0 never saved: {r.status_code} {r.text[:200]}")


_OPEN_DB = """
import sys
from pathlib import Path
from voicectl.booking.policy import seed_policies
from voicectl.store import booking, calls
from voicectl.store.db import Database
go = Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():  # spin: all 20 start within microseconds of each other
    pass
db = Database(sys.argv[1])  # what every serve process does at start-up
seed_policies(db)
db.dispose()
"""


def test_twenty_processes_can_create_one_new_database_at_once(tmp_path: Path, db_url: str) -> None:
    path, go = db_url, tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_DB, str(path), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    for p in procs:  # every interpreter has imported everything and polls for the signal
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    go.touch()
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    failed = [err for code, err in results if code != 0]
    assert not failed, failed[0][-800:]


def test_an_older_database_gains_new_columns(db_url: str) -> None:
    from sqlalchemy import text

    old = Database(db_url)
    with old.engine.begin() as con:  # the previous build's schema: no owner, no turn stream
        con.execute(text("ALTER TABLE calls DROP COLUMN owner"))
        con.execute(text("ALTER TABLE call_turns DROP COLUMN stream_sid"))
    old.dispose()
    db = Database(db_url)
    records.save_call(db, records.snapshot(FakeSession("CAold"), [], owner="o", started=True))
    assert records.load_record(db, "CAold") is not None


def test_no_database_call_runs_on_the_event_loop_thread(tmp_path: Path) -> None:
    """Structural form of "a database stall never stops audio" (issue 6 item 5): every
    statement the server runs during a call - start, turns, DTMF, webhooks, record
    reads, end - executes on a thread without a running event loop."""
    on_loop: list[str] = []
    with InProcessServer(Settings(database=str(tmp_path / "loop.db"))) as srv:

        def check(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return
            on_loop.append(statement.split("\n")[0][:80])

        event.listen(srv.runtime.db.engine, "before_cursor_execute", check)
        base = srv.http_base

        async def go() -> None:
            async with RawCall(base, "CAloop0001") as call:
                await call.until_mark()
                await call.silence(10)
                await call.dtmf("0501234567#")
                await call.until_mark()
                await asyncio.to_thread(
                    httpx.post,
                    f"{base}/webhook/dtmf_done",
                    data={"CallSid": call.call_sid, "Digits": "0501234567"},
                )
                await call.stop()
            await asyncio.to_thread(
                httpx.post,
                f"{base}/webhook/status",
                data={"CallSid": "CAloop0001", "CallStatus": "completed"},
            )
            await wait_record(base, "CAloop0001", lambda r: r["status"] == "completed")

        asyncio.run(go())
    assert not on_loop, on_loop


def test_a_follow_up_write_commits_with_the_snapshot_or_not_at_all(tmp_path: Path) -> None:
    from voicectl.store.call_end import CALL_ENDED, write_call_ended_in

    db = Database(tmp_path / "f.db")
    rows = records.TraceRows(db)
    rows.append(_trace_row("CA8", "find_slots"))
    attempts: list[int] = []

    def end_of_call(s: Any) -> None:  # the call's end, in the record's transaction
        write_call_ended_in(s, "CA8", outcome="completed", ended_by="stop")
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database is locked")  # after its writes: all roll back

    writer = records.RecordWriter(db, retry_delays_s=(0.01,))
    snap = records.snapshot(FakeSession("CA8"), [], started=True, traces=rows.close())
    assert writer.submit(snap, then=end_of_call).result(timeout=10)
    assert len(attempts) == 2
    assert _stored_tools(db, "CA8") == ["find_slots"]  # the retry stored each row once
    rec = records.load_record(db, "CA8")
    assert rec is not None and rec["status"] == "completed"
    with db.session() as s:
        ended = s.scalars(select(EventRow.call_sid).where(EventRow.type == CALL_ENDED)).all()
    assert ended == ["CA8"]
    assert writer.close()
