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
