"""No input ends a call (issue 6 item 2): property tests over the Media Streams parser and
over the live bridge (a real WebSocket on loopback), then the call still answers speech."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media_client import media_msg, start_msg, stream_of, voice
from websockets.sync.client import connect

from voicectl.audio.wav import read_wav_8k
from voicectl.config import Settings
from voicectl.sim.emulator import prepare_utterance
from voicectl.sim.fuzz import HOSTILE_FRAMES, hypothesis_frames, mutations
from voicectl.sim.runner import InProcessServer
from voicectl.speech.stt.script import SCRIPT_PARAM, ScriptLine, encode_script
from voicectl.telephony.twilio import messages as m

ROOT = Path(__file__).resolve().parents[1]
CALL, STREAM = "CAfuzz000000000000000000000000001", "MZfuzz000000000000000000000000001"
SAY = "תקבע לי מחר ב-12 שוודי, השם דני"


def _parse_ok(frame: str | bytes) -> None:
    try:
        ev = m.parse_inbound(frame)
    except m.ProtocolError as exc:
        assert exc.kind and len(str(exc)) < 400  # a short reason, caller text clipped
        return
    assert isinstance(ev, m.Connected | m.Start | m.Media | m.Dtmf | m.Mark | m.Stop)


@pytest.mark.parametrize(
    "frame",
    [
        '{"event":"media","streamSid":"MZ","media":{"timestamp":1e999,"payload":""}}',
        '{"event":"media","streamSid":"MZ","media":{"timestamp":"1","chunk":Infinity,"payload":""}}',
        '{"event":"start","start":{"callSid":"CA","mediaFormat":{"sampleRate":1e999}}}',
        '{"event":"media","streamSid":"MZ","media":{"timestamp":' + "9" * 5000 + ',"payload":""}}',
        "[" * 100_000 + "]" * 100_000,
        '{"event":"start","start":{"callSid":"CA","tracks":5}}',
        '{"event":"start","start":{"callSid":"CA","tracks":[{"a":1}]}}',
        '{"event":"start","start":{"callSid":"CA","customParameters":{"k":["v"]}}}',
        '{"event":"mark","streamSid":"MZ","mark":{"name":{"x":1}}}',
        '{"event":"dtmf","streamSid":"MZ","dtmf":{"digit":5}}',
        '{"event":"media","streamSid":7,"media":{"timestamp":"0","payload":"/w=="}}',
    ],
)
def test_the_probes_findings_raise_protocol_error(frame: str) -> None:
    """Each of these escaped as TypeError, OverflowError, ValueError or RecursionError."""
    with pytest.raises(m.ProtocolError):
        m.parse_inbound(frame)


def test_the_whole_mutation_corpus_parses_or_raises_protocol_error() -> None:
    frames = list(mutations(CALL, STREAM))
    assert len(frames) > 900
    for frame in frames:
        _parse_ok(frame)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hypothesis_frames(CALL, STREAM))
def test_parser_property_any_text_parses_or_raises_protocol_error(frame: str) -> None:
    _parse_ok(frame)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "replace")))
def test_parser_property_bytes_are_refused(frame: bytes) -> None:
    with pytest.raises(m.ProtocolError):
        m.parse_inbound(frame)


def test_timestamps_are_checked_against_the_streams_progress() -> None:
    now = [0.0]
    stamps = m.StreamTimestamps(lambda: now[0])
    assert stamps.place(0) == (0, True)
    assert stamps.place(20) == (20, True)
    assert stamps.place(10**12) == (40, False)  # far future: placed after the last frame
    assert stamps.place(60) == (60, True)  # ...and the stream goes on from where it was
    assert stamps.place(-5000) == (80, False)  # backwards
    now[0] = 10_000.0  # ten seconds of real time later (a network gap)
    assert stamps.place(10_000) == (10_000, True)


class FuzzCall:
    """One live call over a sync WebSocket; a reader thread echoes every mark."""

    def __init__(self, base: str) -> None:
        pcm = read_wav_8k(ROOT / "fixtures/audio/book_tomorrow_noon.wav")
        self.utterance = prepare_utterance(pcm)
        voiced = (self.utterance.last_voiced - self.utterance.first_voiced + 1) * 20
        r = voice(base, CALL)
        self.url, params = stream_of(r.text)
        # Several copies: a fuzzed frame that happens to be loud may take one transcript.
        params[SCRIPT_PARAM] = encode_script([ScriptLine(SAY, voiced)] * 40)
        self.ws = connect(self.url, max_size=2**24).__enter__()
        self.ws.send(start_msg(CALL, STREAM, params))
        self.marks: list[str] = []
        self.media = 0
        self.closed = threading.Event()
        self.ts = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                msg = json.loads(raw)
                if msg["event"] == "mark":
                    self.marks.append(msg["mark"]["name"])
                    self.ws.send(
                        json.dumps({"event": "mark", "streamSid": STREAM, "mark": msg["mark"]})
                    )
                elif msg["event"] == "media":
                    self.media += 1
        except Exception:  # noqa: BLE001 - the connection ended
            pass
        finally:
            self.closed.set()

    def wait_marks(self, n: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.marks) < n and time.monotonic() < deadline and not self.closed.is_set():
            time.sleep(0.05)
        assert len(self.marks) >= n, f"only {self.marks} after {timeout_s} s"

    def speak(self) -> None:
        for frame in self.utterance.frames + [b"\xff" * 160] * 40:
            self.ws.send(media_msg(STREAM, self.ts, frame))
            self.ts += 20
            time.sleep(0.02)


@pytest.fixture(scope="module")
def fuzz_call(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessServer, Any]]:
    db = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    with InProcessServer(Settings(database=str(db))) as srv:
        call = FuzzCall(srv.http_base)
        call.wait_marks(1)  # the greeting played
        yield srv, call
        call.ws.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=st.lists(hypothesis_frames(CALL, STREAM), min_size=1, max_size=15))
def test_bridge_property_no_frame_ends_the_call(
    fuzz_call: tuple[InProcessServer, Any], frames: list[str]
) -> None:
    srv, call = fuzz_call
    for frame in frames:
        call.ws.send(frame)
    call.ws.ping().wait(30)  # the server still reads this socket
    assert not call.closed.is_set()
    assert CALL in srv.runtime.active


def test_bridge_after_the_fuzzing_the_call_still_answers_speech(
    fuzz_call: tuple[InProcessServer, Any],
) -> None:
    srv, call = fuzz_call
    for frame in list(mutations(CALL, STREAM))[::7] + list(HOSTILE_FRAMES):
        call.ws.send(frame)
    # A far-future timestamp used to make the call deaf for good.
    call.ws.send(media_msg(STREAM, 10**12))
    call.ts = 0  # and Twilio's own timestamps carry on as before
    before = len(call.marks)
    runner = srv.runtime.active[CALL]
    turns_before = len(runner.session.turns)
    call.speak()
    call.wait_marks(before + 1)

    def answered() -> bool:
        new = runner.session.turns[turns_before:]
        return any(t.kind == "speech" and t.user_text == SAY and t.bot_text for t in new)

    # A mark may be a reply to a fuzzed frame that happened to sound like speech (still
    # in flight when the turns were counted): wait for the answer to this utterance.
    deadline = time.monotonic() + 60
    while not answered() and time.monotonic() < deadline and not call.closed.is_set():
        time.sleep(0.05)
    assert CALL in srv.runtime.active and not call.closed.is_set()
    assert answered(), [
        (t.kind, t.user_text, t.bot_text) for t in runner.session.turns[turns_before:]
    ]
    errors = [e for e in runner.session.errors]
    assert not errors, errors


def test_fuzzed_webhooks_never_answer_5xx(tmp_path: Path) -> None:
    hostile = ["", "x" * 70_000, "\ud800", "1e999", "CA" + "9" * 5000, "%00", "&&&=", "a=b"]
    with InProcessServer(Settings(database=str(tmp_path / "wh.db")), simulation=False) as srv:
        base = srv.http_base
        voice(base, "CAwebhook01")
        sent = 0
        for path in ("/voice", "/webhook/status", "/webhook/dtmf_done"):
            for field in ("CallSid", "From", "To", "Digits", "CallStatus", "Other"):
                for value in hostile:
                    data = {"CallSid": "CAwebhook01", field: value}
                    body = "&".join(
                        f"{k}={base64.b64encode(v.encode('utf-8', 'surrogatepass')).decode()}"
                        if k == "Other"
                        else f"{k}={v}"
                        for k, v in data.items()
                    ).encode("utf-8", "surrogatepass")
                    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
                    r = httpx.post(f"{base}{path}", content=body, headers=ctype)
                    sent += 1
                    assert r.status_code < 500, (path, field, value[:20], r.status_code)
        assert sent == 3 * 6 * len(hostile)
        assert httpx.get(f"{base}/healthz").status_code == 200
