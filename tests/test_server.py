"""The server over real sockets: webhooks, signatures, and the Media Streams WebSocket
surviving bad input (issue: "Bad input"), on uvicorn bound to loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import websockets
from helpers import ServeProcess, eventually
from twilio.request_validator import RequestValidator

from voicectl.call.session import CallSession
from voicectl.config import Settings
from voicectl.sim.runner import InProcessServer
from voicectl.telephony.twilio import bridge, media_socket
from voicectl.telephony.twilio import server as server_config
from voicectl.telephony.twilio.media_socket import MediaSocketProtocol
from voicectl.telephony.twilio.security import MAX_PARAM_CHARS

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "test-auth-token"


#: Which WebSocket protocol each `server` fixture instance runs.
LANES: dict[InProcessServer, str] = {}


@pytest.fixture(scope="module", params=["direct", "asgi"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    """The server as `serve` runs it ("direct": the Media Streams direct lane), and the
    same app on uvicorn's stock WebSocket protocol ("asgi": what any other ASGI server
    gives it), so both ways of feeding a stream meet the same tests."""
    db = tmp_path_factory.mktemp("srv") / "server.db"
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "asgi":
            mp.setattr(server_config, "MediaSocketProtocol", "websockets-sansio")
        with InProcessServer(Settings(database=str(db))) as srv:
            LANES[srv] = request.param
            yield srv


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    db = tmp_path_factory.mktemp("signed") / "server.db"
    with InProcessServer(Settings(database=str(db), twilio_auth_token=TOKEN)) as srv:
        yield srv


def _voice(base: str, call_sid: str, sign: str | None = None, **extra: str) -> httpx.Response:
    form = {"CallSid": call_sid, "From": "+972501234567", "To": "+97233000000", **extra}
    headers = {}
    if sign:
        headers["X-Twilio-Signature"] = RequestValidator(sign).compute_signature(
            f"{base}/voice", form
        )
    return httpx.post(f"{base}/voice", data=form, headers=headers)


def _stream(twiml: str) -> tuple[str, dict[str, str]]:
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None
    return stream.get("url", ""), {p.get("name", ""): p.get("value", "") for p in stream}


def test_voice_answers_connect_stream_with_parameters(server: InProcessServer) -> None:
    r = _voice(server.http_base, "CAvoice1")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    url, params = _stream(r.text)
    assert url.startswith("ws://127.0.0.1:") and url.endswith("/media")
    assert params["caller"] == "+972501234567" and params["business"] == "demo-spa"
    assert len(params["token"]) == 64 and len(params["nonce"]) == 32
    # Twilio's limit on a <Stream>'s parameters: ~500 characters of names and values.
    assert sum(len(k) + len(v) for k, v in params.items()) <= MAX_PARAM_CHARS < 500


def test_health_and_metrics(server: InProcessServer) -> None:
    assert httpx.get(f"{server.http_base}/healthz").json()["status"] == "ok"
    metrics = httpx.get(f"{server.http_base}/metrics").text
    assert "voicectl_active_calls" in metrics


def test_status_callback_and_gather_result_for_unknown_calls(server: InProcessServer) -> None:
    base = server.http_base
    r = httpx.post(f"{base}/webhook/status", data={"CallSid": "CAx", "CallStatus": "completed"})
    assert r.status_code == 404  # a call this server never answered
    _voice(base, "CAx")
    r = httpx.post(f"{base}/webhook/status", data={"CallSid": "CAx", "CallStatus": "completed"})
    assert r.status_code == 204
    # Deny by default: a Gather result for a call this server never streamed changes nothing.
    r = httpx.post(f"{base}/webhook/dtmf_done", data={"CallSid": "CAg", "Digits": "0501234567"})
    assert r.status_code == 404


def test_signatures_are_enforced_when_a_token_is_configured(signed_server: InProcessServer) -> None:
    base = signed_server.http_base
    assert _voice(base, "CAs1").status_code == 403
    assert _voice(base, "CAs1", sign="wrong-token").status_code == 403
    assert _voice(base, "CAs1", sign=TOKEN).status_code == 200


async def _call_with_garbage(base: str) -> tuple[list[dict], dict]:
    call_sid = "CAgarbage0001"
    url, params = _stream(_voice(base, call_sid).text)
    received: list[dict] = []
    async with websockets.connect(url) as ws:
        sid = "MZgarbage"
        media = {
            "event": "media",
            "streamSid": sid,
            "media": {
                "track": "inbound",
                "chunk": "1",
                "timestamp": "0",
                "payload": base64.b64encode(b"\xff" * 160).decode(),
            },
        }
        await ws.send(json.dumps(media))  # media before start
        await ws.send("this is not json")
        await ws.send(b"\x00binary")
        await ws.send(json.dumps({"event": "bogus", "streamSid": sid}))
        await ws.send(json.dumps({"event": "start", "start": 5}))
        await ws.send(json.dumps({"event": "stop", "stop": "x"}))
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(
            json.dumps(
                {
                    "event": "start",
                    "sequenceNumber": "1",
                    "streamSid": sid,
                    "start": {
                        "streamSid": sid,
                        "callSid": call_sid,
                        "accountSid": "AC1",
                        "tracks": ["inbound"],
                        "mediaFormat": {
                            "encoding": "audio/x-mulaw",
                            "sampleRate": 8000,
                            "channels": 1,
                        },
                        "customParameters": params,
                    },
                }
            )
        )
        bad = dict(media, media=dict(media["media"], payload="%%%"))
        await ws.send(json.dumps(bad))
        short = base64.b64encode(b"\xff" * 100).decode()
        await ws.send(json.dumps(dict(media, media=dict(media["media"], payload=short))))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            received.append(msg)
            if msg["event"] == "mark":  # the greeting was sent in full
                await ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": msg["mark"]}))
                break
        await ws.send(
            json.dumps(
                {
                    "event": "stop",
                    "streamSid": sid,
                    "stop": {"accountSid": "AC1", "callSid": call_sid},
                }
            )
        )
    for _ in range(50):
        rec = httpx.get(f"{base}/calls/{call_sid}").json()
        if rec.get("status") == "completed":
            return received, rec
        await asyncio.sleep(0.1)
    return received, rec


def test_bad_messages_are_ignored_and_the_call_goes_on(
    server: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lanes: list[object] = []
    attach = MediaSocketProtocol.attach
    monkeypatch.setattr(
        MediaSocketProtocol, "attach", lambda self, sink: lanes.append(self) or attach(self, sink)
    )
    received, rec = asyncio.run(_call_with_garbage(server.http_base))
    # The stream ran on the lane the server was built with (the messages sent before the
    # start, and between the start and the call's opening, were still handled in order).
    assert len(lanes) == (1 if LANES[server] == "direct" else 0)
    media = [m for m in received if m["event"] == "media"]
    assert media, "the greeting was never sent"
    assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media)
    assert all(m["streamSid"] == "MZgarbage" for m in received)
    assert received[-1]["event"] == "mark"
    assert rec["status"] == "completed"  # stop ended the call and the record was saved
    assert rec["turns"][0]["kind"] == "greeting" and rec["turns"][0]["bot_text"]


async def _saved_record(base: str, call_sid: str) -> dict:
    """The call's record once it is saved as completed (or as it is after 5 s)."""
    for _ in range(50):
        rec = httpx.get(f"{base}/calls/{call_sid}").json()
        if rec.get("status") == "completed":
            break
        await asyncio.sleep(0.1)
    return rec


