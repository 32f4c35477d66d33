"""Hostile Media Streams input, for the property tests and the robustness bench.

`mutations()` turns the valid Twilio messages (TWILIO.md shapes) into the kinds of frames
an independent probe sent the server (issue 6 item 2): every field in turn replaced by a
hostile JSON literal (`1e999`, `Infinity`, `NaN`, a 5,000-digit number, deep nesting,
wrong types, lone surrogates, huge strings), plus non-JSON text, binary-looking text and
deeply nested documents. `hypothesis_frames()` is the same space as a hypothesis strategy.
Nothing here talks to a server.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from typing import Any

#: Raw JSON literals put in place of a field's value.
HOSTILE_LITERALS: tuple[str, ...] = (
    "1e999",
    "-1e999",
    "Infinity",
    "-Infinity",
    "NaN",
    "9" * 5000,
    "-" + "9" * 400,
    "1.7976931348623157e309",
    "0.1e-99999",
    "null",
    "true",
    "[]",
    "{}",
    '"\\ud800"',
    '"\\udcff tail"',
    '""',
    "-1",
    "1.5",
    '"1e999"',
    '"Infinity"',
    '"' + "x" * 70_000 + '"',
    "[" * 50 + "]" * 50,
    "[" * 2000 + "]" * 2000,
    '{"a":' * 200 + "1" + "}" * 200,
    '["inbound", 5, null]',
    '{"nested": {"deep": [1, 2, {"x": NaN}]}}',
)

#: Whole frames that are not valid messages at all.
HOSTILE_FRAMES: tuple[str, ...] = (
    "",
    "not json",
    "{",
    "}",
    "[1, 2]",
    '"just a string"',
    "null",
    "1e999",
    "[" * 100_000,
    "[" * 50_000 + "]" * 50_000,
    '{"event": "' + "E" * 1_000_000 + '"}',
    '{"event": null}',
    '{"event": ["media"]}',
    '{"event": "start"}',
    '{"event": "start", "start": []}',
    '{"event": "media", "media": "x"}',
    '{"event": "\\ud800"}',
    "\x00\x01\x02",
    '{"event": "media", "streamSid": "MZ", "media": {"payload": "' + "A" * 100_000 + '"}}',
)


def templates(call_sid: str, stream_sid: str) -> dict[str, dict[str, Any]]:
    """The valid inbound messages of one stream (TWILIO.md), `stop` excluded: a valid
    `stop` ends a call legitimately."""
    payload = base64.b64encode(b"\xff" * 160).decode()
    return {
        "connected": {"event": "connected", "protocol": "Call", "version": "1.0.0"},
        "start": {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": stream_sid,
            "start": {
                "accountSid": "AC1",
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"caller": "+972501234567"},
            },
        },
        "media": {
            "event": "media",
            "sequenceNumber": "4",
            "streamSid": stream_sid,
            "media": {"track": "inbound", "chunk": "2", "timestamp": "40", "payload": payload},
        },
        "dtmf": {
            "event": "dtmf",
            "sequenceNumber": "5",
            "streamSid": stream_sid,
            "dtmf": {"track": "inbound_track", "digit": "1"},
        },
        "mark": {
            "event": "mark",
            "sequenceNumber": "6",
            "streamSid": stream_sid,
            "mark": {"name": "turn-99"},
        },
    }


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


_HOLE = "\x00HOLE\x00"


def replace_at(msg: dict[str, Any], path: tuple[Any, ...], literal: str) -> str:
    """`msg` as JSON text with the value at `path` replaced by the raw JSON `literal`."""
    copy = json.loads(json.dumps(msg))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = _HOLE
    return json.dumps(copy).replace(json.dumps(_HOLE), literal)


def mutations(call_sid: str, stream_sid: str) -> Iterator[str]:
    """Every template with every field replaced by every hostile literal, then the whole
    hostile frames: a deterministic corpus (a few thousand frames)."""
    for msg in templates(call_sid, stream_sid).values():
        for path in _paths(msg):
            for literal in HOSTILE_LITERALS:
                yield replace_at(msg, path, literal)
    yield from HOSTILE_FRAMES


def random_frames(call_sid: str, stream_sid: str, n: int, seed: int = 0) -> list[str]:
    """`n` frames drawn from `mutations` plus random byte soup (reproducible by `seed`)."""
    rng = random.Random(seed)
    corpus = list(mutations(call_sid, stream_sid))
    out = []
    for _ in range(n):
        if rng.random() < 0.9:
            out.append(rng.choice(corpus))
        else:
            out.append("".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(64))))
    return out


def hypothesis_frames(call_sid: str, stream_sid: str) -> Any:
    """A hypothesis strategy of hostile text frames (import hypothesis only when used)."""
    from hypothesis import strategies as st

    msgs = list(templates(call_sid, stream_sid).values())
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )
    mutated = st.builds(
        lambda msg, i, lit: replace_at(msg, list(_paths(msg))[i % len(list(_paths(msg)))], lit),
        st.sampled_from(msgs),
        st.integers(min_value=0, max_value=1000),
        st.sampled_from(HOSTILE_LITERALS)
        | json_values.map(lambda v: json.dumps(v, ensure_ascii=False)),
    )
    shaped = st.builds(
        lambda event, body: json.dumps({"event": event, "streamSid": stream_sid, **body}),
        st.sampled_from(["media", "dtmf", "mark", "start", "connected", "bogus", ""]),
        st.dictionaries(st.sampled_from(["media", "dtmf", "mark", "start", "stop"]), json_values),
    )
    return st.one_of(
        mutated,
        shaped,
        st.sampled_from(HOSTILE_FRAMES),
        st.text(max_size=200),
        json_values.map(json.dumps),
    )
