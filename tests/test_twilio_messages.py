"""The Media Streams message parser and builders (TWILIO.md shapes, exactly)."""

from __future__ import annotations

import base64
import json

import pytest

from voicectl.telephony.twilio import messages as m

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"


def test_parses_every_twilio_event() -> None:
    start = m.parse_inbound(
        json.dumps(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": SID,
                "start": {
                    "accountSid": "AC1",
                    "streamSid": SID,
                    "callSid": "CA1",
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": {"caller": "+972501234567"},
                },
            }
        )
    )
    assert isinstance(start, m.Start)
    assert start.call_sid == "CA1" and start.custom_parameters == {"caller": "+972501234567"}
    payload = bytes(range(160))
    media = m.parse_inbound(
        json.dumps(
            {
                "event": "media",
                "sequenceNumber": "4",
                "streamSid": SID,
                "media": {
                    "track": "inbound",
                    "chunk": "2",
                    "timestamp": "20",
                    "payload": base64.b64encode(payload).decode(),
                },
            }
        )
    )
    assert media == m.Media(SID, "inbound", 2, 20, payload)
    dtmf = {"event": "dtmf", "streamSid": SID, "dtmf": {"track": "inbound_track", "digit": "#"}}
    assert m.parse_inbound(json.dumps(dtmf)) == m.Dtmf(SID, "#")
    mark = {"event": "mark", "streamSid": SID, "mark": {"name": "turn-1"}}
    assert m.parse_inbound(json.dumps(mark)) == m.Mark(SID, "turn-1")
    stop = {"event": "stop", "streamSid": SID, "stop": {"accountSid": "AC1", "callSid": "CA1"}}
    assert m.parse_inbound(json.dumps(stop)) == m.Stop(SID, "CA1")


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (b"\x00\x01", "binary"),
        ("not json", "not JSON"),
        ('{"event": "hello"}', "unknown event"),
        (
            '{"event": "media", "streamSid": "MZ", "media": {"payload": "%%%", "timestamp": "0"}}',
            "base64",
        ),
        ('{"event": "media", "streamSid": "MZ", "media": {"payload": ""}}', "timestamp"),
        ('{"event": "dtmf", "streamSid": "MZ", "dtmf": {"digit": "x"}}', "keypad"),
        ("[1, 2]", "object"),
    ],
)
def test_bad_frames_raise_protocol_error(frame: str | bytes, problem: str) -> None:
    with pytest.raises(m.ProtocolError, match=problem):
        m.parse_inbound(frame)


def test_outbound_messages_have_exactly_twilios_fields() -> None:
    media = json.loads(m.media_message(SID, b"\xff" * 160))
    assert set(media) == {"event", "streamSid", "media"} and set(media["media"]) == {"payload"}
    assert base64.b64decode(media["media"]["payload"]) == b"\xff" * 160
    assert json.loads(m.mark_message(SID, "turn-3")) == {
        "event": "mark",
        "streamSid": SID,
        "mark": {"name": "turn-3"},
    }
    assert json.loads(m.clear_message(SID)) == {"event": "clear", "streamSid": SID}


# ---------------------------------------------------------------- the media fast path
# `parse_inbound` decodes Twilio-shaped `media` messages with one msgspec call and sends
# everything else to the general parser. The fast path may only take a message the
# general parser returns the same `Media` for.

_WIRE_MEDIA = {
    "event": "media",
    "sequenceNumber": "4",
    "media": {"track": "inbound", "chunk": "2", "timestamp": "20", "payload": "/w=="},
    "streamSid": SID,
}


def _variants() -> list[str]:
    """Media messages bent one field at a time: types, ranges, escapes, base64, keys."""
    out = [json.dumps(_WIRE_MEDIA)]
    values: list[object] = [
        None,
        0,
        20,
        -1,
        1.5,
        True,
        "",
        " 20",
        "20 ",
        "-20",
        "+20",
        "2" * 15,
        "2" * 16,
        str(2**53),
        str(2**53 + 1),
        "²",
        "٣",
        "0020",
        "x",
        [],
        {},
        "MZ\\u0041",
        "\\ud800",
        "/w=",
        "/w",
        "/w===",
        "_w==",
        "/w==\\n",
        "/+9=",
        "////",
        "a" * 300,
    ]
    for where in ("timestamp", "chunk", "track", "payload"):
        for v in values:
            msg = json.loads(json.dumps(_WIRE_MEDIA))
            msg["media"][where] = v
            text = json.dumps(msg, ensure_ascii=False)
            out.append(text.replace("\\\\", "\\"))  # let "\\u0041" through as an escape
    for v in values:
        msg = dict(_WIRE_MEDIA, streamSid=v)
        out.append(json.dumps(msg, ensure_ascii=False).replace("\\\\", "\\"))
        out.append(json.dumps(dict(_WIRE_MEDIA, sequenceNumber=v)).replace("\\\\", "\\"))
    body = json.dumps(_WIRE_MEDIA)[:-1]
    out += [
        body + ', "x": 1e999}',  # an unknown field orjson refuses
        body + ', "x": ' + "9" * 400 + "}",
        body + ', "extra": {"a": [1, 2]}}',
        body + ', "event": "mark", "mark": {"name": "x"}}',  # duplicate keys
        body + ', "media": {"timestamp": "40", "payload": "/w=="}}',
        body.replace('"track": "inbound", ', ""),
        body.replace('"chunk": "2", ', ""),
        body.replace('"timestamp": "20", ', ""),
        body + "}  ",
        body + "}}",
        body + ",}",
    ]
    return out


def _outcome(frame: str) -> object:
    """What `parse_inbound` makes of `frame`: the event, or the ProtocolError's kind."""
    try:
        return m.parse_inbound(frame)
    except m.ProtocolError as exc:
        return exc.kind


def test_the_media_fast_path_agrees_with_the_general_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from voicectl.sim.fuzz import mutations

    frames = _variants() + list(mutations("CA" + "1" * 32, SID))
    # (parse_inbound checks the size first, then tries the fast path)
    fast = {i: m._fast_media(f) for i, f in enumerate(frames) if len(f) <= m.MAX_MESSAGE_CHARS}
    with_fast = [_outcome(f) for f in frames]
    monkeypatch.setattr(m, "_fast_media", lambda text: None)  # the general parser alone
    for i, frame in enumerate(frames):
        general = _outcome(frame)
        if fast.get(i) is not None:
            assert fast[i] == general, frame[:300]
        assert with_fast[i] == general, frame[:300]
    assert sum(f is not None for f in fast.values()) >= 20  # in use, not dead code


def test_what_twilio_and_the_emulator_send_takes_the_fast_path() -> None:
    from voicectl.sim import emulator

    frames = [json.dumps(_WIRE_MEDIA), json.dumps(_WIRE_MEDIA, separators=(",", ":"))]
    payload = emulator._SILENCE_B64
    frames.append(json.dumps(dict(_WIRE_MEDIA, media=dict(_WIRE_MEDIA["media"], payload=payload))))
    for frame in frames:
        assert m._fast_media(frame) == m._parse_general(frame)
