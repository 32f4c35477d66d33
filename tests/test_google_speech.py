"""Google STT and TTS against a loopback gRPC fake (tests/fakes/google_server.py), through
the real `google-cloud-speech` / `google-cloud-texttospeech` clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from fakes.google_server import FakeGoogle
from google.cloud import speech_v1, texttospeech_v1

from voicectl import providers
from voicectl.audio.g711 import ulaw_encode
from voicectl.audio.wav import read_wav_8k
from voicectl.config import Settings
from voicectl.providers import ProviderError, Providers
from voicectl.runtime import Runtime
from voicectl.speech.stt.base import STTResult
from voicectl.speech.stt.google import GoogleSTT, GoogleSTTStream
from voicectl.speech.tts.base import TTSError
from voicectl.speech.tts.google import GoogleTTS, sentences

FIXTURE = "fixtures/audio/book_tomorrow_noon.wav"


@pytest.fixture()
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle(lines=["תקבע לי מחר ב-12 שוודי, השם דני"]) as f:
        yield f


class Results:
    def __init__(self) -> None:
        self.items: list[STTResult] = []
        self.final = threading.Event()

    def __call__(self, r: STTResult) -> None:
        self.items.append(r)
        if r.is_final:
            self.final.set()


def _speak(stream: GoogleSTTStream, pcm: np.ndarray, t0: int = 0) -> int:
    """Feed whole 20 ms frames as the call core does; returns the end time (ms)."""
    stream.utterance_start(t0)
    ts = t0
    for i in range(0, len(pcm) - 159, 160):
        stream.feed(pcm[i : i + 160], ts)
        ts += 20
    return ts


def test_streaming_config_and_audio_on_the_wire(fake: FakeGoogle) -> None:
    stt = GoogleSTT(endpoint=fake.endpoint, timeout_ms=2000)
    got = Results()
    stream = stt.open(got, hints=["שוודי", "עיסוי שוודי"])
    pcm = read_wav_8k(FIXTURE)
    end = _speak(stream, pcm)
    time.sleep(0.3)  # fed faster than real time: let the interim results arrive
    stream.utterance_end(end, discarded=False)
    assert got.final.wait(5)
    stream.close()
    finals = [r.text for r in got.items if r.is_final]
    partials = [r.text for r in got.items if not r.is_final]
    assert finals == ["תקבע לי מחר ב-12 שוודי, השם דני"]
    assert partials and all("תקבע לי מחר ב-12 שוודי, השם דני".startswith(p) for p in partials)
    (log,) = fake.streams
    cfg = log.config
    assert cfg.interim_results is True and cfg.single_utterance is False
    rc = cfg.config
    assert rc.language_code == "he-IL" and rc.sample_rate_hertz == 8000
    assert rc.encoding == speech_v1.RecognitionConfig.AudioEncoding.MULAW
    assert rc.model == "default" and rc.enable_automatic_punctuation is False
    phrases = list(rc.speech_contexts[0].phrases)
    for hint in ["שעה", "תור", "יום ראשון", "שתים עשרה", "שוודי", "עיסוי שוודי"]:
        assert hint in phrases
    assert len(phrases) <= 5000 and all(len(p) <= 100 for p in phrases)
    # The audio, as it arrived: μ-law 20 ms per request, byte for byte.
    whole = len(pcm) // 160 * 160
    assert bytes(log.audio) == ulaw_encode(pcm[:whole])
    assert log.requests == 1 + whole // 160 and log.max_request_bytes < 25_000


def test_rotation_loses_and_duplicates_nothing() -> None:
    with FakeGoogle(stream_texts=["אני רוצה לקבוע", "תור למחר", "בשעה שתים עשרה"]) as fake:
        stt = GoogleSTT(endpoint=fake.endpoint, timeout_ms=2000, rotate_s=1.0)
        got = Results()
        stream = stt.open(got)
        rng = np.random.default_rng(7)
        pcm = (rng.standard_normal(8000 * 5 // 2) * 3000).astype(np.int16)  # 2.5 s
        end = _speak(stream, pcm)
        stream.utterance_end(end, discarded=False)
        assert got.final.wait(5)
        stream.close()
    sent = ulaw_encode(pcm)
    # The streams in the order the client opened them (the server may see them race).
    streams = sorted(fake.streams, key=lambda s: sent.find(bytes(s.audio)))
    assert [len(s.audio) for s in streams] == [8000, 8000, 4000]
    assert b"".join(bytes(s.audio) for s in streams) == sent  # nothing lost or sent twice
    assert all(s.config.config.language_code == "he-IL" for s in streams)
    joined = " ".join(t for s in streams for t in s.texts)
    assert sorted(joined.split()) == sorted("אני רוצה לקבוע תור למחר בשעה שתים עשרה".split())
    assert [r.text for r in got.items if r.is_final] == [joined]


def test_a_late_final_gives_the_best_text_within_stt_timeout() -> None:
    with FakeGoogle(lines=["תקבע לי מחר ב-12 שוודי, השם דני"], final_delay_s=1.0) as fake:
        got = Results()
        stream = GoogleSTT(endpoint=fake.endpoint, timeout_ms=80, debounce_ms=0).open(got)
        end = _speak(stream, read_wav_8k(FIXTURE))
        time.sleep(0.3)  # the interim results are in
        t0 = time.monotonic()
        stream.utterance_end(end, discarded=False)
        assert got.final.wait(2)
        waited = time.monotonic() - t0
        stream.close()
    finals = [r.text for r in got.items if r.is_final]
    partials = [r.text for r in got.items if not r.is_final]
    assert finals == [partials[-1]]  # the best text so far, not the late final
    assert waited < 0.5
    time.sleep(1.0)
    assert len([r for r in got.items if r.is_final]) == 1  # the late final was dropped


def test_partials_are_debounced(fake: FakeGoogle) -> None:
    got_fast, got_slow = Results(), Results()
    for debounce, got in ((0, got_fast), (100_000, got_slow)):
        fake.lines = ["אחת שתיים שלוש ארבע חמש שש שבע שמונה תשע עשר"]
        stt = GoogleSTT(endpoint=fake.endpoint, timeout_ms=2000, debounce_ms=debounce)
        stream = stt.open(got)
        rng = np.random.default_rng(1)
        end = _speak(stream, (rng.standard_normal(8000 * 3) * 3000).astype(np.int16))
        time.sleep(0.3)
        stream.utterance_end(end, discarded=False)
        assert got.final.wait(5)
        stream.close()
    assert len([r for r in got_fast.items if not r.is_final]) >= 5
    assert len([r for r in got_slow.items if not r.is_final]) == 1


def test_a_discarded_utterance_yields_nothing(fake: FakeGoogle) -> None:
    got = Results()
    stream = GoogleSTT(endpoint=fake.endpoint, timeout_ms=500).open(got)
    end = _speak(stream, read_wav_8k(FIXTURE)[:1600])
    stream.utterance_end(end, discarded=True)
    time.sleep(0.6)
    stream.close()
    assert not [r for r in got.items if r.is_final]


def test_a_model_without_hebrew_is_a_start_up_error() -> None:
    providers.reset_for_tests()
    with pytest.raises(ProviderError, match="'latest_short' does not take Hebrew.*default"):
        Providers(Settings(stt="google", google_stt_model="latest_short"))
    with pytest.raises(ProviderError, match="not Hebrew"):
        Providers(Settings(tts="google", google_tts_voice="en-US-Wavenet-A"))


def test_tts_asks_for_mulaw_8k_sentence_by_sentence_and_normalises(fake: FakeGoogle) -> None:
    tts = GoogleTTS(voice="he-IL-Chirp3-HD-Achird", endpoint=fake.endpoint, keepwarm_s=0)
    chunks = list(tts.synthesize("יש תור מחר ב-12:00. מתאים לך?"))
    assert len(chunks) == 2 and all(c.dtype == np.int16 and len(c) for c in chunks)
    assert [r.input.text for r in fake.syntheses] == ["יש תור מחר בשתים עשרה.", "מתאים לך?"]
    req = fake.syntheses[0]
    assert req.voice.language_code == "he-IL" and req.voice.name == "he-IL-Chirp3-HD-Achird"
    assert req.audio_config.audio_encoding == texttospeech_v1.AudioEncoding.MULAW
    assert req.audio_config.sample_rate_hertz == 8000
    # The WAV header is gone: the audio decodes to the fake's tone, not header bytes.
    assert np.abs(chunks[1][:40].astype(int)).max() < 1700
    assert len(chunks[1]) == int(8000 * 0.07 * len("מתאים לך?"))


def test_tts_failures_raise_tts_error_and_warmup_keeps_warm() -> None:
    with FakeGoogle(fail_synthesis=True) as fake:
        tts = GoogleTTS(endpoint=fake.endpoint, keepwarm_s=0)
        with pytest.raises(TTSError, match="Google TTS failed"):
            list(tts.synthesize("שלום."))
    with FakeGoogle() as fake:
        tts = GoogleTTS(endpoint=fake.endpoint, keepwarm_s=0.2)
        tts.warmup()
        time.sleep(0.6)
        tts.close()
        assert len(fake.syntheses) >= 2 and tts.pings >= 1  # the prewarm, then pings


def test_sentences() -> None:
    assert sentences("שלום. מה שלומך? טוב!") == ["שלום.", "מה שלומך?", "טוב!"]
    assert sentences("  ") == []


def test_runtime_prewarm_logs_and_the_registry_builds_google_once(
    fake: FakeGoogle, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    providers.reset_for_tests()
    s = Settings(
        database=str(tmp_path / "g.db"),
        stt="google",
        tts="google",
        google_api_endpoint=fake.endpoint,
        tts_keepwarm_sec=0,
    )
    rt = Runtime(s)
    assert rt.describe().startswith("providers: agent=offline stt=google tts=google vad=webrtc")
    with caplog.at_level("INFO", logger="voicectl.runtime"):
        rt.warmup()
    assert any("TTS prewarm took" in r.getMessage() for r in caplog.records)
    assert Runtime(s).stt is rt.stt
    assert providers.construction_counts()[("stt", "google")] == 1
    providers.reset_for_tests()


def _part(stream: GoogleSTTStream, pcm: np.ndarray, t0: int, resume: bool) -> int:
    """One VAD part of an utterance: start (or resume), frames, end; returns its end."""
    (stream.utterance_resume if resume else stream.utterance_start)(t0)
    ts = t0
    for i in range(0, len(pcm) - 159, 160):
        stream.feed(pcm[i : i + 160], ts)
        ts += 20
    stream.utterance_end(ts, discarded=False)
    return ts


@pytest.mark.parametrize("final_first", [True, False], ids=["final-delivered", "final-pending"])
def test_a_resumed_utterance_gets_one_final_of_both_parts(final_first: bool) -> None:
    """Speculative endpointing: the caller goes on after a tentative end. Whether the
    first part's final was already delivered (its turn is then taken back) or not yet
    (it is then dropped), the next final is the transcript of the whole utterance, and
    each part's audio was recognised once."""
    delay = 0.0 if final_first else 0.5
    texts = ["אני רוצה תור", "למחר בשתיים"]
    with FakeGoogle(stream_texts=texts, final_delay_s=delay) as fake:
        got = Results()
        stream = GoogleSTT(endpoint=fake.endpoint, timeout_ms=3000).open(got)
        rng = np.random.default_rng(3)
        pcm = (rng.standard_normal(8000) * 3000).astype(np.int16)  # 1 s per part
        end = _part(stream, pcm, 0, resume=False)
        # The fake hands its texts out in the order streams half-close at the server; let
        # the first part's stream take the first text before the second part opens (under
        # load the server could see the second stream's half-close first).
        deadline = time.monotonic() + 5
        while not any(s.texts for s in fake.streams) and time.monotonic() < deadline:
            time.sleep(0.01)
        if final_first:
            assert got.final.wait(5)
            got.final.clear()
        _part(stream, pcm, end + 150, resume=True)
        assert got.final.wait(5)
        time.sleep(delay + 0.3)  # a dropped first-part final would have come by now
        stream.close()
    finals = [r.text for r in got.items if r.is_final]
    whole = " ".join(texts)
    assert finals == ([texts[0], whole] if final_first else [whole])
    assert sorted(len(s.audio) for s in fake.streams) == [8000, 8000]
