"""The script recogniser: transcripts supplied by the simulator, timing from the real VAD.

A simulated call carries its caller turns' transcripts in the stream's
`start.customParameters` (parameter `voicectl.script`, a JSON list, one item per caller
utterance: its text and the length of its voiced audio). The server still runs its real
VAD over the real audio; this recogniser only decides *what* was said: each utterance the
VAD keeps takes the next transcript (pauses inside one are handled, see the class).
Partials are emitted while the utterance is voiced - a growing prefix, about one word per
`ms_per_word` - and the final at the end of the utterance. It never sees any other
parameter, and no other recogniser ever sees the script.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from voicectl.speech.stt.base import ResultCallback, STTResult

SCRIPT_PARAM = "voicectl.script"

#: A caller utterance is complete once the VAD segments collected for it span at least this
#: share of its voiced length (the VAD trims edges the simulator's energy measure keeps).
COVERAGE = 0.6
#: The partial has every word of the utterance once this share of its voiced length is heard.
ALL_WORDS = 0.85
HESITATION = "\u2026"
"""A "…" in a script line marks where the caller pauses mid-sentence."""
_QUIET_RMS = 150.0  # int16 RMS below which a frame is a pause, not a word
_PAUSE_MS = 100  # a pause this long shows the partial so far


@dataclass(frozen=True)
class ScriptLine:
    """One caller utterance: its words, and (when known) its voiced length in ms."""

    text: str
    voiced_ms: int | None = None

    # Derived once per line, not per 20 ms frame (`ScriptSTTStream.feed`).
    @cached_property
    def pieces(self) -> list[str]:
        """The text cut at the caller's hesitations ("…")."""
        return self.text.split(HESITATION)

    @cached_property
    def words(self) -> list[str]:
        """The words, hesitations dropped."""
        return self.text.replace(HESITATION, " ").split()

    @cached_property
    def words_upto(self) -> list[int]:
        """`words_upto[k]`: how many words the pieces 0..k hold together."""
        return [len(" ".join(self.pieces[: k + 1]).split()) for k in range(len(self.pieces))]


def parse_script(raw: str | None) -> list[ScriptLine]:
    """Decode the `voicectl.script` parameter: a JSON list whose items are strings or
    `{"text": str, "voiced_ms": int}` objects.

    Raises:
        ValueError: not JSON, or an item of another shape.
    """
    if not raw:
        return []
    value = json.loads(raw)
    if not isinstance(value, list):
        raise ValueError(f"{SCRIPT_PARAM} must be a JSON list")
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(ScriptLine(item))
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            ms = item.get("voiced_ms")
            out.append(ScriptLine(item["text"], int(ms) if isinstance(ms, int | float) else None))
        else:
            raise ValueError(f"{SCRIPT_PARAM}: items must be strings or {{text, voiced_ms}}")
    return out


def encode_script(lines: Iterable[ScriptLine | str]) -> str:
    """Encode caller utterances for the `voicectl.script` parameter."""
    items = [
        {"text": x.text, "voiced_ms": x.voiced_ms} if isinstance(x, ScriptLine) else x
        for x in lines
    ]
    return json.dumps(items, ensure_ascii=False)


