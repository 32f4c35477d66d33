"""Twilio Media Streams messages (TWILIO.md: "Media Streams over WebSocket").

`parse_inbound` turns one text frame from Twilio into a typed event or raises
`ProtocolError`; the `*_message` builders produce exactly the server -> Twilio shapes
(JSON text, base64 μ-law payload, the call's `streamSid`, nothing more).

JSON goes through `orjson` both ways: 50 frames a second each way per call make the
stdlib's `json` (and its Python-level number hooks) one of the larger per-frame costs
(docs/benchmarks.md "Where the time per frame goes"). orjson is strict RFC 8259, which
is what the defensive parser needs anyway: no NaN/Infinity, no lone surrogates, finite
floats, integers of at most 64 bits (larger ones become floats), its own depth limit.

A `media` message in Twilio's own shape - 98% of what a call sends - takes a fast path:
one `msgspec` decode into typed structs does the JSON, the field types and the base64
(`_fast_media`). It only ever accepts a subset of what the general parser accepts, with
the same result (tests/test_twilio_messages.py compares the two on a mutation corpus);
anything else, valid or not, goes through the general parser, which decides.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
import orjson

from voicectl.logs import clip, scrub_surrogates

#: Largest inbound frame parsed (characters). Twilio's biggest message is a `start`
#: with its `customParameters` (a few KB); a 20 ms `media` frame is about 300 bytes.
MAX_MESSAGE_CHARS = 64 * 1024
#: Deepest JSON nesting accepted (Twilio's messages nest 3 levels).
MAX_DEPTH = 8
#: Longest number sent as a decimal string accepted (digits); Twilio's numbers are small.
MAX_INT_DIGITS = 15
#: Longest id / name / key string kept from a message.
MAX_FIELD_CHARS = 256
#: Longest `streamSid` accepted (Twilio's are 34: "MZ" + 32 hex). The store's
#: `stream_sid` columns are declared this wide (`store/calls.py`, `store/streams.py`),
#: so any streamSid the parser lets through can be stored - PostgreSQL refuses a longer
#: `VARCHAR(n)` value, and that would fail the call's stream claim and record.
MAX_STREAM_SID_CHARS = 256
#: Largest `customParameters` value kept (the simulator's script can be a few KB).
MAX_PARAM_CHARS = 16 * 1024


class ProtocolError(ValueError):
    """A frame that is not a valid Twilio Media Streams message (the message says why).

    Attributes:
        kind: a fixed word naming the class of problem ("binary", "size", "json", "depth",
            "number", "type", "field", "event", "base64", "dtmf") - never caller text, so
            it is safe as a key for "log each kind once".
    """

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


# The events are msgspec structs rather than dataclasses: one is built per message, and
# a frozen dataclass's __init__ (object.__setattr__ per field) cost more than the decode.


class Connected(msgspec.Struct, frozen=True):
    protocol: str
    version: str


class Start(msgspec.Struct, frozen=True):
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...]
    encoding: str
    sample_rate: int
    channels: int
    custom_parameters: dict[str, str] = {}


class Media(msgspec.Struct, frozen=True):
    stream_sid: str
    track: str
    chunk: int
    timestamp_ms: int
    payload: bytes


class Dtmf(msgspec.Struct, frozen=True):
    stream_sid: str
    digit: str


class Mark(msgspec.Struct, frozen=True):
    stream_sid: str
    name: str


class Stop(msgspec.Struct, frozen=True):
    stream_sid: str
    call_sid: str


InboundEvent = Connected | Start | Media | Dtmf | Mark | Stop

DTMF_KEYS = frozenset("0123456789*#ABCD")

_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')


def _depth_ok(text: str) -> bool:
    """True if `text`'s bracket nesting (outside JSON strings) is at most `MAX_DEPTH`.

    Checked before `json.loads`, whose recursion a 100,000-deep array would exhaust.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return True
    depth = 0
    for ch in _STRING_RE.sub("", text):
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _get(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ProtocolError(f"{where}: missing field {key!r}", "field")
    return obj[key]


def _obj(value: Any, where: str) -> dict[str, Any]:
    """`value` if it is a JSON object (None -> {}), else a ProtocolError."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: not an object", "type")
    return value


def _str(value: Any, where: str, limit: int = MAX_FIELD_CHARS) -> str:
    """A JSON string field (surrogates scrubbed), at most `limit` characters."""
    if not isinstance(value, str):
        raise ProtocolError(f"{where}: not a string", "type")
    if len(value) > limit:
        raise ProtocolError(f"{where}: longer than {limit} characters", "size")
    return scrub_surrogates(value)


def _sid(value: Any, where: str) -> str:
    """A `streamSid`: a string of at most `MAX_STREAM_SID_CHARS` characters."""
    return _str(value, where, MAX_STREAM_SID_CHARS)


def _int(value: Any, where: str, lo: int = 0, hi: int = 2**53) -> int:
    """A count or time: a JSON integer or a decimal string (Twilio sends strings),
    within `lo..hi`."""
    if isinstance(value, bool):
        raise ProtocolError(f"{where}: not a number", "type")
    if isinstance(value, str):
        v = value.strip()
        if not v or len(v) > MAX_INT_DIGITS or not v.lstrip("-").isdigit():
            raise ProtocolError(f"{where}: not a number: {clip(value, 40)}", "number")
        value = int(v)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ProtocolError(f"{where}: not a number", "type")
    if not lo <= value <= hi:
        raise ProtocolError(f"{where}: {value} outside {lo}..{hi}", "number")
    return value


class _WireMediaBody(msgspec.Struct, forbid_unknown_fields=True):
    """`media.media` as Twilio sends it: numbers as decimal strings, payload base64. Any
    other field sends the message to the general parser (which ignores unknown fields,
    but refuses values in them that orjson cannot represent, e.g. 1e999)."""

    timestamp: Annotated[str, msgspec.Meta(max_length=MAX_INT_DIGITS)]
    payload: bytes  # msgspec decodes (and checks) the base64
    track: Annotated[str, msgspec.Meta(max_length=MAX_FIELD_CHARS)] = "inbound"
    chunk: Annotated[str, msgspec.Meta(max_length=MAX_INT_DIGITS)] = "0"


class _WireMedia(msgspec.Struct, tag_field="event", tag="media", forbid_unknown_fields=True):
    media: _WireMediaBody
    streamSid: Annotated[str, msgspec.Meta(max_length=MAX_STREAM_SID_CHARS)]  # noqa: N815
    sequenceNumber: str = ""  # noqa: N815 - not used (the general parser ignores it too)


_decode_wire_media = msgspec.json.Decoder(_WireMedia).decode


def _fast_media(text: str) -> Media | None:
    """A `media` message in Twilio's shape as a `Media`, or None to use the general
    parser. Only what the general parser would return the same `Media` for is taken:
    Twilio's fields only, no JSON escapes (so no surrogates to scrub), numbers as ASCII
    digit strings within `_int`'s range, base64 that msgspec decodes (strict: alphabet
    and padding, as `b64decode(validate=True)`)."""
    if "\\" in text:
        return None
    try:
        wire = _decode_wire_media(text)
    except Exception:  # noqa: BLE001 - not this shape (or not encodable): the general parser decides
        return None
    body = wire.media
    ts, chunk = body.timestamp, body.chunk
    if not (ts.isascii() and ts.isdigit() and chunk.isascii() and chunk.isdigit()):
        return None
    timestamp_ms, chunk_n = int(ts), int(chunk)
    if timestamp_ms > 2**53 or chunk_n > 2**53:
        return None
    return Media(wire.streamSid, body.track, chunk_n, timestamp_ms, body.payload)


def parse_inbound(text: str | bytes) -> InboundEvent:
    """Parse one WebSocket frame from Twilio, defensively: any input either becomes an
    event or raises `ProtocolError` - never another exception.

    Bounds: `MAX_MESSAGE_CHARS` per frame, `MAX_DEPTH` nesting (checked before decoding),
    numbers bounded by the decoder (no NaN/Infinity/overflowing floats, integers of at
    most 64 bits) and, where read, by their field's range; `MAX_FIELD_CHARS` per id or
    name; every field must have its Twilio type.

    Args:
        text: the frame; Twilio sends only text frames, so `bytes` is an error.

    Raises:
        ProtocolError: binary frame, too big or too deep, not JSON, unknown event, missing
            or mistyped fields, bad base64.
    """
    if not isinstance(text, str):
        raise ProtocolError("binary frame (Twilio sends JSON text frames only)", "binary")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProtocolError(f"frame of {len(text)} characters (limit {MAX_MESSAGE_CHARS})", "size")
    fast = _fast_media(text)  # its fixed schema never recurses: no depth check needed
    if fast is not None:
        return fast
    if not _depth_ok(text):
        raise ProtocolError(f"JSON nested deeper than {MAX_DEPTH}", "depth")
    return _parse_general(text)


def _parse_general(text: str) -> InboundEvent:
    """`parse_inbound` for any frame within the size and depth bounds: orjson, then each
    field checked by hand."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        reason = clip(exc.msg, 80)
        kind = "number" if reason.startswith("number") else "json"
        raise ProtocolError(f"not JSON: {reason}", kind) from None
    if not isinstance(msg, dict):
        raise ProtocolError("not a JSON object", "type")
    try:
        return _event(msg)
    except ProtocolError:
        raise
    except Exception as exc:  # noqa: BLE001 - a backstop: no input may escape as another error
        raise ProtocolError(f"malformed message ({exc.__class__.__name__})", "type") from None


