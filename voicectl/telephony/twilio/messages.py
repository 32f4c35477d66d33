"""Twilio Media Streams messages (TWILIO.md: "Media Streams over WebSocket").

`parse_inbound` turns one text frame from Twilio into a typed event or raises
`ProtocolError`; the `*_message` builders produce exactly the server -> Twilio shapes
(JSON text, base64 μ-law payload, the call's `streamSid`, nothing more).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any


class ProtocolError(ValueError):
    """A frame that is not a valid Twilio Media Streams message (the message says why)."""


@dataclass(frozen=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...]
    encoding: str
    sample_rate: int
    channels: int
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    stream_sid: str
    track: str
    chunk: int
    timestamp_ms: int
    payload: bytes


@dataclass(frozen=True)
class Dtmf:
    stream_sid: str
    digit: str


@dataclass(frozen=True)
class Mark:
    stream_sid: str
    name: str


@dataclass(frozen=True)
class Stop:
    stream_sid: str
    call_sid: str


InboundEvent = Connected | Start | Media | Dtmf | Mark | Stop

DTMF_KEYS = frozenset("0123456789*#ABCD")


def _get(obj: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ProtocolError(f"{where}: missing field {key!r}")
    return obj[key]


def _obj(value: Any, where: str) -> dict[str, Any]:
    """`value` if it is a JSON object (None -> {}), else a ProtocolError."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: not an object")
    return value


def _int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ProtocolError(f"{where}: not a number: {value!r}") from None


def parse_inbound(text: str | bytes) -> InboundEvent:
    """Parse one WebSocket frame from Twilio.

    Args:
        text: the frame; Twilio sends only text frames, so `bytes` is an error.

    Raises:
        ProtocolError: binary frame, not JSON, unknown event, missing fields, bad base64.
    """
    if isinstance(text, bytes | bytearray):
        raise ProtocolError("binary frame (Twilio sends JSON text frames only)")
    try:
        msg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("not a JSON object")
    event = msg.get("event")
    if event == "connected":
        return Connected(str(msg.get("protocol", "")), str(msg.get("version", "")))
    if event == "start":
        st = _obj(_get(msg, "start", "start"), "start.start")
        fmt = _obj(st.get("mediaFormat"), "start.mediaFormat")
        params = _obj(st.get("customParameters"), "start.customParameters")
        return Start(
            stream_sid=str(msg.get("streamSid") or _get(st, "streamSid", "start")),
            call_sid=str(_get(st, "callSid", "start")),
            account_sid=str(st.get("accountSid", "")),
            tracks=tuple(st.get("tracks") or ("inbound",)),
            encoding=str(fmt.get("encoding", "audio/x-mulaw")),
            sample_rate=_int(fmt.get("sampleRate", 8000), "start.mediaFormat.sampleRate"),
            channels=_int(fmt.get("channels", 1), "start.mediaFormat.channels"),
            custom_parameters={str(k): str(v) for k, v in params.items()},
        )
    if event == "media":
        media = _obj(_get(msg, "media", "media"), "media.media")
        raw = _get(media, "payload", "media")
        try:
            payload = base64.b64decode(raw, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise ProtocolError("media.payload: bad base64") from None
        return Media(
            stream_sid=str(_get(msg, "streamSid", "media")),
            track=str(media.get("track", "inbound")),
            chunk=_int(media.get("chunk", 0), "media.chunk"),
            timestamp_ms=_int(_get(media, "timestamp", "media"), "media.timestamp"),
            payload=payload,
        )
    if event == "dtmf":
        digit = str(_get(_obj(_get(msg, "dtmf", "dtmf"), "dtmf.dtmf"), "digit", "dtmf"))
        if digit not in DTMF_KEYS:
            raise ProtocolError(f"dtmf.digit: not a keypad key: {digit!r}")
        return Dtmf(str(_get(msg, "streamSid", "dtmf")), digit)
    if event == "mark":
        name = str(_get(_obj(_get(msg, "mark", "mark"), "mark.mark"), "name", "mark"))
        return Mark(str(_get(msg, "streamSid", "mark")), name)
    if event == "stop":
        stop = _obj(msg.get("stop"), "stop.stop")
        return Stop(str(msg.get("streamSid", "")), str(stop.get("callSid", "")))
    raise ProtocolError(f"unknown event {event!r}")


def media_message(stream_sid: str, payload: bytes) -> str:
    """Server -> Twilio `media`: one μ-law frame, base64, no WAV header."""
    b64 = base64.b64encode(payload).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": b64}})


def mark_message(stream_sid: str, name: str) -> str:
    """Server -> Twilio `mark`."""
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """Server -> Twilio `clear`."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})
