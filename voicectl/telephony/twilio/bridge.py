"""The Media Streams WebSocket handler: Twilio frames in, `CallSession` events; actions out.

No input ends a call (issue 6): every frame goes through the defensive parser
(`messages.parse_inbound`); a frame it rejects - binary, oversized, too deep, not JSON,
an unknown event, mistyped fields, a bad payload - is logged (first of each kind,
clipped, at most `_ConnectionLog.MAX_LINES` lines per connection) and ignored. Media
timestamps are checked against the stream's own progress. A socket that sends no `start`
within `stream_start_timeout_sec` is closed. A `start` must carry the signed parameters
issued for its CallSid (by `/voice`, or by the `<Gather>` action that resumes the call;
`security.StreamGrant`) - checked here, in whichever process takes the stream - and
their nonce is accepted once, by the database; a second stream for a call live in any
process is refused (`store/streams.py`). `stop` or a dropped connection ends the session
cleanly and the call's record is saved.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocket, WebSocketDisconnect

from voicectl import executors
from voicectl.booking.phone import usable_phone
from voicectl.call.compose import CallSpec, open_call
from voicectl.call.runner import CallRunner
from voicectl.logs import clip, get_logger
from voicectl.runtime import Runtime, split_params
from voicectl.store import records, streams
from voicectl.telephony.twilio import messages as m
from voicectl.telephony.twilio import twiml
from voicectl.telephony.twilio.media_socket import EXTENSION, MediaSocketProtocol
from voicectl.telephony.twilio.rest import TwilioRest
from voicectl.telephony.twilio.security import (
    StreamGrant,
    public_url,
    valid_signature,
    verify_grant,
)

_log = get_logger("twilio")


class TwilioTransport:
    """Serialises the session's output as Media Streams JSON text frames (plain ASGI:
    the runner's send queue and sender task await each `send`)."""

    def __init__(self, ws: WebSocket, stream_sid: str) -> None:
        self._ws = ws
        self._sid = stream_sid

    async def send_media(self, payload: bytes) -> None:
        await self._ws.send_text(m.media_message(self._sid, payload))

    async def send_mark(self, name: str) -> None:
        await self._ws.send_text(m.mark_message(self._sid, name))

    async def send_clear(self) -> None:
        await self._ws.send_text(m.clear_message(self._sid))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close()


class DirectTwilioTransport(TwilioTransport):
    """`TwilioTransport` on a connection with the direct lane
    (`media_socket.MediaSocketProtocol`): a `DirectTransport`, so the runner writes each
    tick's messages in one socket write, with no queue or task between.

    Args:
        room: the most messages taken at once while the socket is writable.
    """

    def __init__(
        self, ws: WebSocket, stream_sid: str, lane: MediaSocketProtocol, room: int
    ) -> None:
        super().__init__(ws, stream_sid)
        self._lane = lane
        self._room = room

    def room(self) -> int:
        """Messages the socket takes now: none while its write buffer is full."""
        return self._room if self._lane.can_write else 0

    def backlog(self) -> int:
        """Messages written but not yet taken by the kernel (the socket's write buffer,
        in messages: `MediaSocketProtocol.backlog`)."""
        return self._lane.backlog()

    def write_now(self, items: list[tuple[str, Any]]) -> None:
        """Write `items` (`("media", bytes) | ("mark", str) | ("clear", None)`) in one
        socket write. Raises ConnectionError once the socket is closing."""
        sid = self._sid
        texts = [
            m.media_message(sid, value)
            if kind == "media"
            else m.mark_message(sid, value)
            if kind == "mark"
            else m.clear_message(sid)
            for kind, value in items
        ]
        self._lane.write_texts(texts)