def _event(msg: dict[str, Any]) -> InboundEvent:
    event = msg.get("event")
    if not isinstance(event, str):
        raise ProtocolError("event: missing or not a string", "event")
    if event == "connected":
        return Connected(
            _str(msg.get("protocol", ""), "connected.protocol"),
            _str(msg.get("version", ""), "connected.version"),
        )
    if event == "start":
        return _start(msg)
    if event == "media":
        media = _obj(_get(msg, "media", "media"), "media.media")
        raw = _str(_get(media, "payload", "media"), "media.payload", MAX_MESSAGE_CHARS)
        try:
            payload = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("media.payload: bad base64", "base64") from None
        return Media(
            stream_sid=_sid(_get(msg, "streamSid", "media"), "media.streamSid"),
            track=_str(media.get("track", "inbound"), "media.track"),
            chunk=_int(media.get("chunk", 0), "media.chunk"),
            timestamp_ms=_int(_get(media, "timestamp", "media"), "media.timestamp"),
            payload=payload,
        )
    if event == "dtmf":
        body = _obj(_get(msg, "dtmf", "dtmf"), "dtmf.dtmf")
        digit = _str(_get(body, "digit", "dtmf"), "dtmf.digit")
        if digit not in DTMF_KEYS:
            raise ProtocolError(f"dtmf.digit: not a keypad key: {clip(digit, 20)}", "dtmf")
        return Dtmf(_sid(_get(msg, "streamSid", "dtmf"), "dtmf.streamSid"), digit)
    if event == "mark":
        body = _obj(_get(msg, "mark", "mark"), "mark.mark")
        name = _str(_get(body, "name", "mark"), "mark.name")
        return Mark(_sid(_get(msg, "streamSid", "mark"), "mark.streamSid"), name)
    if event == "stop":
        stop = _obj(msg.get("stop"), "stop.stop")
        return Stop(
            _sid(msg.get("streamSid", ""), "stop.streamSid"),
            _str(stop.get("callSid", ""), "stop.callSid"),
        )
    raise ProtocolError(f"unknown event {clip(event, 40)}", "event")


