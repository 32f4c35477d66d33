"""A WebSocket client for the Twilio emulator: websockets' sans-I/O protocol on an asyncio
transport, with synchronous sends and a message callback.

The emulator plays Twilio, which writes a 20 ms frame per call 50 times a second and
reads the bot's frames as fast. Through `websockets.connect` every frame sent is a
coroutine (a lock and a send context) and every frame received wakes a reader task; in a
load-generator process running a hundred calls that was most of its CPU
(docs/benchmarks.md "Where the time per frame goes"). Here the same protocol code
(`websockets.client.ClientProtocol`: handshake, framing, masking, ping/pong, closing
handshake, `max_size`) runs inside the transport's own callbacks: `send_text` writes at
once, and each message received is handed to `on_message` from `data_received`, with no
task in between. No permessage-deflate is offered: Twilio documents no compression.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

__all__ = ["MediaSocket"]

#: How long the closing handshake may take before the TCP connection is dropped (s).
CLOSE_TIMEOUT_S = 2.0


class MediaSocket(asyncio.Protocol):
    """One client WebSocket connection; create it with `await MediaSocket.connect(...)`.

    Args:
        on_message: called on the loop thread with each complete message received (`str`
            for text frames, `bytes` for binary ones); it must not block.

    Attributes:
        closed: resolved (with None) when the TCP connection is gone, whoever closed it.
    """

    def __init__(self, protocol: ClientProtocol, on_message: Callable[[str | bytes], None]):
        loop = asyncio.get_running_loop()
        self._proto = protocol
        self._on_message = on_message
        self._transport: asyncio.Transport | None = None
        self._open: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._parts: list[bytes] = []
        self._part_kind: Opcode | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        on_message: Callable[[str | bytes], None],
        headers: dict[str, str] | None = None,
        max_size: int = 2**20,
        timeout_s: float = 10.0,
    ) -> MediaSocket:
        """Open `url` (``ws://`` or ``wss://``) and complete the opening handshake.

        Raises:
            OSError: the TCP (or TLS) connection failed.
            websockets.exceptions.InvalidHandshake: the server refused the upgrade (e.g.
                `InvalidStatus` for a 403) or answered something that is not one.
            TimeoutError: no handshake answer within `timeout_s`.
        """
        uri = parse_uri(url)
        proto = ClientProtocol(uri, max_size=max_size)
        loop = asyncio.get_running_loop()
        sock = cls(proto, on_message)
        await asyncio.wait_for(
            loop.create_connection(
                lambda: sock, uri.host, uri.port, ssl=True if uri.secure else None
            ),
            timeout_s,
        )
        request = proto.connect()
        for name, value in (headers or {}).items():
            request.headers[name] = value
        proto.send_request(request)
        sock._flush()
        try:
            await asyncio.wait_for(sock._open, timeout_s)
        except BaseException:
            sock.abort()
            raise
        return sock

    # ------------------------------------------------------------------ sending
    def send_text(self, text: str) -> bool:
        """Send one text message now; False (nothing sent) once the connection is closing."""
        if self._proto.state is not State.OPEN or self._transport is None:
            return False
        self._proto.send_text(text.encode())
        self._flush()
        return True

    async def close(self, code: int = 1000) -> None:
        """Closing handshake (bounded by `CLOSE_TIMEOUT_S`), then the TCP connection."""
        if self._proto.state is State.OPEN:
            self._proto.send_close(code)
            self._flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), CLOSE_TIMEOUT_S)
        self.abort()

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        if self._transport is not None:
            self._transport.close()

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for data in self._proto.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()  # the protocol's SEND_EOF: half-close
        if self._proto.close_expected() and self._close_timer is None:
            loop = asyncio.get_running_loop()
            self._close_timer = loop.call_later(CLOSE_TIMEOUT_S, transport.close)

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._proto.receive_data(data)
        for event in self._proto.events_received():
            if isinstance(event, Response):
                self._handshake_done()
            elif event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                self._frame(event.opcode, event.data, event.fin)
        if not self._open.done() and self._proto.handshake_exc is not None:
            self._open.set_exception(self._proto.handshake_exc)  # e.g. not HTTP at all
        self._flush()

    def eof_received(self) -> bool | None:
        self._proto.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._close_timer is not None:
            self._close_timer.cancel()
        if not self._open.done():
            why = self._proto.handshake_exc or exc
            self._open.set_exception(why or ConnectionError("connection closed in handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    # ------------------------------------------------------------------ receiving
    def _handshake_done(self) -> None:
        if self._open.done():
            return
        if self._proto.handshake_exc is not None:
            self._open.set_exception(self._proto.handshake_exc)
        elif self._proto.state is State.OPEN:
            self._open.set_result(None)
        else:
            self._open.set_exception(InvalidHandshake("handshake did not open the connection"))

    def _frame(self, opcode: Opcode, data: bytes, fin: bool) -> None:
        if opcode is not Opcode.CONT:
            self._part_kind, self._parts = opcode, []
        self._parts.append(bytes(data))
        if not fin:
            return
        payload = b"".join(self._parts) if len(self._parts) > 1 else self._parts[0]
        kind, self._parts, self._part_kind = self._part_kind, [], None
        if kind is Opcode.TEXT:
            try:
                message: str | bytes = payload.decode()
            except UnicodeDecodeError:
                self._proto.fail(1007, "invalid UTF-8")
                return
        else:
            message = payload
        self._on_message(message)