class _ConnectionLog:
    """Rate-limited warnings for one connection: the first problem of each kind is
    logged (caller-supplied text clipped to 200 characters), at most `MAX_LINES` lines in
    all; the rest are only counted and summed up once when the connection ends. Kinds are
    a fixed vocabulary (`ProtocolError.kind`), so the set cannot grow with input."""

    MAX_LINES = 10
    MAX_KINDS = 64

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.lines = 0

    def warn(self, kind: str, detail: str) -> None:
        if kind not in self.counts and len(self.counts) >= self.MAX_KINDS:
            kind = "other"
        n = self.counts.get(kind, 0)
        self.counts[kind] = n + 1
        if n == 0 and self.lines < self.MAX_LINES:
            self.lines += 1
            _log.warning("media stream: %s (ignored; further ones counted)", clip(detail))

    def summary(self) -> None:
        ignored = sum(self.counts.values())
        if ignored > self.lines:
            kinds = ", ".join(f"{k}={n}" for k, n in sorted(self.counts.items()))
            _log.warning("media stream: %d bad message(s) ignored in all (%s)", ignored, kinds)


async def media_stream(ws: WebSocket, rt: Runtime) -> None:
    """Serve one Twilio Media Streams connection until `stop` or disconnect.

    Until the stream's `start` the messages come through ASGI `receive`; after it, on a
    connection with the direct lane (`media_socket`), each message is handled inside the
    socket's `data_received` (`_Stream.on_message`), else through `receive` as before.
    """
    settings = rt.settings
    if settings.twilio_auth_token:
        url = public_url(str(ws.url), settings.public_url, websocket=True)
        if not valid_signature(
            settings.twilio_auth_token, url, {}, ws.headers.get("x-twilio-signature")
        ):
            _log.warning("media stream rejected: bad X-Twilio-Signature")
            await ws.close(code=1008)
            return
    await ws.accept()
    conn_log = _ConnectionLog()
    runner: CallRunner | None = None
    try:
        stream = await _await_start(ws, rt, conn_log)
        if stream is None:
            return
        runner = stream.runner
        lane: MediaSocketProtocol | None = ws.scope.get("extensions", {}).get(EXTENSION)
        outcome = await (_run_direct(ws, lane, stream) if lane else _run_asgi(ws, stream))
        if outcome == "stop":
            await runner.finish("caller hung up (stop)", ended_by="stop")
    finally:
        conn_log.summary()
        if runner is not None:
            # Without `stop` first, the socket dropped (a no-op when the call already ended).
            await runner.finish("connection lost", ended_by="disconnect")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)  # never hang on the peer


def _text_of(msg: Any) -> str | bytes:
    """The data of an ASGI `websocket.receive` event (bytes for a binary frame)."""
    text = msg.get("text")
    return text if text is not None else (msg.get("bytes") or b"")


async def _receive(ws: WebSocket, timeout_s: float | None = None) -> Any | None:
    """The next ASGI event, or None once the socket is gone. Raises TimeoutError."""
    try:
        if timeout_s is None:
            msg = await ws.receive()
        else:
            msg = await asyncio.wait_for(ws.receive(), timeout_s)
    except (WebSocketDisconnect, RuntimeError):
        return None
    return None if msg["type"] == "websocket.disconnect" else msg


async def _await_start(ws: WebSocket, rt: Runtime, conn_log: _ConnectionLog) -> _Stream | None:
    """Read until a `start` opens the call; None if the socket closed or was refused
    (the socket is then closed) or no `start` came within `stream_start_timeout_sec`."""
    settings = rt.settings
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.stream_start_timeout_sec
    while True:
        left = deadline - loop.time()
        try:
            if left <= 0:
                raise TimeoutError
            msg = await _receive(ws, left)
        except TimeoutError:
            _log.warning(
                "media stream closed: no start within %.0f s", settings.stream_start_timeout_sec
            )
            with contextlib.suppress(Exception):
                await ws.close(code=1008)
            return None
        if msg is None:
            return None
        try:
            ev = m.parse_inbound(_text_of(msg))
        except m.ProtocolError as exc:
            conn_log.warn(exc.kind, str(exc))
            continue
        if isinstance(ev, m.Connected):
            continue
        if not isinstance(ev, m.Start):
            conn_log.warn("early", f"{type(ev).__name__} before start")
            continue
        runner = await _start_call(ws, rt, ev)
        return None if runner is None else _Stream(runner, ev.stream_sid, conn_log)