def _start(msg: dict[str, Any]) -> Start:
    st = _obj(_get(msg, "start", "start"), "start.start")
    fmt = _obj(st.get("mediaFormat"), "start.mediaFormat")
    params = _obj(st.get("customParameters"), "start.customParameters")
    tracks = st.get("tracks", ["inbound"])
    if not isinstance(tracks, list) or len(tracks) > 4:
        raise ProtocolError("start.tracks: not a list of track names", "type")
    custom: dict[str, str] = {}
    for key, value in params.items():
        if not isinstance(value, str):
            raise ProtocolError("start.customParameters: values must be strings", "type")
        custom[_str(key, "start.customParameters key")] = _str(
            value, "start.customParameters value", MAX_PARAM_CHARS
        )
    sid = msg.get("streamSid") or _get(st, "streamSid", "start")
    call_sid = _str(_get(st, "callSid", "start"), "start.callSid")
    if not call_sid:
        raise ProtocolError("start.callSid: empty", "field")
    return Start(
        stream_sid=_sid(sid, "start.streamSid"),
        call_sid=call_sid,
        account_sid=_str(st.get("accountSid", ""), "start.accountSid"),
        tracks=tuple(_str(t, "start.tracks") for t in tracks) or ("inbound",),
        encoding=_str(fmt.get("encoding", "audio/x-mulaw"), "start.mediaFormat.encoding"),
        sample_rate=_int(fmt.get("sampleRate", 8000), "start.mediaFormat.sampleRate", 1, 10**6),
        channels=_int(fmt.get("channels", 1), "start.mediaFormat.channels", 1, 64),
        custom_parameters=custom,
    )


class StreamTimestamps:
    """Checks `media.timestamp` against the stream's own progress (sans-I/O).

    Twilio's timestamp is ms since the stream started, so it can neither run backwards
    nor run far ahead of the time the stream has existed. A frame whose timestamp does is
    not dropped: it is placed right after the previous frame. (Trusting the largest value
    seen let one far-future frame make the call deaf for good; issue 6 item 2.)

    Args:
        now_ms: the clock (monotonic ms).
        slack_ms: how far ahead of elapsed stream time a timestamp may run (buffering,
            a sender ahead of real time).
    """

    def __init__(self, now_ms: Callable[[], float], slack_ms: float = 2000.0) -> None:
        self._now = now_ms
        self._t0 = now_ms()
        self._slack = slack_ms
        self._next = 0  # where the next frame is expected to start (ms)

    def place(self, ts_ms: int, frame_ms: int = 20) -> tuple[int, bool]:
        """The timestamp to use for a frame claiming `ts_ms`, and whether it was valid."""
        elapsed = self._now() - self._t0
        upper = max(self._next, elapsed) + self._slack
        ok = self._next - frame_ms <= ts_ms <= upper
        ts = ts_ms if ok else self._next
        self._next = max(self._next, ts + frame_ms)
        return ts, ok


def media_message(stream_sid: str, payload: bytes) -> str:
    """Server -> Twilio `media`: one μ-law frame, base64, no WAV header."""
    b64 = base64.b64encode(payload).decode("ascii")
    msg = {"event": "media", "streamSid": stream_sid, "media": {"payload": b64}}
    return orjson.dumps(msg).decode()


def mark_message(stream_sid: str, name: str) -> str:
    """Server -> Twilio `mark`."""
    msg = {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}
    return orjson.dumps(msg).decode()


def clear_message(stream_sid: str) -> str:
    """Server -> Twilio `clear`."""
    return orjson.dumps({"event": "clear", "streamSid": stream_sid}).decode()