class ScriptSTTStream:
    """Per-call script recogniser (see the module docstring).

    A caller who pauses mid-utterance (a sentence break longer than the VAD hangover) gives
    the VAD two segments; when the script says how long the utterance is voiced, the
    segments are collected until they span `COVERAGE` of it and only then is the final
    emitted - at the endpoint of the last segment, as a recogniser with that endpointing
    would. Without a length, every kept segment takes the next transcript.

    Args:
        transcripts: the caller's utterances, in order (strings or `ScriptLine`s).
        on_result: where results go.
        first_partial_ms: voiced ms before the first partial (about a word).
        ms_per_word: voiced ms per further word of partial text.
    """

    def __init__(
        self,
        transcripts: Iterable[ScriptLine | str],
        on_result: ResultCallback,
        first_partial_ms: int = 200,
        ms_per_word: int = 300,
    ) -> None:
        self._pending = deque(
            t if isinstance(t, ScriptLine) else ScriptLine(t) for t in transcripts
        )
        self._on_result = on_result
        self._first_partial_ms = first_partial_ms
        self._ms_per_word = ms_per_word
        self._voiced_ms = 0
        self._words_out = 0
        self._piece = 0  # hesitations ("…") of the current line passed so far
        self._quiet_ms = 0
        self._paused = False
        self._active = False
        self._started_ms: int | None = None  # start of the utterance being collected
        # The last line finalised and the state it was collected with, taken up again if
        # the caller goes on (`utterance_resume`).
        self._last: tuple[ScriptLine, int, int, int, int] | None = None

    @property
    def collecting(self) -> bool:
        """True between a kept segment and the rest of its utterance."""
        return self._started_ms is not None and not self._active

    def utterance_start(self, ts_ms: int) -> None:
        self._active = True
        if self._started_ms is None:
            self._last = None
            self._started_ms = ts_ms
            self._voiced_ms = 0
            self._words_out = 0
            self._piece = 0
            self._quiet_ms = 0
            self._paused = False

    def utterance_resume(self, ts_ms: int) -> None:
        """The caller went on within the resume window: the line whose final went out
        (if it did) is taken up again, and its final comes at the end of the whole."""
        if self._started_ms is None and self._last is not None:
            line, started, voiced, words, piece = self._last
            self._pending.appendleft(line)
            self._started_ms, self._voiced_ms = started, voiced
            self._words_out, self._piece = words, piece
            self._quiet_ms, self._paused = 0, False
        self._last = None
        self.utterance_start(ts_ms)

    def feed(self, pcm: np.ndarray, ts_ms: int) -> None:
        if not self._active or not self._pending:
            return
        frame_ms = int(len(pcm) * 1000 / 8000)
        self._voiced_ms += frame_ms
        line = self._pending[0]
        pieces, words = line.pieces, line.words
        # Words up to the caller's next hesitation ("…"): a pause there shows the partial
        # of what was said so far, as a streaming recogniser's would be.
        upto = line.words_upto[min(self._piece, len(pieces) - 1)]
        rms = float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64)))) if len(pieces) > 1 else 0.0
        if len(pieces) > 1 and rms < _QUIET_RMS:
            self._quiet_ms += frame_ms
            if self._quiet_ms >= _PAUSE_MS and self._piece < len(pieces) - 1:
                self._paused = True
                if upto > self._words_out:
                    self._words_out = upto
                    self._on_result(STTResult(" ".join(words[:upto]), is_final=False))
            return
        self._quiet_ms = 0
        if self._paused:
            self._paused = False
            self._piece += 1
            upto = line.words_upto[min(self._piece, len(pieces) - 1)]
        if self._voiced_ms < self._first_partial_ms:
            return
        due = 1 + (self._voiced_ms - self._first_partial_ms) // self._ms_per_word
        due = min(int(due), max(len(words) - 1, 1))
        # The last word once the utterance's voiced length is spoken (a real recogniser's
        # partial catches up at the end of speech), so a complete sentence never looks
        # cut at its last word to an end-of-turn check.
        if line.voiced_ms and self._voiced_ms >= ALL_WORDS * line.voiced_ms:
            due = len(words)
        due = min(due, upto)
        if due > self._words_out:
            self._words_out = due
            self._on_result(STTResult(" ".join(words[:due]), is_final=False))

    def utterance_end(self, ts_ms: int, discarded: bool) -> None:
        self._active = False
        if discarded:
            if self._words_out == 0 and self._voiced_ms == 0:
                self._started_ms = None
            return
        line = self._pending[0] if self._pending else None
        started = self._started_ms if self._started_ms is not None else ts_ms
        if line is not None and line.voiced_ms and ts_ms - started < COVERAGE * line.voiced_ms:
            return  # a pause inside the utterance: wait for the rest
        self._last = (
            (self._pending[0], started, self._voiced_ms, self._words_out, self._piece)
            if self._pending
            else None
        )
        self._started_ms = None
        text = self._pending.popleft().text if self._pending else ""
        self._on_result(STTResult(" ".join(text.replace(HESITATION, " ").split()), is_final=True))

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

    def utterance_resume(self, ts_ms: int) -> None:
        pass

    def close(self) -> None:
        pass


class NoSTT:
    """The `stt: none` provider: no recogniser (real callers cannot be understood)."""

    name = "none"

    def open(self, on_result: ResultCallback, hints: Sequence[str] = ()) -> NoSTTStream:
        """A stream whose every utterance is an empty final."""
        return NoSTTStream(on_result)
