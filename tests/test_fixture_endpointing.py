"""The committed caller fixtures through the real codec, VAD and endpointer, as the server
hears them: every fixture is one committed utterance (a clause pause the short hangover
ends on is resumed within the resume window), none is cut short or discarded."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicectl.audio.endpointing import Endpointer, SpeechEnd, SpeechEvent, SpeechStart
from voicectl.audio.frames import split_frames
from voicectl.audio.g711 import ulaw_decode
from voicectl.audio.vad import WebRtcVAD
from voicectl.audio.wav import read_ulaw
from voicectl.config import Settings

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "audio").glob("*.wav"))


def test_fixtures_exist() -> None:
    assert len(FIXTURES) >= 4


# Fixtures with a deliberate mid-sentence hesitation ("…", 700 ms): two VAD segments on
# audio alone; one once the end-of-turn check extends the hangover (scenario
# dialog-mid-sentence-pause).
HESITATING = {"is_there_room_on_pause_tuesday_two_sports"}


def _events(path: Path, hangover_ms: int) -> tuple[list[SpeechEvent], int]:
    settings = Settings()
    ep = Endpointer(WebRtcVAD(), hangover_ms=hangover_ms, min_utt_ms=settings.min_utt_ms)
    ulaw = read_ulaw(path) + b"\xff" * 160 * 50  # then a second of line silence
    events: list[SpeechEvent] = []
    for i, frame in enumerate(split_frames(ulaw)):
        events += ep.push(ulaw_decode(frame), i * 20)
    return events, len(ulaw)


def _segments(path: Path, hangover_ms: int) -> tuple[list[SpeechStart], list[SpeechEnd], int]:
    events, n = _events(path, hangover_ms)
    starts = [e for e in events if isinstance(e, SpeechStart)]
    ends = [e for e in events if isinstance(e, SpeechEnd) and not e.discarded]
    return starts, ends, n


@pytest.mark.parametrize("path", [p for p in FIXTURES if p.stem in HESITATING], ids=str)
def test_a_hesitation_is_one_utterance_only_with_the_end_of_turn_wait(path: Path) -> None:
    settings = Settings()
    _, ends, _ = _segments(path, settings.vad_hangover_ms)
    assert len(ends) == 2  # audio alone: the pause ends a segment
    extended = settings.unfinished_hangover_ms
    _, ends, _ = _segments(path, extended)
    assert len(ends) == 1


@pytest.mark.parametrize(
    "path", [p for p in FIXTURES if p.stem not in HESITATING], ids=lambda p: p.stem
)
def test_fixture_is_one_utterance(path: Path) -> None:
    from voicectl.audio.vad_bench import committed

    settings = Settings()
    hangover = settings.vad_hangover_ms
    starts, ends, n = _segments(path, hangover)
    # The short hangover may end a clause pause tentatively; the caller's going on within
    # the resume window makes it one committed utterance (speculative endpointing).
    whole = committed(_events(path, hangover)[0], settings.turn_resume_window_ms)
    assert len(whole) == 1, (starts, ends)
    duration_ms = n // 8 - 1000
    assert whole[0].speech_end_ms - whole[0].speech_start_ms > 0.6 * duration_ms
    # each (tentative) end is decided VAD_HANGOVER_MS after the end of speech (to the next
    # frame boundary), not after WebRTC's own release ~100 ms later
    for end in ends:
        assert hangover <= end.endpoint_ms - end.speech_end_ms < hangover + 20
