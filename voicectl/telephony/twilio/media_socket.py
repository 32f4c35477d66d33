"""`MediaSocketProtocol`: uvicorn's sans-I/O WebSocket protocol, with a direct lane for
Media Streams.

A call moves 50 messages a second each way. Through ASGI each inbound message is a dict
put on a queue, the socket paused until the app's task is woken to read it, and each
outbound one an awaited `send` through Starlette and uvicorn, fed by a sender task per
call. Here the `/media` handler, once its stream has started, takes the connection's
messages *in* `data_received` (a synchronous callback: no queue, no task wake-up, no
pause/resume), and the call's pacer writes each tick's frames with one
`transport.write`. Measured at 100 calls (docs/benchmarks.md "Issue 12: the GIL on
the frame path, and the direct lane"), this does not lower the process's CPU; what it
changes is when a frame is handled - as it arrives, not when a task gets its turn - and
V2V p95 and audio gaps were lower in most paired runs, on a box too noisy to call it
more than that.

Everything else stays uvicorn's and websockets': the handshake, the ASGI app and its
routes, ping/pong keepalive, the closing handshake, the 1009 size limit, invalid UTF-8
(1007), and every message before the switch. The app finds the lane in its scope:
`scope["extensions"][EXTENSION]` is the protocol; a server without it (any other ASGI
server) runs the same handler through plain ASGI `receive`/`send`.

Built on uvicorn's `WebSocketsSansIOProtocol` (uvicorn 0.54): it overrides
`handle_connect` (to publish the lane) and `send_receive_event_to_app` (to deliver
directly), and uses its `conn` (websockets' `ServerProtocol`), `transport`, `queue`,
`writable`, `close_sent` and `read_paused` - hence the pin to uvicorn 0.54.x in
pyproject.toml. tests/test_server.py runs its tests on both lanes, on real sockets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from voicectl.logs import get_logger

__all__ = ["EXTENSION", "MediaSocketProtocol"]

_log = get_logger("twilio")

#: The ASGI scope extension naming the protocol of a connection with a direct lane.
EXTENSION = "voicectl.direct"


class MediaSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol plus a direct lane (module docstring).

    The lane is opened by `attach(sink)`; from then on every complete text or binary
    message goes to `sink(data)` (str for text, bytes for binary) as it is parsed, and
    `write_texts` sends text messages without ASGI. A disconnect still reaches the app
    as ASGI `websocket.disconnect` through `receive()`.
    """

    _sink: Callable[[str | bytes], None] | None = None
    #: Bytes per message of the last `write_texts` (WebSocket framing included).
    _message_bytes: float = 0.0

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # accepted (a rejected handshake has no scope)
            scope["extensions"][EXTENSION] = self

    def attach(self, sink: Callable[[str | bytes], None]) -> list[Any]:
        """Deliver every later message to `sink` (called on the loop, in order).

        Returns the ASGI events already queued (messages that arrived before the switch,
        and possibly a `websocket.disconnect`), in order, for the caller to handle first;
        reading resumes if the queue had paused it. Messages queue again after `detach`.
        """
        self._sink = sink
        pending: list[Any] = []
        while not self.queue.empty():
            event = self.queue.get_nowait()
            if event["type"] == "websocket.disconnect":
                self.queue.put_nowait(event)  # still the app's to `receive()`
                break
            pending.append(event)
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        return pending

    def detach(self) -> None:
        """Stop the lane: later messages queue for `receive()` again."""
        self._sink = None

    def send_receive_event_to_app(self) -> None:
        sink = self._sink
        if sink is None:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return  # past our close: discard, as uvicorn does
        if self.curr_msg_data_type == "text":
            try:
                message: str | bytes = data.decode()
            except UnicodeDecodeError:  # as uvicorn: 1007 and close
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        else:
            message = bytes(data)
        try:
            sink(message)
        except Exception:  # the handler's own guard failed: never let it reach the socket
            _log.exception("media stream: message handler failed (message ignored)")

    # ------------------------------------------------------------------ sending
    @property
    def can_write(self) -> bool:
        """False once the socket is closing or our close went out, or while the
        transport's write buffer is above its high-water mark (`pause_writing`)."""
        return (
            self.writable.is_set()
            and not self.close_sent
            and not self.disconnected
            and not self.transport.is_closing()
        )

    def write_texts(self, texts: list[str]) -> None:
        """Send `texts` as text messages, in order, with one `transport.write`.

        Raises:
            ConnectionError: the connection is closing or closed (nothing is sent).
        """
        if self.close_sent or self.disconnected or self.transport.is_closing():
            raise ConnectionError("media socket closed")
        conn = self.conn
        for text in texts:
            conn.send_text(text.encode())
        data = b"".join(conn.data_to_send())
        if texts:
            self._message_bytes = len(data) / len(texts)
        self.transport.write(data)

    def backlog(self) -> int:
        """Messages written (`write_texts`) that the kernel has not taken yet: the
        transport's unsent bytes (`get_write_buffer_size()`) divided by the size of the
        messages last written (bytes per message, framing included), rounded up. 0 before
        the first write or once the transport is gone."""
        if self._message_bytes <= 0 or self.transport.is_closing():
            return 0
        return math.ceil(self.transport.get_write_buffer_size() / self._message_bytes)
