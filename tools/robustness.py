"""Robustness figures for docs/benchmarks.md ("robustness", issue 6): each subcommand
starts a real `voicectl serve` on loopback, drives it like a hostile or crashing world,
and prints what happened.

    python tools/robustness.py fuzz   --calls 20 --frames 1000   # fuzzed frames, calls kept
    python tools/robustness.py soak   --calls 1000               # RSS before/after
    python tools/robustness.py dblock --hold 2                   # audio gap under a DB lock
    python tools/robustness.py kill9  --calls 8                  # what a kill -9 leaves

Run them under the shared lock (`flock /work/wt/heavy.lock python tools/robustness.py ...`):
they are real-time and CPU-sensitive. Ports come from the OS unless `--port` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicectl.audio.wav import read_wav_8k  # noqa: E402
from voicectl.sim.emulator import prepare_utterance  # noqa: E402
from voicectl.sim.fuzz import random_frames  # noqa: E402
from voicectl.sim.playback import PlaybackBuffer  # noqa: E402
from voicectl.speech.stt.script import SCRIPT_PARAM, ScriptLine, encode_script  # noqa: E402

SAY = "תקבע לי מחר ב-12 שוודי, השם דני"
ADMIN = "bench-admin"
SILENCE = b"\xff" * 160


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(db: Path, port: int | None = None, *extra: str):  # type: ignore[no-untyped-def]
    """A `voicectl serve --accept-sim-params` subprocess; yields (base_url, Popen)."""
    port = port or _free_port()
    env = {**os.environ, "VOICECTL_DATABASE": str(db), "VOICECTL_ADMIN_TOKEN": ADMIN}
    env["VOICECTL_MAX_CONCURRENT_CALLS"] = "200"
    # The server's log goes to a file, kept for reading after the run. (An undrained pipe
    # once blocked the server's event loop inside logging; logs.py now writes from a
    # thread of its own, tests/test_logging.py.)
    log = (db.parent / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicectl", "serve", "--port", str(port), "--accept-sim-params"]
        + list(extra),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=db.parent,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("serve did not start")
    try:
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` (MB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Call:
    """One call: POST /voice, then the Media Streams WebSocket (async)."""

    def __init__(self, base: str, call_sid: str, script: list[ScriptLine] | None = None):
        self.base, self.call_sid = base, call_sid
        self.stream_sid = "MZ" + call_sid[2:]
        r = httpx.post(
            f"{base}/voice",
            data={"CallSid": call_sid, "From": "+972501234567", "To": "+97233000000"},
            timeout=30,
        )
        stream = ET.fromstring(r.text).find("./Connect/Stream")
        if stream is None:
            raise RuntimeError(f"/voice did not connect a stream: {r.text[:200]}")
        self.url = stream.get("url", "")
        self.params = {p.get("name", ""): p.get("value", "") for p in stream}
        if script:
            self.params[SCRIPT_PARAM] = encode_script(script)
        self.ws: Any = None
        self.marks: list[str] = []
        self.media_at: list[float] = []
        self.playback = PlaybackBuffer()  # what the caller hears (Twilio's buffer model)
        self.ts = 0
        self._reader: asyncio.Task[Any] | None = None

    async def open(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=2**24)
        start = {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": self.stream_sid,
            "start": {
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "accountSid": "AC1",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": self.params,
            },
        }
        await self.ws.send(json.dumps(start))
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg["event"] == "media":
                    now = time.perf_counter()
                    self.media_at.append(now)
                    self.playback.audio(b"", now)
                elif msg["event"] == "mark":
                    self.playback.mark(msg["mark"]["name"], time.perf_counter())
                    self.marks.append(msg["mark"]["name"])
                    echo = {"event": "mark", "streamSid": self.stream_sid, "mark": msg["mark"]}
                    await self.ws.send(json.dumps(echo))
        except websockets.ConnectionClosed:
            pass

    @property
    def open_(self) -> bool:
        return self.ws is not None and self._reader is not None and not self._reader.done()

    async def wait_marks(self, n: int, timeout_s: float = 60) -> bool:
        deadline = time.monotonic() + timeout_s
        while len(self.marks) < n and time.monotonic() < deadline and self.open_:
            await asyncio.sleep(0.02)
        return len(self.marks) >= n

    async def media(self, frame: bytes, paced: bool = True) -> None:
        payload = base64.b64encode(frame).decode()
        msg = {
            "event": "media",
            "streamSid": self.stream_sid,
            "media": {
                "track": "inbound",
                "chunk": "1",
                "timestamp": str(self.ts),
                "payload": payload,
            },
        }
        await self.ws.send(json.dumps(msg))
        self.ts += 20
        if paced:
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        stop = {"accountSid": "AC1", "callSid": self.call_sid}
        try:
            await self.ws.send(
                json.dumps({"event": "stop", "streamSid": self.stream_sid, "stop": stop})
            )
            await self.ws.close()
        except websockets.ConnectionClosed:
            pass


def record(base: str, call_sid: str) -> dict[str, Any]:
    r = httpx.get(f"{base}/calls/{call_sid}", headers={"Authorization": f"Bearer {ADMIN}"})
    return r.json() if r.status_code == 200 else {}


def _utterance() -> tuple[list[bytes], ScriptLine]:
    u = prepare_utterance(read_wav_8k(ROOT / "fixtures/audio/book_tomorrow_noon.wav"))
    return u.frames, ScriptLine(SAY, (u.last_voiced - u.first_voiced + 1) * 20)


# ---------------------------------------------------------------------------- fuzz
async def _fuzz_call(base: str, i: int, frames_per_call: int, utter: Any) -> dict[str, Any]:
    frames, line = utter
    call = Call(base, f"CAfuzz{i:026d}", [line] * 10)
    await call.open()
    ok_greeting = await call.wait_marks(1)
    for frame in random_frames(call.call_sid, call.stream_sid, frames_per_call, seed=i):
        await call.ws.send(frame)
    before = len(call.marks)
    for frame in frames + [SILENCE] * 40:
        await call.media(frame)
    answered = await call.wait_marks(before + 1)
    alive = call.open_
    await call.stop()
    return {"greeting": ok_greeting, "answered": answered, "alive": alive}


def cmd_fuzz(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="vc-fuzz-") as tmp,
        serve(Path(tmp) / "f.db") as (
            base,
            _proc,
        ),
    ):
        utter = _utterance()

        async def go() -> list[dict[str, Any]]:
            sem = asyncio.Semaphore(args.concurrency)

            async def one(i: int) -> dict[str, Any]:
                async with sem:
                    return await _fuzz_call(base, i, args.frames, utter)

            return await asyncio.gather(*(one(i) for i in range(args.calls)))

        t0 = time.monotonic()
        results = asyncio.run(go())
        hooks = _fuzz_webhooks(base, args.webhooks)
        dropped = sum(1 for r in results if not (r["alive"] and r["answered"]))
        print(f"calls: {args.calls}, fuzzed frames sent: {args.calls * args.frames}")
        print(f"calls dropped or deaf after fuzzing: {dropped}")
        print(f"webhooks sent: {hooks['sent']}, 5xx answers: {hooks['5xx']}")
        print(f"server still healthy: {httpx.get(f'{base}/healthz').status_code == 200}")
        print(f"wall time: {time.monotonic() - t0:.0f} s")


def _fuzz_webhooks(base: str, n: int) -> dict[str, int]:
    import random

    rng = random.Random(7)
    fields = ["CallSid", "From", "To", "Digits", "CallStatus", "AccountSid", "X"]
    values = ["", "x" * 70_000, "1e999", "CA" + "9" * 5000, "%00", "&&", "\u05d0" * 300, "CAfuzz1"]
    out = {"sent": 0, "5xx": 0}
    with httpx.Client(timeout=30) as client:
        for _ in range(n):
            path = rng.choice(["/voice", "/webhook/status", "/webhook/dtmf_done"])
            data = {rng.choice(fields): rng.choice(values) for _ in range(rng.randrange(1, 5))}
            r = client.post(f"{base}{path}", data=data)
            out["sent"] += 1
            out["5xx"] += r.status_code >= 500
    return out


# ---------------------------------------------------------------------------- soak
async def _short_call(base: str, i: int, hostile: bool) -> None:
    call = Call(base, f"CAsoak{i:026d}")
    await call.open()
    for _ in range(5):
        await call.media(SILENCE, paced=False)
    if hostile:  # the probe's memory findings: 1 MB field values and event names
        await call.ws.send(json.dumps({"event": "E" * 1_000_000, "streamSid": call.stream_sid}))
        httpx.post(f"{base}/voice", data={"CallSid": f"CAbig{i:027d}", "From": "x" * 1_000_000})
    await call.stop()


def cmd_soak(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="vc-soak-") as tmp,
        serve(Path(tmp) / "s.db") as (
            base,
            proc,
        ),
    ):

        async def batch(first: int, n: int) -> None:
            sem = asyncio.Semaphore(args.concurrency)

            async def one(i: int) -> None:
                async with sem:
                    await _short_call(base, i, hostile=i % 10 == 0)

            await asyncio.gather(*(one(i) for i in range(first, first + n)))

        asyncio.run(batch(0, args.warmup))
        time.sleep(2)
        before = rss_mb(proc.pid)
        t0 = time.monotonic()
        step = args.every or args.calls
        for first in range(0, args.calls, step):
            n = min(step, args.calls - first)
            asyncio.run(batch(args.warmup + first, n))
            if first + n < args.calls:
                print(f"  after {first + n} calls: RSS {rss_mb(proc.pid):.1f} MB", flush=True)
        time.sleep(5)  # let the last calls end and their records be written
        after = rss_mb(proc.pid)
        active = httpx.get(f"{base}/healthz").json()["active_calls"]
        print(f"calls: {args.calls} (+{args.warmup} warm-up), every 10th with a 1 MB event")
        print("name and a 1 MB /voice field")
        print(
            f"RSS before: {before:.1f} MB, after: {after:.1f} MB, growth {after / before - 1:+.1%}"
        )
        print(f"active calls after: {active}; wall time {time.monotonic() - t0:.0f} s")


# ---------------------------------------------------------------------------- dblock
def cmd_dblock(args: argparse.Namespace) -> None:
    """Call A plays its greeting; meanwhile call B starts (its record must be written)
    - once with the database free, once while another process holds SQLite's write lock.
    The largest gap between A's audio frames is the figure (frames come every 20 ms)."""
    with tempfile.TemporaryDirectory(prefix="vc-lock-") as tmp:
        db = Path(tmp) / "l.db"
        with serve(db) as (base, _proc):

            async def phase(
                tag: str, hold_s: float
            ) -> tuple[float, float, float, float, int, bool]:
                # Both phases start the same helper process before the window and make
                # call B the same way; only whether the helper takes the lock differs
                # (a fresh interpreter's start-up costs CPU on 2 cores: not the lock's).
                holder = subprocess.Popen(
                    [sys.executable, __file__, "_hold", str(db), str(hold_s), str(args.hold)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert holder.stdin is not None and holder.stdout is not None
                await asyncio.to_thread(holder.stdout.readline)  # "ready"
                a = await asyncio.to_thread(Call, base, f"CA{tag}A".ljust(34, "0"))
                await a.open()
                while not a.media_at:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.3)
                holder.stdin.write("go\n")
                holder.stdin.flush()
                await asyncio.to_thread(holder.stdout.readline)  # "locked" (or not, free)
                t_lock = time.perf_counter()
                # /voice over a thread: the measuring loop itself never blocks.
                b = await asyncio.to_thread(Call, base, f"CA{tag}B".ljust(34, "0"))
                await b.open()
                await asyncio.to_thread(holder.wait)
                t_free = time.perf_counter()
                await a.wait_marks(1)
                window = [t for t in a.media_at if t_lock - 0.2 <= t <= t_free + 0.2]
                gaps = [y - x for x, y in zip(window, window[1:], strict=False)]
                heard = sum(g.ms for g in a.playback.gaps if t_lock - 0.2 <= g.at <= t_free + 0.2)
                b_ok = await b.wait_marks(1, timeout_s=30)
                await a.stop()
                await b.stop()
                gaps.sort()
                p99 = gaps[int(len(gaps) * 0.99)] * 1000 if gaps else -1
                largest = max(gaps) * 1000 if gaps else -1
                return largest, p99, heard, t_free - t_lock, len(window), b_ok

            for tag, hold in (("free", 0.0), ("locked", args.hold)):
                gap, p99, heard, held, frames, b_ok = asyncio.run(phase(tag, hold))
                what = f"lock held {held:.2f} s by another process" if hold else "no lock"
                print(
                    f"{what}: call A got {frames} frames in the window, gap between frames "
                    f"p99 {p99:.0f} ms, largest {gap:.0f} ms; silence heard {heard:.0f} ms; "
                    f"call B greeted: {b_ok}"
                )
            rec_b = record(base, "CAlockedB".ljust(34, "0"))
            print(f"call B's record (started during the lock) saved: {bool(rec_b.get('turns'))}")


# ---------------------------------------------------------------------------- kill9
def cmd_kill9(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="vc-kill-") as tmp:
        db = Path(tmp) / "k.db"
        frames, line = _utterance()
        sids = [f"CAkill{i:026d}" for i in range(args.calls)]
        port = _free_port()
        with serve(db, port) as (base, proc):

            async def go() -> None:
                # One slot each (09:00, 10:00, ...): every call can book.
                calls = [
                    Call(base, sid, [ScriptLine(_booking(i), line.voiced_ms)])
                    for i, sid in enumerate(sids)
                ]
                for c in calls:
                    await c.open()
                await asyncio.gather(*(c.wait_marks(1) for c in calls))

                async def speak(c: Call) -> None:
                    heard = len(c.media_at)
                    for f in frames + [SILENCE] * 30:
                        await c.media(f)
                    deadline = time.monotonic() + 30
                    while len(c.media_at) == heard and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)  # until the reply starts to play

                await asyncio.gather(*(speak(c) for c in calls))
                await asyncio.sleep(1.0)  # replies are being spoken: turn 1 is in flight
                proc.send_signal(signal.SIGKILL)
                proc.wait()

            asyncio.run(go())
        con = sqlite3.connect(db)
        status = dict(con.execute("SELECT call_sid, status FROM calls").fetchall())
        print(f"after kill -9: {sum(s == 'in-progress' for s in status.values())} of "
              f"{len(sids)} calls in progress")  # fmt: skip
        con.close()
        with serve(db, port) as (base, _proc):
            recs = [record(base, sid) for sid in sids]
        con = sqlite3.connect(db)
        appts = con.execute("SELECT count(*) FROM appointments").fetchone()[0]
        created = con.execute("SELECT count(*) FROM events WHERE type='appointment.created'")
        ended = con.execute("SELECT count(*) FROM events WHERE type='call.ended'").fetchone()[0]
        n_created = created.fetchone()[0]
        con.close()
        interrupted = sum(r.get("status") == "interrupted" for r in recs)
        greeting = sum(bool(r.get("turns")) and bool(r["turns"][0]["bot_text"]) for r in recs)
        booked_turn = sum(
            any(t["kind"] == "speech" and t["bot_text"] for t in r.get("turns", [])) for r in recs
        )
        logs = sum(bool(r.get("log")) for r in recs)
        if args.verbose:
            for r in recs:
                print([(t["user_text"], t["bot_text"]) for t in r.get("turns", [])])
        n = len(sids)
        print(
            f"after restart: closed as interrupted {interrupted}/{n}, greeting turn saved "
            f"{greeting}/{n}, call log saved {logs}/{n}, speech turn saved {booked_turn}/{n}"
        )
        print(f"appointments {appts}/{n}, appointment.created events {n_created}/{n}, "
              f"call.ended events {ended}/{n}")  # fmt: skip


