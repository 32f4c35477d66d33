"""The uvicorn server the bridge runs on, with limits for hostile clients (issue 6 item 4).

One configuration for `voicectl serve` (each of its `--workers`: they accept on one
inherited socket, `voicectl/supervisor.py`) and the in-process simulator's server:

- a client must finish its request head within `http_header_timeout_sec` (uvicorn has no
  such timeout: a half-sent request held its socket forever) - `HeaderTimeoutH11`;
- idle keep-alive connections close after `KEEP_ALIVE_S` (longer than a load balancer's
  usual 60 s idle timeout, so the proxy, not the app, closes idle connections);
- a request head may be at most `MAX_HEAD_BYTES` (h11's incomplete-event limit);
- a WebSocket message may be at most `WS_MAX_BYTES`: beyond it the WebSocket protocol
  closes the connection (1009). Below it, frames over 64 KB are ignored by the parser;
- at most `limit_concurrency` connections and tasks (503 beyond), kept under the
  process's open-files limit, which is raised to its hard maximum at start-up;
- WebSockets run on `media_socket.MediaSocketProtocol` (uvicorn's sans-I/O protocol with
  the Media Streams direct lane);
- asyncio's "socket.accept() out of system resource" error is logged at most once per
  `_RateLimit.PERIOD_S` instead of a traceback per attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from voicectl.config import Settings
from voicectl.logs import get_logger
from voicectl.telephony.twilio.media_socket import MediaSocketProtocol

_log = get_logger("server")

#: Idle keep-alive timeout (s).
KEEP_ALIVE_S = 75
#: Largest request head accepted (bytes).
MAX_HEAD_BYTES = 16 * 1024
#: Largest WebSocket message accepted before the connection is closed (bytes).
WS_MAX_BYTES = 2 * 1024 * 1024
#: File descriptors kept free of client connections (database, logs, TTS data, ...).
FD_RESERVE = 64


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head does not arrive
    within `timeout_s` of the connection (or of the previous response)."""

    timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        armed_cycle = self.cycle
        self.loop.call_later(self.timeout_s, self._head_timeout, armed_cycle)

    def _head_timeout(self, armed_cycle: Any) -> None:
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:
            return  # closed, or upgraded to a WebSocket
        if self.cycle is armed_cycle and (self.cycle is None or self.cycle.response_complete):
            transport.close()  # no new request head since the timer was armed


class _RateLimit(logging.Filter):
    """Let one record per message text through per `PERIOD_S`; count the rest."""

    PERIOD_S = 10.0
    MAX_KEYS = 32

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)[:80]
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.PERIOD_S:
            self.suppressed += 1
            return False
        if len(self._last) >= self.MAX_KEYS:
            self._last.clear()
        self._last[key] = now
        if record.exc_info and "out of system resource" in key:
            record.exc_info = None  # the message says it all; no traceback per attempt
            record.msg = f"{record.msg} (too many open files; further ones rate-limited)"
        return True


_filter = _RateLimit()


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit in force."""
    try:
        import resource
    except ImportError:  # not POSIX
        return 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def uvicorn_config(
    app: Any, settings: Settings, host: str, port: int, log_level: str = "info"
) -> Any:
    """The `uvicorn.Config` for the bridge (see the module docstring for each limit)."""
    import uvicorn

    for name in ("asyncio", "uvicorn.error"):
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
    limit = connection_limit(settings)
    protocol = type(
        "BridgeH11", (HeaderTimeoutH11,), {"timeout_s": settings.http_header_timeout_sec}
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        reload=False,
        lifespan="on",
        log_level=log_level,
        log_config=None,  # logs.setup_logging routes uvicorn's loggers (non-blocking)
        http=protocol,
        # uvicorn's websockets-sansio protocol with the Media Streams direct lane.
        ws=MediaSocketProtocol,
        ws_max_size=WS_MAX_BYTES,
        # Twilio does not compress Media Streams; a client that offers permessage-deflate
        # would cost ~300 KB of zlib state per call and a compression per frame.
        ws_per_message_deflate=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        limit_concurrency=limit,
        backlog=listen_backlog(settings),
    )


def connection_limit(settings: Settings) -> int:
    """Connections and tasks one server process takes at once (`max_connections`, kept
    under the open-files limit, which this raises to its hard maximum)."""
    return max(16, min(settings.max_connections, raise_open_files_limit() - FD_RESERVE))


def listen_backlog(settings: Settings) -> int:
    """The listening socket's backlog (`serve --workers` binds it before the workers)."""
    return min(2048, connection_limit(settings))
