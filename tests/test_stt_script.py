"""The script recogniser: the simulator's transcripts, timed by the server's real VAD."""

from __future__ import annotations

import numpy as np

from voicectl.speech.stt.base import STTResult
from voicectl.speech.stt.script import ScriptLine, ScriptSTTStream, encode_script, parse_script

FRAME = np.zeros(160, np.int16)


def _speak(stream: ScriptSTTStream, start: int, end: int) -> None:
    stream.utterance_start(start)
    for ts in range(start, end, 20):
        stream.feed(FRAME, ts)
    stream.utterance_end(end, discarded=False)


def test_round_trip_of_the_parameter() -> None:
    lines = [ScriptLine("שלום. אני רוצה תור", 1800), ScriptLine("כן", None)]
    assert parse_script(encode_script(lines)) == lines
    assert parse_script('["רק טקסט"]') == [ScriptLine("רק טקסט")]


def test_a_paused_utterance_gets_one_final_at_its_real_end() -> None:
    out: list[STTResult] = []
    stream = ScriptSTTStream([ScriptLine("שלום. אני רוצה תור למחר", 2000), "כן"], out.append)
    _speak(stream, 0, 800)  # "שלום." then a sentence pause longer than the hangover
    assert not [r for r in out if r.is_final]
    _speak(stream, 1100, 2000)
    finals = [r.text for r in out if r.is_final]
    assert finals == ["שלום. אני רוצה תור למחר"]
    _speak(stream, 5000, 5400)
    assert [r.text for r in out if r.is_final][-1] == "כן"


def test_partials_grow_and_never_exceed_the_transcript() -> None:
    out: list[STTResult] = []
    stream = ScriptSTTStream(["אחת שתיים שלוש ארבע"], out.append)
    _speak(stream, 0, 1500)
    partials = [r.text for r in out if not r.is_final]
    assert partials and partials[0] == "אחת"
    assert all(len(a) < len(b) for a, b in zip(partials, partials[1:], strict=False))
    assert out[-1] == STTResult("אחת שתיים שלוש ארבע", is_final=True)


def test_a_resumed_line_is_taken_up_again_and_the_next_line_waits() -> None:
    """Speculative endpointing: a part long enough for its final gives the line's text;
    when the caller goes on (`utterance_resume`) the same line is finalised again at the
    end of the whole, and the next line is still the next utterance's."""
    out: list[STTResult] = []
    stream = ScriptSTTStream([ScriptLine("אני רוצה תור למחר", 1000), "כן"], out.append)
    _speak(stream, 0, 700)  # 70 % of the line: its final goes out at the tentative end
    assert [r.text for r in out if r.is_final] == ["אני רוצה תור למחר"]
    stream.utterance_resume(850)
    for ts in range(850, 1200, 20):
        stream.feed(FRAME, ts)
    stream.utterance_end(1200, discarded=False)
    assert [r.text for r in out if r.is_final] == ["אני רוצה תור למחר"] * 2
    _speak(stream, 3000, 3400)
    assert [r.text for r in out if r.is_final][-1] == "כן"
