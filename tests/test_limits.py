"""Timeouts and limits against hostile clients (issue 6 items 3 and 4): slow HTTP heads,
WebSockets that never `start`, oversized heads, log floods, the open-files limit."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from media_client import RawCall

from voicectl.config import Settings
from voicectl.sim.runner import InProcessServer
from voicectl.telephony.twilio.server import _RateLimit


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    db = tmp_path_factory.mktemp("limits") / "l.db"
    settings = Settings(database=str(db), http_header_timeout_sec=1, stream_start_timeout_sec=1)
    with InProcessServer(settings) as srv:
        yield srv


def _addr(srv: InProcessServer) -> tuple[str, int]:
    host, port = srv.http_base.removeprefix("http://").split(":")
    return host, int(port)


def _closed_by_server(sock: socket.socket, wait_s: float = 30.0) -> bool:
    sock.settimeout(wait_s)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_half_sent_request_head_is_closed(strict: InProcessServer) -> None:
    with socket.create_connection(_addr(strict)) as sock:
        sock.sendall(b"POST /voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-")
        assert _closed_by_server(sock)


def test_a_silent_connection_is_closed(strict: InProcessServer) -> None:
    with socket.create_connection(_addr(strict)) as sock:
        assert _closed_by_server(sock)


def test_a_growing_request_head_is_refused(strict: InProcessServer) -> None:
    """A head that keeps growing past 16 KB without ending is cut off (h11's limit on an
    incomplete event), not buffered without bound."""
    with socket.create_connection(_addr(strict)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(30)
        try:
            for _ in range(50):
                sock.sendall(b"X-Big: " + b"a" * 2000 + b"\r\n")
            head = sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            head = b"HTTP/1.1 4xx (reset)"
    assert head.startswith(b"HTTP/1.1 4")


def test_a_websocket_that_never_starts_is_closed(strict: InProcessServer) -> None:
    async def go() -> None:
        url = strict.http_base.replace("http", "ws") + "/media"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call"}))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 30)

    asyncio.run(go())


def test_media_streams_are_not_compressed_even_when_a_client_offers_it(
    strict: InProcessServer,
) -> None:
    """Twilio sends no permessage-deflate; accepting a client's offer would cost each call
    ~300 KB of zlib state and a compression of every outbound frame."""

    async def go() -> str | None:
        url = strict.http_base.replace("http", "ws") + "/media"
        async with websockets.connect(url, compression="deflate") as ws:
            return ws.response.headers.get("Sec-WebSocket-Extensions")

    assert asyncio.run(go()) is None


def test_a_flood_of_distinct_bad_messages_logs_a_bounded_amount(
    strict: InProcessServer, caplog: pytest.LogCaptureFixture
) -> None:
    """200 unknown events with distinct 50 KB names used to log 10 MB and keep every
    name in the "log each kind once" set (issue 6 item 3)."""

    async def go() -> None:
        async with RawCall(strict.http_base, "CAflood0001") as call:
            await call.until_mark()
            for i in range(200):
                name = f"{i:04d}" + "E" * 50_000
                await call.ws.send(json.dumps({"event": name, "streamSid": call.stream_sid}))
            await call.silence(5)
            await call.stop()

    def twilio_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("voicectl.twilio")]

    with caplog.at_level(logging.WARNING, logger="voicectl"):
        asyncio.run(go())
        for _ in range(100):  # the summary is logged as the server closes the stream
            if any("ignored in all" in line for line in twilio_lines()):
                break
            time.sleep(0.1)
    lines = twilio_lines()
    assert lines, "the bad messages were not logged at all"
    assert sum(len(line) for line in lines) < 5_000
    assert any("200 bad message(s) ignored" in line for line in lines)


def test_accept_errors_at_the_open_files_limit_are_rate_limited() -> None:
    f = _RateLimit()
    try:
        raise OSError(24, "Too many open files")
    except OSError:
        exc = sys.exc_info()
    passed = []
    for _ in range(1000):
        rec = logging.LogRecord(
            "asyncio", logging.ERROR, __file__, 1, "socket.accept() out of system resource",
            None, exc,
        )  # fmt: skip
        if f.filter(rec):
            passed.append(rec)
    assert len(passed) == 1 and passed[0].exc_info is None
    assert f.suppressed == 999


def test_beyond_max_connections_requests_get_503_at_once(tmp_path: Path) -> None:
    """Connections are capped below the open-files limit (`max_connections`): with the
    cap taken by idle clients a new request gets an immediate 503 - not a hang at
    "Too many open files" - and the server recovers when they leave."""
    import httpx

    settings = Settings(database=str(tmp_path / "fd.db"), max_connections=40)
    with InProcessServer(settings) as srv:
        idle = [socket.create_connection(_addr(srv)) for _ in range(60)]
        try:
            r = httpx.get(f"{srv.http_base}/healthz", timeout=30)
            assert r.status_code == 503
        finally:
            for s in idle:
                s.close()
        assert httpx.get(f"{srv.http_base}/healthz", timeout=30).status_code == 200