def _booking(i: int) -> str:
    """Call `i`'s request: a 60-minute Swedish massage tomorrow at 9+i o'clock (<= 11)."""
    return f"תקבע לי מחר ב-{9 + i % 11} שוודי, השם דני"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_hold":  # helper: hold the DB's write lock
        # argv: db, hold_s (0 = do not lock), window_s. Waits for "go" on stdin.
        con = sqlite3.connect(sys.argv[2], timeout=30, isolation_level=None)
        print("ready", flush=True)
        sys.stdin.readline()
        hold_s, window_s = float(sys.argv[3]), float(sys.argv[4])
        if hold_s:
            con.execute("BEGIN EXCLUSIVE")
        print("locked", flush=True)
        time.sleep(hold_s or window_s)
        if hold_s:
            con.execute("COMMIT")
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fuzz")
    f.add_argument("--calls", type=int, default=20)
    f.add_argument("--frames", type=int, default=1000)
    f.add_argument("--webhooks", type=int, default=2000)
    f.add_argument("--concurrency", type=int, default=5)
    s = sub.add_parser("soak")
    s.add_argument("--calls", type=int, default=1000)
    s.add_argument("--warmup", type=int, default=100)
    s.add_argument("--concurrency", type=int, default=10)
    s.add_argument("--every", type=int, default=0, help="print RSS every N calls")
    d = sub.add_parser("dblock")
    d.add_argument("--hold", type=float, default=2.0)
    k = sub.add_parser("kill9")
    k.add_argument("--calls", type=int, default=8)
    k.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    {"fuzz": cmd_fuzz, "soak": cmd_soak, "dblock": cmd_dblock, "kill9": cmd_kill9}[args.cmd](args)


if __name__ == "__main__":
    main()
