"""The streaming STT contract the call core drives.

The core tells a per-call `STTStream` when its VAD finds an utterance starting and ending
(and when speech right after an end continues the same utterance: `utterance_resume`)
and feeds it the frames in between; the stream reports transcripts through the `on_result`
callback it was created with - synchronously (the script recogniser) or later from the
event loop (network recognisers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class STTResult:
    """A transcript of the current utterance. `is_final` marks the last one for it."""

    text: str
    is_final: bool


ResultCallback = Callable[[STTResult], None]


class STTStream(Protocol):
    """One call's recogniser; the core calls these in stream order."""

    def utterance_start(self, ts_ms: int) -> None:
        """The VAD found speech starting at stream time `ts_ms` (ms)."""
        ...

    def feed(self, pcm: np.ndarray, ts_ms: int) -> None:
        """One 20 ms frame of 8 kHz int16 PCM inside an utterance."""
        ...

    def utterance_end(self, ts_ms: int, discarded: bool) -> None:
        """The utterance's speech ended at stream time `ts_ms` (its last voiced audio, ms);
        `discarded` = too short to be speech."""
        ...

    def utterance_resume(self, ts_ms: int) -> None:
        """Speech starts again at `ts_ms` within the resume window of the last kept
        utterance's end (speculative endpointing, docs/vad.md): it is the same utterance.
        Called instead of `utterance_start`. A final of the part before that is not yet
        delivered is dropped, and the next final - at the next `utterance_end` - is the
        transcript of the WHOLE utterance, both parts."""
        ...

    def close(self) -> None:
        """The call ended; release any connection."""
        ...


class STTProvider(Protocol):
    """Creates one `STTStream` per call (heavy clients shared, created once per process).

    `open` is called on the event loop thread; a network recogniser delivers its results
    back on that loop (`loop.call_soon_threadsafe`), never from its own threads.
    """

    name: str

    def open(self, on_result: ResultCallback, hints: Sequence[str] = ()) -> STTStream:
        """Open a recognition stream for one call.

        Args:
            on_result: where this call's transcripts go.
            hints: phrases this call is likely to contain (the business's service names
                and aliases), added to the provider's own hints.
        """
        ...
