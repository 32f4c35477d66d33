"""The Media Streams WebSocket handler: Twilio frames in, `CallSession` events; actions out.

Bad input never ends a call (TWILIO.md errors, issue "Bad input"): a non-JSON or binary
frame, an unknown event, `media` before `start`, or a bad base64 payload is logged once
per kind and ignored. `stop` or a dropped connection ends the session cleanly and the
call's record is saved.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from voicectl.booking.phone import usable_phone
from voicectl.call.compose import CallSpec, open_call
from voicectl.call.runner import CallRunner
from voicectl.logs import get_logger
from voicectl.runtime import Runtime, split_params
from voicectl.telephony.twilio import messages as m
from voicectl.telephony.twilio import twiml
from voicectl.telephony.twilio.rest import TwilioRest
from voicectl.telephony.twilio.security import (
    TOKEN_PARAM,
    public_url,
    valid_signature,
    valid_stream_token,
)

_log = get_logger("twilio")


class TwilioTransport:
    """Serialises the session's output as Media Streams JSON text frames."""

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


class _Once:
    """Log each kind of protocol problem once per connection."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def warn(self, kind: str, detail: str) -> None:
        if kind not in self.seen:
            self.seen.add(kind)
            _log.warning("media stream: %s (ignored; further ones not logged)", detail)


async def media_stream(ws: WebSocket, rt: Runtime) -> None:
    """Serve one Twilio Media Streams connection until `stop` or disconnect."""
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
    once = _Once()
    runner: CallRunner | None = None
    stream_sid: str | None = None
    try:
        while True:
            try:
                msg = await ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                break
            if msg["type"] == "websocket.disconnect":
                break
            if msg.get("text") is None:
                once.warn("binary", "binary frame (Twilio error 31950)")
                continue
            try:
                ev = m.parse_inbound(msg["text"])
            except m.ProtocolError as exc:
                once.warn(str(exc).split(":")[0], str(exc))
                continue
            if isinstance(ev, m.Connected):
                continue
            if isinstance(ev, m.Start):
                if runner is not None:
                    once.warn("start", "second start on one stream")
                    continue
                runner = await _start_call(ws, rt, ev)
                if runner is None:
                    return
                stream_sid = ev.stream_sid
                continue
            if runner is None:
                once.warn(f"early-{type(ev).__name__}", f"{type(ev).__name__} before start")
                continue
            if getattr(ev, "stream_sid", stream_sid) not in (stream_sid, ""):
                once.warn("sid", "message for another streamSid")
                continue
            if isinstance(ev, m.Stop):
                await runner.finish("caller hung up (stop)", ended_by="stop")
                break
            session = runner.session
            try:
                if isinstance(ev, m.Media):
                    runner.dispatch(session.media(ev.payload, ev.timestamp_ms))
                elif isinstance(ev, m.Dtmf):
                    runner.dispatch(session.dtmf(ev.digit))
                elif isinstance(ev, m.Mark):
                    runner.dispatch(session.mark(ev.name))
            except ValueError as exc:  # e.g. a frame that is not 20 ms: skip it
                once.warn(f"bad-{type(ev).__name__}", str(exc))
            if runner.finished:
                break
    finally:
        if runner is not None:
            # Without `stop` first, the socket dropped (a no-op when the call already ended).
            await runner.finish("connection lost", ended_by="disconnect")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)  # never hang on the peer


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
    settings = rt.settings
    if start.encoding != "audio/x-mulaw" or start.sample_rate != 8000:
        _log.warning("media stream: unsupported format %s/%s", start.encoding, start.sample_rate)
    if not valid_stream_token(rt.secret, start.call_sid, start.custom_parameters.get(TOKEN_PARAM)):
        _log.warning("media stream rejected for %s: missing or bad stream token", start.call_sid)
        await ws.close(code=1008)
        return None
    try:
        params = split_params(start.custom_parameters, settings.accept_sim_params)
    except ValueError as exc:
        _log.warning("media stream: bad simulator parameter: %s (ignored)", exc)
        params = split_params(start.custom_parameters, accept_sim=False)
    pending = rt.pending.pop(start.call_sid, None)
    business_id = params.business_id or (pending.business_id if pending else settings.business)
    caller = usable_phone(params.public.get("caller")) if params.public.get("caller") else None
    spec = CallSpec(
        call_sid=start.call_sid,
        stream_sid=start.stream_sid,
        business_id=business_id,
        caller_number=caller,
        from_number=pending.from_number if pending else None,
        now=params.now,
        script=params.script,
        policy_overrides=params.policy_overrides,
        settings_overrides={"dtmf_mode": params.dtmf_mode} if params.dtmf_mode else {},
    )
    action = http_url_of(str(ws.url), "/webhook/dtmf_done", settings.public_url)
    control = TwilioCallControl(rt.rest, start.call_sid, action)
    return await open_call(rt, spec, TwilioTransport(ws, start.stream_sid), control)
