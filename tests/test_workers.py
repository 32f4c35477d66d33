"""`voicectl serve --workers N` and no call state in one process (issue 12, "Both cores").

Two separate `voicectl serve` processes on two ports sharing one database and stream
secret are what N workers behind one port are, made deterministic: a test chooses which
process answers `/voice` and which takes `/media`. Then the real `--workers 2` server:
one APP_START per worker, a killed worker reported and restarted, SIGTERM stopping all,
and the `<Gather>` fallback scenario passing against it through `simulate --url`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from helpers import ServeProcess, free_port, simulate_url
from media_client import RawCall, start_msg, stop_msg, stream_of, voice

from voicectl.store.booking import EventRow
from voicectl.store.calls import CallRow
from voicectl.store.db import Database

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "workers-admin"


def _serve(tmp: Path, name: str, env: dict[str, str], *args: str) -> ServeProcess:
    return ServeProcess(tmp, *args, env=env, cwd=ROOT, name=name).wait_healthy()


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, module_db_url: str
) -> Iterator[tuple[ServeProcess, ServeProcess, Database]]:
    """Processes A and B: one database (SQLite file, or PostgreSQL: two boxes), one stream
    secret, no Twilio token."""
    tmp = tmp_path_factory.mktemp("pair")
    env = {
        "VOICECTL_DATABASE": module_db_url,
        "VOICECTL_STREAM_SECRET": "shared-by-both",
        "VOICECTL_ADMIN_TOKEN": ADMIN,
        "VOICECTL_RECORD_WAIT_SEC": "2",
    }
    a = _serve(tmp, "a", env)
    b = _serve(tmp, "b", env)
    try:
        yield a, b, Database(module_db_url)
    finally:
        a.stop()
        b.stop()


def _answered_by(base: str, call_sid: str) -> tuple[str, dict[str, str]]:
    r = voice(base, call_sid)
    assert r.status_code == 200, r.text
    return stream_of(r.text)


async def _opens(media: str, call_sid: str, params: dict[str, str]) -> bool:
    """Whether a stream with these parameters is served (greeting audio arrives)."""
    async with websockets.connect(media) as ws:
        await ws.send(start_msg(call_sid, "MZ" + call_sid[2:] + "x", params))
        try:
            while True:
                if json.loads(await asyncio.wait_for(ws.recv(), 15))["event"] == "media":
                    return True
        except websockets.ConnectionClosed:
            return False


def _logged(read: Callable[[], str], text: str, timeout_s: float = 10.0) -> bool:
    """Whether `text` shows up in `read()` within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while text not in read():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _owner_pid(db: Database, call_sid: str) -> int:
    with db.session() as s:
        row = s.get(CallRow, call_sid)
        assert row is not None and row.owner
        return int(row.owner.split(":")[1])


def _ended(db: Database, call_sid: str) -> list[dict]:
    from sqlalchemy import select

    with db.session() as s:
        rows = s.scalars(
            select(EventRow).where(EventRow.call_sid == call_sid, EventRow.type == "call.ended")
        ).all()
        return [json.loads(r.payload) for r in rows]


