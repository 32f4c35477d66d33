"""The script recogniser: transcripts supplied by the simulator, timing from the real VAD.

A simulated call carries its caller turns' transcripts in the stream's
`start.customParameters` (parameter `voicectl.script`, a JSON list of strings, one per
caller utterance). The server still runs its real VAD over the real audio; this recogniser
only decides *what* was said: each utterance the VAD keeps takes the next transcript.
Partials are emitted while the utterance is voiced - a growing prefix, about one word per
`ms_per_word` - and the final at the end of the utterance. It never sees any other
parameter, and no other recogniser ever sees the script.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable

import numpy as np

from voicectl.speech.stt.base import ResultCallback, STTResult

SCRIPT_PARAM = "voicectl.script"


def parse_script(raw: str | None) -> list[str]:
    """Decode the `voicectl.script` parameter (a JSON list of strings).

    Raises:
        ValueError: not JSON, or not a list of strings.
    """
    if not raw:
        return []
    value = json.loads(raw)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{SCRIPT_PARAM} must be a JSON list of strings")
    return value


def encode_script(transcripts: Iterable[str]) -> str:
    """Encode transcripts for the `voicectl.script` parameter."""
    return json.dumps(list(transcripts), ensure_ascii=False)


class ScriptSTTStream:
    """Per-call script recogniser (see the module docstring).

    Args:
        transcripts: the caller's utterances, in order.
        on_result: where results go.
        first_partial_ms: voiced ms before the first partial (about a word).
        ms_per_word: voiced ms per further word of partial text.
    """

    def __init__(
        self,
        transcripts: Iterable[str],
        on_result: ResultCallback,
        first_partial_ms: int = 200,
        ms_per_word: int = 300,
    ) -> None:
        self._pending = deque(transcripts)
        self._on_result = on_result
        self._first_partial_ms = first_partial_ms
        self._ms_per_word = ms_per_word
        self._voiced_ms = 0
        self._words_out = 0
        self._active = False

    def utterance_start(self, ts_ms: int) -> None:
        self._active = True
        self._voiced_ms = 0
        self._words_out = 0

    def feed(self, pcm: np.ndarray, ts_ms: int) -> None:
        if not self._active or not self._pending:
            return
        self._voiced_ms += int(len(pcm) * 1000 / 8000)
        words = self._pending[0].split()
        if self._voiced_ms < self._first_partial_ms:
            return
        due = 1 + (self._voiced_ms - self._first_partial_ms) // self._ms_per_word
        due = min(int(due), max(len(words) - 1, 1))
        if due > self._words_out:
            self._words_out = due
            self._on_result(STTResult(" ".join(words[:due]), is_final=False))

    def utterance_end(self, ts_ms: int, discarded: bool) -> None:
        self._active = False
        if discarded:
            return
        text = self._pending.popleft() if self._pending else ""
        self._on_result(STTResult(text, is_final=True))

    def close(self) -> None:
        self._pending.clear()


class NoSTTStream:
    """Used when no recogniser is configured: every utterance is an empty final."""

    def __init__(self, on_result: ResultCallback) -> None:
        self._on_result = on_result

    def utterance_start(self, ts_ms: int) -> None:
        pass

    def feed(self, pcm: np.ndarray, ts_ms: int) -> None:
        pass

    def utterance_end(self, ts_ms: int, discarded: bool) -> None:
        if not discarded:
            self._on_result(STTResult("", is_final=True))

    def close(self) -> None:
        pass
