"""The Media Streams WebSocket handler: Twilio frames in, `CallSession` events; actions out.

No input ends a call (issue 6): every frame goes through the defensive parser
(`messages.parse_inbound`); a frame it rejects - binary, oversized, too deep, not JSON,
an unknown event, mistyped fields, a bad payload - is logged (first of each kind,
clipped, at most `_ConnectionLog.MAX_LINES` lines per connection) and ignored. Media
timestamps are checked against the stream's own progress. A socket that sends no `start`
within `stream_start_timeout_sec` is closed. A `start` must carry the token `/voice`
issued for its CallSid, which is accepted once; a second stream for a live call is
refused. The call's record is written as it goes (start, every turn, end) by the
process's `RecordWriter`, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from voicectl.agent.base import Conversation
from voicectl.booking.phone import normalize_phone, usable_phone
from voicectl.call.runner import BusinessClock, CallRunner
from voicectl.call.session import CallSession
from voicectl.clock import MonotonicClock
from voicectl.logs import clip, get_logger
from voicectl.runtime import CallParams, PendingCall, Runtime, split_params
from voicectl.speech.stt.hints import service_hints
from voicectl.store import records
from voicectl.telephony.twilio import messages as m
from voicectl.telephony.twilio.security import (
    TOKEN_PARAM,
    public_url,
    valid_signature,
    valid_stream_token,
)

if TYPE_CHECKING:
    from voicectl.booking.tools import BookingTools

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


class _ConnectionLog:
    """Rate-limited warnings for one connection: the first problem of each kind is
    logged (caller-supplied text clipped to 200 characters), at most `MAX_LINES` lines in
    all; the rest are only counted and summed up once when the connection ends. Kinds are
    a fixed vocabulary (`ProtocolError.kind`), so the set cannot grow with input."""

    MAX_LINES = 10

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.lines = 0

    def warn(self, kind: str, detail: str) -> None:
        n = self.counts.get(kind, 0)
        if n == 0 and len(self.counts) >= 64:  # a fixed vocabulary; belt and braces
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
    conn_log = _ConnectionLog()
    runner: CallRunner | None = None
    stream_sid: str | None = None
    stamps: m.StreamTimestamps | None = None
    loop = asyncio.get_running_loop()
    start_deadline = loop.time() + settings.stream_start_timeout_sec
    try:
        while True:
            try:
                if runner is None:
                    left = start_deadline - loop.time()
                    if left <= 0:
                        raise TimeoutError
                    msg = await asyncio.wait_for(ws.receive(), left)
                else:
                    msg = await ws.receive()
            except TimeoutError:
                _log.warning(
                    "media stream closed: no start within %.0f s", settings.stream_start_timeout_sec
                )
                with contextlib.suppress(Exception):
                    await ws.close(code=1008)
                return
            except (WebSocketDisconnect, RuntimeError):
                break
            if msg["type"] == "websocket.disconnect":
                break
            try:
                ev = m.parse_inbound(msg["text"] if msg.get("text") is not None else b"")
            except m.ProtocolError as exc:
                conn_log.warn(exc.kind, str(exc))
                continue
            if isinstance(ev, m.Connected):
                continue
            if isinstance(ev, m.Start):
                if runner is not None:
                    conn_log.warn("second-start", "second start on one stream")
                    continue
                runner = await _start_call(ws, rt, ev)
                if runner is None:
                    return
                stream_sid = ev.stream_sid
                stamps = m.StreamTimestamps(runner.session.clock.now_ms)
                continue
            if runner is None:
                conn_log.warn("early", f"{type(ev).__name__} before start")
                continue
            if getattr(ev, "stream_sid", stream_sid) not in (stream_sid, ""):
                conn_log.warn("sid", "message for another streamSid")
                continue
            if isinstance(ev, m.Stop):
                break
            session = runner.session
            try:
                if isinstance(ev, m.Media):
                    assert stamps is not None
                    ts, ok = stamps.place(ev.timestamp_ms)
                    if not ok:
                        conn_log.warn(
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
                conn_log.warn(f"bad-{type(ev).__name__}", str(exc))
            if runner.finished:
                break
    finally:
        conn_log.summary()
        if runner is not None:
            await runner.finish("caller hung up" if not runner.finished else "ended")
            with contextlib.suppress(Exception):
                await ws.close()


def _refuse(rt: Runtime, start: m.Start) -> str | None:
    """Why this `start` may not open a call (None = it may)."""
    if start.call_sid in rt.active:
        return "a stream for this call is already live"
    pending = rt.pending.get(start.call_sid)
    given = start.custom_parameters.get(TOKEN_PARAM)
    if pending is None or not valid_stream_token(pending.stream_token, given):
        return "missing, used or bad stream token"
    if len(rt.active) >= rt.settings.max_concurrent_calls:
        return f"{len(rt.active)} calls already live (max_concurrent_calls)"
    return None


def _call_setup(
    rt: Runtime, call_sid: str, params: CallParams, pending: PendingCall | None
) -> tuple[str, BookingTools, list[str]]:
    """The call's business and booking tools (policy loaded from the database: runs in a
    worker thread). Simulator policy overrides that do not apply are dropped one by one,
    each named in the returned notes, so a bad field never drops the stream."""
    from voicectl.booking.policy import PolicyError, get_business_policy
    from voicectl.booking.tools import BookingTools

    settings = rt.settings
    notes: list[str] = []
    business_id = params.business_id or (pending.business_id if pending else settings.business)
    try:
        policy = get_business_policy(business_id, db=rt.db)
    except ValueError as exc:
        notes.append(f"unknown business {clip(business_id, 64)!r} ({clip(exc)}); using default")
        business_id = settings.business
        policy = get_business_policy(business_id, db=rt.db)
    overrides: dict[str, Any] = {}
    for key, value in params.policy_overrides.items():
        try:
            policy.with_overrides({**overrides, key: value})
        except (PolicyError, TypeError, ValueError) as exc:
            notes.append(f"voicectl.policy field {clip(key, 64)!r} ignored: {clip(exc)}")
            continue
        overrides[key] = value
    params.policy_overrides = overrides
    tools = BookingTools(
        rt.db,
        business_id,
        datetime.now,
        call_sid=call_sid,
        policy_overrides=overrides or None,
        confirms_bookings=rt.flows.rules.confirms_bookings(business_id),
    )
    return business_id, tools, notes


async def _start_call(ws: WebSocket, rt: Runtime, start: m.Start) -> CallRunner | None:
    settings = rt.settings
    if start.encoding != "audio/x-mulaw" or start.sample_rate != 8000:
        _log.warning(
            "media stream: unsupported format %s/%s", clip(start.encoding, 40), start.sample_rate
        )
    refused = _refuse(rt, start)
    if refused:
        _log.warning("media stream refused for %s: %s", clip(start.call_sid, 64), refused)
        await ws.close(code=1008)
        return None
    pending = rt.forget(start.call_sid)
    try:
        params = split_params(start.custom_parameters, settings.accept_sim_params)
    except ValueError as exc:
        _log.warning("media stream: bad simulator parameter: %s (ignored)", clip(exc))
        params = split_params(start.custom_parameters, accept_sim=False)
    caller = usable_phone(params.public.get("caller")) if params.public.get("caller") else None
    if pending and pending.gather_digits:
        caller = normalize_phone(pending.gather_digits) or caller
    business_id, tools, notes = await asyncio.to_thread(
        _call_setup, rt, start.call_sid, params, pending
    )
    for note in notes:
        _log.warning("call %s: %s", start.call_sid, note)
    policy = tools.policy

    clock = MonotonicClock()
    business_now = BusinessClock(params.now or datetime.now(policy.tz), clock)
    tools.now = business_now
    log_lines: list[tuple[str, str]] = []

    session = CallSession(
        clock=clock,
        settings=settings,
        vad=rt.providers.new_vad(),
        open_stt=lambda cb: rt.open_stt(params.script, cb, hints=service_hints(policy)),
        normalize_phone=normalize_phone,
        call_sid=start.call_sid,
        stream_sid=start.stream_sid,
        business_id=business_id,
        caller_number=caller,
        log=lambda level, msg: log_lines.append((level, msg)),
    )
    tools.session = session
    conversation = Conversation(
        call_sid=start.call_sid,
        business_id=business_id,
        now=business_now(),
        caller_number=caller,
    )
    from_number = pending.from_number if pending else None
    rt.records.submit(
        records.snapshot(session, log_lines, owner=rt.owner, from_number=from_number, started=True)
    )

    def on_turn(r: CallRunner, _index: int) -> None:
        rt.records.submit(records.snapshot(r.session, log_lines))

    async def on_end(r: CallRunner) -> None:
        rt.active.pop(start.call_sid, None)
        done = rt.records.submit(records.snapshot(r.session, log_lines, ended=True))
        await rt.records.wait(done, settings.record_wait_sec)

    runner = CallRunner(
        session=session,
        transport=TwilioTransport(ws, start.stream_sid),
        agent=rt.agent,
        tts=rt.tts,
        tools=tools,
        conversation=conversation,
        business_now=business_now,
        on_end=on_end,
        on_turn=on_turn,
    )
    rt.active[start.call_sid] = runner
    runner.start()
    return runner