async def _run_asgi(ws: WebSocket, stream: _Stream) -> str:
    """Feed the stream from ASGI `receive` until it ends; returns its outcome."""
    while True:
        msg = await _receive(ws)
        if msg is None:
            return "disconnect"
        outcome = stream.on_message(_text_of(msg))
        if outcome is not None:
            return outcome


async def _run_direct(ws: WebSocket, lane: MediaSocketProtocol, stream: _Stream) -> str:
    """Feed the stream from the socket's own callbacks until it ends; returns its outcome.

    Only a disconnect is left for ASGI `receive` to deliver meanwhile.
    """
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def sink(data: str | bytes) -> None:
        if done.done():
            return
        outcome = stream.on_message(data)
        if outcome is not None:
            done.set_result(outcome)

    for msg in lane.attach(sink):  # what arrived while the call was opening, in order
        sink(_text_of(msg))
    gone = asyncio.ensure_future(_receive(ws))
    try:
        await asyncio.wait({done, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lane.detach()
        gone.cancel()
    return done.result() if done.done() else "disconnect"


class _Stream:
    """One started stream's inbound side: a message in, the session's actions carried
    out (sans-I/O apart from the runner's dispatch). `on_message` never raises."""

    def __init__(self, runner: CallRunner, stream_sid: str, conn_log: _ConnectionLog) -> None:
        self.runner = runner
        self.stream_sid = stream_sid
        self.log = conn_log
        self.stamps = m.StreamTimestamps(runner.session.clock.now_ms)

    def on_message(self, data: str | bytes) -> str | None:
        """Handle one message; returns "stop" (Twilio's `stop`), "ended" (the call ended
        on our side) or None (go on).

        Never raises, on either lane: a message whose handling fails in any way is
        reported through the connection's rate-limited log (kind `failed`) and skipped,
        and the call goes on - no single message ends a call (module docstring).
        """
        try:
            return self._handle(data)
        except Exception as exc:
            self.log.warn("failed", f"message not handled: {exc!r}")
            return "ended" if self.runner.finished else None

    def _handle(self, data: str | bytes) -> str | None:
        log = self.log
        try:
            ev = m.parse_inbound(data)
        except m.ProtocolError as exc:
            log.warn(exc.kind, str(exc))
            return None
        if isinstance(ev, m.Connected):
            return None
        if isinstance(ev, m.Start):
            log.warn("second-start", "second start on one stream")
            return None
        if ev.stream_sid not in (self.stream_sid, ""):
            log.warn("sid", "message for another streamSid")
            return None
        if isinstance(ev, m.Stop):
            return "stop"
        runner = self.runner
        session = runner.session
        try:
            if isinstance(ev, m.Media):
                ts, ok = self.stamps.place(ev.timestamp_ms)
                if not ok:
                    log.warn(
                        "timestamp",
                        f"media timestamp {ev.timestamp_ms} ms out of line with the "
                        "stream's progress; placed after the previous frame",
                    )
                runner.dispatch(session.media(ev.payload, ts))
            elif isinstance(ev, m.Dtmf):
                runner.dispatch(session.dtmf(ev.digit))
            elif isinstance(ev, m.Mark):
                runner.dispatch(session.mark(ev.name))
        except ValueError as exc:  # e.g. a frame that is not 20 ms: skip it
            log.warn(f"bad-{type(ev).__name__}", str(exc))
        return "ended" if runner.finished else None


#: How often a resumed stream asks whether the call's previous stream is saved (s).
RESUME_POLL_S = 0.05


async def _refuse(rt: Runtime, start: m.Start) -> tuple[StreamGrant | None, str | None]:
    """`(grant, None)` when this `start` may open the stream, else `(None, why)`.

    The parameters must be signed with this server's stream key for this CallSid and be
    unexpired; then, off the loop, the database uses up their nonce and makes this
    process the call's one live stream. A stream of the same call that is still ending
    in any process (the caller moved to a `<Gather>` and back) is waited for, within
    `record_wait_sec`: it is released only once its conversation is saved, so the
    resumed stream sees what it saved.
    """
    if len(rt.active) >= rt.settings.max_concurrent_calls:
        return None, f"{len(rt.active)} calls already live (max_concurrent_calls)"
    grant = verify_grant(rt.stream_key, start.call_sid, start.custom_parameters)
    if grant is None:
        return None, "missing, expired or badly signed stream token"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + rt.settings.record_wait_sec

    def claim() -> str | None:
        return streams.claim_stream(
            rt.db,
            nonce=grant.nonce,
            call_sid=start.call_sid,
            stream_sid=start.stream_sid,
            owner=rt.owner,
            host=rt.host,
            owner_dead=lambda owner: records.owner_dead(owner, rt.owner),
        )

    try:
        why = await executors.run("db", claim)
        while why == streams.LIVE and loop.time() < deadline:
            await asyncio.sleep(RESUME_POLL_S)
            if not await executors.run("db", streams.stream_is_live, rt.db, start.call_sid):
                why = await executors.run("db", claim)
    except SQLAlchemyError as exc:  # once-only cannot be checked: the stream is refused
        return None, f"database unavailable ({clip(exc, 120)})"
    return (grant, None) if why is None else (None, why)


def http_url_of(ws_url: str, path: str, public_base: str | None) -> str:
    """The absolute http(s) URL of `path` on the server that `ws_url` reached (TwiML sent
    through the REST API needs absolute action URLs: TWILIO.md)."""
    parts = urlsplit(public_url(ws_url, public_base))
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class TwilioCallControl:
    """`CallControl` over Twilio REST for one call: hang up, or move it to `<Gather>`."""

    def __init__(self, rest: TwilioRest, call_sid: str, gather_action_url: str) -> None:
        self._rest = rest
        self._sid = call_sid
        self._action = gather_action_url

    async def hang_up(self) -> bool:
        return await self._rest.hang_up(self._sid)

    async def gather_phone(self) -> bool:
        return await self._rest.redirect(self._sid, twiml.gather_phone(self._action))


async def _start_call(ws: WebSocket, rt: Runtime, start: m.Start) -> CallRunner | None:
    if start.encoding != "audio/x-mulaw" or start.sample_rate != 8000:
        _log.warning(
            "media stream: unsupported format %s/%s", clip(start.encoding, 40), start.sample_rate
        )
    rt.opening[start.call_sid] += 1  # from the claim until `open_call` makes it active
    try:
        return await _open(ws, rt, start)
    finally:
        rt.opening[start.call_sid] -= 1
        if rt.opening[start.call_sid] <= 0:
            del rt.opening[start.call_sid]


async def _open(ws: WebSocket, rt: Runtime, start: m.Start) -> CallRunner | None:
    settings = rt.settings
    grant, refused = await _refuse(rt, start)
    if grant is None:
        _log.warning("media stream refused for %s: %s", clip(start.call_sid, 64), refused)
        await ws.close(code=1008)
        return None
    try:
        params = split_params(start.custom_parameters, settings.accept_sim_params)
    except ValueError as exc:
        _log.warning("media stream: bad simulator parameter: %s (ignored)", clip(exc))
        params = split_params(start.custom_parameters, accept_sim=False)
    spec = CallSpec(
        call_sid=start.call_sid,
        stream_sid=start.stream_sid,
        business_id=params.business_id or grant.business or settings.business,
        caller_number=usable_phone(grant.caller) if grant.caller else None,
        from_number=grant.from_number or None,
        now=params.now,
        script=params.script,
        policy_overrides=params.policy_overrides,
        settings_overrides={"dtmf_mode": params.dtmf_mode} if params.dtmf_mode else {},
    )
    action = http_url_of(str(ws.url), "/webhook/dtmf_done", settings.public_url)
    control = TwilioCallControl(rt.rest, start.call_sid, action)
    lane: MediaSocketProtocol | None = ws.scope.get("extensions", {}).get(EXTENSION)
    transport = (
        DirectTwilioTransport(ws, start.stream_sid, lane, settings.send_queue_max_frames)
        if lane is not None
        else TwilioTransport(ws, start.stream_sid)
    )
    try:
        return await open_call(rt, spec, transport, control)
    except BaseException:
        # The stream never ran: free the call for a reconnect.
        await executors.run("db", streams.release_stream, rt.db, start.call_sid, start.stream_sid)
        raise
