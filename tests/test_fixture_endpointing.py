"""The committed caller fixtures through the real codec, VAD and endpointer, as the server
hears them: every fixture is one utterance, none is cut short or discarded."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicectl.audio.endpointing import Endpointer, SpeechEnd, SpeechStart
from voicectl.audio.frames import split_frames
from voicectl.audio.g711 import ulaw_decode
from voicectl.audio.vad import WebRtcVAD
from voicectl.audio.wav import read_ulaw
from voicectl.config import Settings

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "audio").glob("*.wav"))


def test_fixtures_exist() -> None:
    assert len(FIXTURES) >= 4


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_is_one_utterance(path: Path) -> None:
    settings = Settings()
    ep = Endpointer(
        WebRtcVAD(), hangover_ms=settings.vad_hangover_ms, min_utt_ms=settings.min_utt_ms
    )
    ulaw = read_ulaw(path) + b"\xff" * 160 * 50  # then a second of line silence
    events = []
    for i, frame in enumerate(split_frames(ulaw)):
        events += ep.push(ulaw_decode(frame), i * 20)
    starts = [e for e in events if isinstance(e, SpeechStart)]
    ends = [e for e in events if isinstance(e, SpeechEnd) and not e.discarded]
    assert len(starts) == 1 and len(ends) == 1, events
    duration_ms = len(ulaw) // 8 - 1000
    assert ends[0].speech_end_ms - ends[0].speech_start_ms > 0.6 * duration_ms
