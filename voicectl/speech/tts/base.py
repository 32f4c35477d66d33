"""The TTS contract: text in, 16-bit PCM chunks out, first chunk as early as possible."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np


class TTS(Protocol):
    """A speech synthesiser.

    Attributes:
        name: provider name for start-up logs (e.g. "espeak-ng").
        sample_rate: Hz of the PCM that `synthesize` yields.
    """

    name: str
    sample_rate: int

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Yield mono int16 PCM chunks at `sample_rate`, phrase by phrase, for Hebrew `text`.

        Raises:
            TTSError: the provider failed.
        """
        ...

    def warmup(self) -> None:
        """Do one small synthesis so the first call does not pay the cold start."""
        ...


class TTSError(RuntimeError):
    """A synthesiser failed to produce audio."""
