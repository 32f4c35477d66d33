"""The loop's one 20 ms ticker (`voicectl.pacing`) and the emulator's client socket
(`voicectl.sim.wsclient`) against a real loopback WebSocket server."""

from __future__ import annotations

import asyncio
import logging

import pytest
import websockets
from websockets.asyncio.server import serve
from websockets.exceptions import InvalidStatus

from voicectl.pacing import FrameTicker
from voicectl.sim.wsclient import MediaSocket


async def _until(cond, limit: int = 500) -> None:
    """Let the loop run until `cond()` holds (bounded by a count of waits, not a time)."""
    for _ in range(limit):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


def test_one_ticker_per_loop_ticks_every_callback_in_the_order_added() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        ticker = FrameTicker.of(loop)
        assert FrameTicker.of(loop) is ticker
        order: list[str] = []
        ticker.add(lambda: order.append("a"))
        ticker.add(lambda: order.append("b"))
        await _until(lambda: len(order) >= 6)
        pairs = [order[i : i + 2] for i in range(0, len(order) - 1, 2)]
        assert all(p == ["a", "b"] for p in pairs), order

    asyncio.run(main())


def test_a_failing_callback_is_dropped_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        ticker = FrameTicker.of(asyncio.get_running_loop())
        good: list[int] = []
        calls = {"bad": 0}

        def bad() -> None:
            calls["bad"] += 1
            raise RuntimeError("boom")

        ticker.add(bad)
        ticker.add(lambda: good.append(1))
        await _until(lambda: len(good) >= 5)
        assert calls["bad"] == 1
        assert len(ticker) == 1

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())
    assert "no longer ticked" in caplog.text


def test_the_timer_stops_with_the_last_callback_and_restarts_with_a_new_one() -> None:
    async def main() -> None:
        ticker = FrameTicker.of(asyncio.get_running_loop())
        seen: list[str] = []

        def first() -> None:
            seen.append("first")

        ticker.add(first)
        await _until(lambda: len(seen) >= 2)
        ticker.remove(first)
        ticker.remove(first)  # idempotent
        assert len(ticker) == 0 and ticker._handle is None
        n = len(seen)
        for _ in range(5):
            await asyncio.sleep(0.02)
        assert len(seen) == n  # nothing ticks any more
        ticker.add(lambda: seen.append("second"))
        await _until(lambda: "second" in seen)

    asyncio.run(main())


def test_media_socket_sends_receives_and_sees_the_server_close() -> None:
    async def main() -> None:
        async def handler(ws: websockets.asyncio.server.ServerConnection) -> None:
            assert ws.request.headers.get("X-Twilio-Signature") == "sig"
            async for msg in ws:
                if msg == "bye":
                    await ws.close()
                    return
                await ws.send(f"echo:{msg}")
                await ws.send("x" * 70_000)  # more than one TCP read: reassembled

        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            got: list[str | bytes] = []
            sock = await MediaSocket.connect(
                f"ws://127.0.0.1:{port}/media", got.append, headers={"X-Twilio-Signature": "sig"}
            )
            assert sock.send_text("hello")
            await _until(lambda: len(got) >= 2)
            assert got[0] == "echo:hello" and got[1] == "x" * 70_000
            sock.send_text("bye")
            await asyncio.wait_for(sock.closed, 5)
            assert not sock.send_text("after close")  # dropped, no error

    asyncio.run(main())


def test_media_socket_reports_a_refused_upgrade() -> None:
    async def main() -> None:
        def refuse(conn, request):  # noqa: ANN001, ANN202 - websockets' hook signature
            return conn.respond(403, "no\n")

        async def handler(ws: websockets.asyncio.server.ServerConnection) -> None:
            await ws.close()

        async with serve(handler, "127.0.0.1", 0, process_request=refuse) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(InvalidStatus):
                await MediaSocket.connect(f"ws://127.0.0.1:{port}/media", lambda m: None)

    asyncio.run(main())


def test_media_socket_connection_refused_is_an_os_error() -> None:
    async def main() -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # bound, not listening: refused
            with pytest.raises(OSError):
                await MediaSocket.connect(f"ws://127.0.0.1:{port}/media", lambda m: None)

    asyncio.run(main())