def _record(base: str, call_sid: str) -> dict:
    r = httpx.get(f"{base}/calls/{call_sid}", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_call_answered_by_one_process_streams_in_the_other(
    pair: tuple[ServeProcess, ServeProcess, Database],
) -> None:
    a, b, db = pair

    async def go() -> None:
        call = RawCall(a.base, "CAcross0001")  # POST /voice to A
        call.url = b.media  # ... and the stream to B
        async with call:
            await call.until_mark()
            await call.silence(10)
            await call.stop()

    asyncio.run(go())
    deadline = time.monotonic() + 15
    while (rec := _record(a.base, "CAcross0001"))["status"] == "in-progress":
        assert time.monotonic() < deadline, rec
        time.sleep(0.1)
    assert rec["status"] == "completed" and rec["business_id"] == "demo-spa"
    assert rec["caller_number"] == "+972501234567"  # learned by A, carried signed to B
    assert rec["turns"] and rec["turns"][0]["kind"] == "greeting"
    assert _owner_pid(db, "CAcross0001") == b.proc.pid
    assert len(_ended(db, "CAcross0001")) == 1


def test_a_token_opens_one_stream_in_any_process(
    pair: tuple[ServeProcess, ServeProcess, Database],
) -> None:
    a, b, _ = pair

    async def go() -> None:
        _, params = _answered_by(a.base, "CAreplay0001")
        async with websockets.connect(b.media) as ws:
            await ws.send(start_msg("CAreplay0001", "MZreplay0001", params))
            assert json.loads(await asyncio.wait_for(ws.recv(), 15))["event"] == "media"
            # The same token in the other process, while the call is live: refused.
            assert not await _opens(a.media, "CAreplay0001", params)
            # A fresh token for the live call (another /voice): refused too.
            _, fresh = _answered_by(a.base, "CAreplay0001")
            assert not await _opens(a.media, "CAreplay0001", fresh)
            assert not await _opens(b.media, "CAreplay0001", fresh)
            await ws.send(stop_msg("CAreplay0001", "MZreplay0001"))
        await asyncio.sleep(1.0)
        # After the call: the used token opens nothing, in either process.
        assert not await _opens(a.media, "CAreplay0001", params)
        assert not await _opens(b.media, "CAreplay0001", params)
        # Parameters changed after signing (another business) are refused.
        _, other = _answered_by(a.base, "CAreplay0002")
        assert not await _opens(b.media, "CAreplay0002", {**other, "business": "demo-clinic"})

    asyncio.run(go())
    # Log lines reach the file from a background thread: wait for them, bounded.
    assert _logged(lambda: a.output(), "stream token already used")
    assert _logged(lambda: a.output() + b.output(), "already live")
    assert _logged(lambda: b.output(), "badly signed")


def test_a_status_callback_to_the_other_process_ends_the_call_once(
    pair: tuple[ServeProcess, ServeProcess, Database],
) -> None:
    a, b, db = pair

    async def go() -> bool:
        _, params = _answered_by(a.base, "CAstatus0001")
        async with websockets.connect(b.media) as ws:  # live in B
            await ws.send(start_msg("CAstatus0001", "MZstatus0001", params))
            assert json.loads(await asyncio.wait_for(ws.recv(), 15))["event"] == "media"
            async with httpx.AsyncClient() as client:
                r = await client.post(
                    f"{a.base}/webhook/status",
                    data={"CallSid": "CAstatus0001", "CallStatus": "completed"},
                )
            assert r.status_code == 204
            try:  # B learns of the ending from the database and closes the stream
                while True:
                    await asyncio.wait_for(ws.recv(), 20)
            except websockets.ConnectionClosed:
                return True
            except TimeoutError:
                return False

    assert asyncio.run(go())
    time.sleep(1.0)  # a second (wrong) call.ended would land now
    ended = _ended(db, "CAstatus0001")
    assert len(ended) == 1 and ended[0]["ended_by"] == "status_callback", ended
    assert _record(b.base, "CAstatus0001")["active"] is False


def test_a_status_callback_before_any_stream_ends_the_call_in_any_process(
    pair: tuple[ServeProcess, ServeProcess, Database],
) -> None:
    a, b, db = pair
    _answered_by(a.base, "CAnostream01")  # answered by A; the caller hangs up at once
    r = httpx.post(
        f"{b.base}/webhook/status", data={"CallSid": "CAnostream01", "CallStatus": "canceled"}
    )
    assert r.status_code == 204
    [ended] = _ended(db, "CAnostream01")
    assert ended["outcome"] == "canceled" and ended["business_id"] == "demo-spa"


def _pids(out: str) -> dict[int, int]:
    """worker index -> pid, the latest start of each (from the supervisor's log)."""
    return {int(i): int(p) for i, p in re.findall(r"worker (\d+) started \(pid (\d+)\)", out)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"


def test_serve_with_two_workers(tmp_path: Path) -> None:
    """Two processes on one port, the `<Gather>` fallback across them, a killed worker
    restarted, SIGTERM stopping everything."""
    rest_port = free_port()
    env = {
        "TWILIO_ACCOUNT_SID": "AC" + "7" * 32,
        "TWILIO_AUTH_TOKEN": "workers-token",  # signatures on; the stream key derives from it
        "VOICECTL_TWILIO_API_BASE_URL": f"http://127.0.0.1:{rest_port}",
        "VOICECTL_DATABASE": str(tmp_path / "serve.db"),
    }
    srv = _serve(tmp_path, "workers", env, "--workers", "2", "--accept-sim-params")
    try:
        deadline = time.monotonic() + 60
        while srv.output().count("APP_START") < 2:
            assert time.monotonic() < deadline, srv.output()[-3000:]
            time.sleep(0.2)
        first = _pids(srv.output())
        assert sorted(first) == [1, 2] and srv.proc.pid not in first.values()

        out = tmp_path / "gather.json"
        gather = ROOT / "scenarios/dtmf-gather-fallback.yaml"
        proc = simulate_url(srv.media, gather, out, env, ROOT)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        assert "gather round trip" in proc.stdout and "VERDICT PASS" in proc.stdout

        os.kill(first[1], signal.SIGKILL)  # a worker dies: reported and restarted
        deadline = time.monotonic() + 60
        while srv.output().count("APP_START") < 3:
            assert time.monotonic() < deadline, srv.output()[-3000:]
            time.sleep(0.2)
        assert re.search(r"worker 1 \(pid \d+\) exited with signal 9.*restarting", srv.output())
        again = _pids(srv.output())
        assert again[1] != first[1] and again[2] == first[2]
        assert httpx.get(f"{srv.base}/healthz", timeout=5).status_code == 200
    finally:
        code = srv.stop()
    assert code == 0, srv.output()[-3000:]
    assert not any(_alive(p) for p in _pids(srv.output()).values())
    assert "all 2 workers stopped" in srv.output()


def test_bench_reads_cpu_and_memory_of_the_whole_process_tree() -> None:
    """`bench --load --workers N` sums /proc over the supervisor and its workers."""
    from voicectl.bench.server import descendants, proc_sample, tree_sample

    code = "import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', " \
        "'x = bytearray(50_000_000); import time; time.sleep(30)']); time.sleep(30)"  # fmt: skip
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 20
        while True:
            kids = descendants(parent.pid)
            child = proc_sample(kids[0]) if kids else None
            if child is not None and child.rss_bytes > 40_000_000:
                break
            assert time.monotonic() < deadline, kids
            time.sleep(0.1)
        own, tree = proc_sample(parent.pid), tree_sample(parent.pid)
        assert own is not None and tree is not None
        assert tree.rss_bytes >= own.rss_bytes + 40_000_000  # the child's 50 MB counted
        assert tree.peak_rss_bytes >= tree.rss_bytes and tree.cpu_s >= own.cpu_s
    finally:
        parent.kill()
        parent.wait()
        for pid in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_bench_reports_the_worst_workers_event_loop_lag() -> None:
    from voicectl.bench.server import worst_lag_p99_ms

    quiet = [(0.001, 0.0), (0.05, 0.0), (float("inf"), 0.0)]
    before = {11: quiet, 12: quiet}
    after = {
        11: [(0.001, 100.0), (0.05, 100.0), (float("inf"), 100.0)],  # all under 1 ms
        12: [(0.001, 0.0), (0.05, 100.0), (float("inf"), 100.0)],  # all 1-50 ms
    }
    worst = worst_lag_p99_ms(before, after)
    assert worst is not None and worst > 10  # worker 12's, not an average
    assert worst_lag_p99_ms({}, {}) is None


def test_without_the_token_table_voice_apologises_and_a_stream_is_refused(
    tmp_path: Path,
) -> None:
    """The token must be recorded to be usable: a database failure is an apology at
    `/voice` and a refused `start`, never an unhandled error."""
    import xml.etree.ElementTree as ET

    from sqlalchemy import text

    from voicectl.config import Settings
    from voicectl.sim.runner import InProcessServer

    with InProcessServer(Settings(database=str(tmp_path / "t.db")), simulation=False) as srv:
        _, params = _answered_by(srv.http_base, "CAdbgone01")
        with srv.runtime.db.engine.begin() as conn:
            conn.execute(text("DROP TABLE stream_tokens"))
        r = voice(srv.http_base, "CAdbgone02")
        assert r.status_code == 200 and ET.fromstring(r.text).find("./Hangup") is not None
        media = srv.http_base.replace("http://", "ws://") + "/media"
        assert not asyncio.run(_opens(media, "CAdbgone01", params))
        assert not srv.runtime.active