async def _call_with_failing_dtmf(base: str, call_sid: str, presses: int) -> dict:
    """A call whose `presses` DTMF messages each fail inside the session; then the
    greeting's mark is echoed and Twilio's `stop` ends it. Returns the saved record."""
    url, params = _stream(_voice(base, call_sid).text)
    sid = "MZ" + call_sid
    async with websockets.connect(url) as ws:
        start = {"streamSid": sid, "callSid": call_sid, "customParameters": params}
        await ws.send(json.dumps({"event": "start", "streamSid": sid, "start": start}))
        for _ in range(presses):
            dtmf = {
                "event": "dtmf",
                "streamSid": sid,
                "dtmf": {"track": "inbound_track", "digit": "5"},
            }
            await ws.send(json.dumps(dtmf))
        while (msg := json.loads(await asyncio.wait_for(ws.recv(), 10)))["event"] != "mark":
            pass  # the greeting's audio, until its mark: the call went on after the failures
        await ws.send(json.dumps({"event": "mark", "streamSid": sid, "mark": msg["mark"]}))
        await ws.send(
            json.dumps({"event": "stop", "streamSid": sid, "stop": {"callSid": call_sid}})
        )
    return await _saved_record(base, call_sid)


def test_a_message_that_fails_in_the_call_is_logged_once_and_the_call_goes_on(
    server: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_dtmf(self: CallSession, digit: str) -> list:
        raise RuntimeError("boom")

    warned: list[str] = []
    warn = bridge._ConnectionLog.warn
    monkeypatch.setattr(CallSession, "dtmf", failing_dtmf)
    monkeypatch.setattr(
        bridge._ConnectionLog,
        "warn",
        lambda self, kind, detail: warned.append(kind) or warn(self, kind, detail),
    )
    tracebacks: list[str] = []
    monkeypatch.setattr(media_socket._log, "exception", lambda msg, *a, **k: tracebacks.append(msg))
    call_sid = f"CAfail{LANES[server]}"
    rec = asyncio.run(_call_with_failing_dtmf(server.http_base, call_sid, presses=5))
    # Every failure went to the connection's rate-limited log (one line, the rest counted),
    # none to a traceback per message, and none ended the call: Twilio's stop did.
    assert warned == ["failed"] * 5 and tracebacks == []
    assert rec["status"] == "completed"
    assert "INFO stream ended: caller hung up (stop)" in rec["log"], rec["log"]


async def _call_that_stops_reading(base: str, call_sid: str, depths: list[int]) -> dict:
    """A call whose peer reads nothing after the `start` (small socket buffers on both
    ends, so the server's own write buffer is what fills), until the server reports a
    send-queue depth above 50; then `stop`, reading everything to the end. Returns the
    saved record."""
    url, params = _stream(_voice(base, call_sid).text)
    sid = "MZ" + call_sid
    host, port = urlsplit(url).hostname, urlsplit(url).port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.setblocking(False)
    async with websockets.connect(url, sock=sock, max_queue=1) as ws:
        start = {"streamSid": sid, "callSid": call_sid, "customParameters": params}
        await ws.send(json.dumps({"event": "start", "streamSid": sid, "start": start}))
        # Not a timed assertion: the bound only keeps a wrong server from hanging the test.
        assert await asyncio.to_thread(eventually, lambda: max(depths, default=0) > 50, 30)
        await ws.send(
            json.dumps({"event": "stop", "streamSid": sid, "stop": {"callSid": call_sid}})
        )
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
    return await _saved_record(base, call_sid)


def test_a_peer_that_stops_reading_makes_the_send_queue_depth_grow(
    server: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the direct lane QUEUE_MAX_DEPTH is the outbound backlog - the socket's write
    buffer, in messages - not how many messages went out in one write (at most the
    50 of `send_queue_max_frames`)."""
    if LANES[server] != "direct":
        pytest.skip("the ASGI lane's depth is its send queue's, bounded at 50 messages")
    made = MediaSocketProtocol.connection_made

    def small_send_buffer(self: MediaSocketProtocol, transport: asyncio.Transport) -> None:
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        made(self, transport)

    depths: list[int] = []
    queue_depth = CallSession.queue_depth
    monkeypatch.setattr(MediaSocketProtocol, "connection_made", small_send_buffer)
    monkeypatch.setattr(
        CallSession, "queue_depth", lambda self, n: depths.append(n) or queue_depth(self, n)
    )
    rec = asyncio.run(_call_that_stops_reading(server.http_base, f"CAslow{LANES[server]}", depths))
    assert rec["status"] == "completed"
    assert rec["metrics"]["QUEUE_MAX_DEPTH"] > 50, rec["metrics"]


def test_a_stream_without_the_calls_token_is_refused(server: InProcessServer) -> None:
    async def go() -> None:
        async with websockets.connect(server.http_base.replace("http", "ws") + "/media") as ws:
            sid = "MZnotoken"
            await ws.send(
                json.dumps(
                    {
                        "event": "start",
                        "streamSid": sid,
                        "start": {"streamSid": sid, "callSid": "CAnotoken", "customParameters": {}},
                    }
                )
            )
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)

    asyncio.run(go())


def test_serve_starts_once_and_names_its_providers(tmp_path: Path) -> None:
    env = {"VOICECTL_DATABASE": str(tmp_path / "serve.db")}
    with ServeProcess(tmp_path, "--host", "127.0.0.1", env=env) as srv:
        srv.wait_healthy()
        r = _voice(srv.base, "CAserve1")
        assert r.status_code == 200
    out = srv.output()
    assert out.count("APP_START") == 1, out
    line = next(x for x in out.splitlines() if "providers:" in x)
    assert "providers: agent=offline stt=none tts=espeak vad=webrtc" in line
    assert "WARNING" in line and "real callers cannot be understood" in line
    assert "TTS prewarm took" in out
