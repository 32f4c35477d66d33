"""`PhraseCache`: a TTS that says a phrase it has said before without synthesising it again.

A booking line repeats itself: every call hears the same greeting, and the prompts for a
service, a name or a phone number come back call after call. Synthesis is the largest
per-call CPU cost of the offline voice (espeak-ng ~10% of a loaded server's samples,
docs/benchmarks.md) and a billed, ~100-300 ms network round trip for Google TTS. Caching
prompt audio is what IVR systems have always done; here it is kept per process, in
memory, bounded in bytes, least recently used first out.

The cache also does the resampling to the telephone rate (8000 Hz), so a hit costs
neither synthesis nor soxr. Only a phrase synthesised to its end is stored: a reply cut
off by barge-in or a provider error leaves nothing behind. Chunks are stored read-only
and handed out as they are.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from voicectl.audio.resample import resample
from voicectl.speech.tts.base import TTS

__all__ = ["PhraseCache"]

#: The telephone rate (Hz) the cache stores and yields: G.711 on a Twilio stream.
OUT_RATE = 8000


class PhraseCache:
    """Wraps a `TTS`; yields 8000 Hz int16 chunks, from memory when the phrase is known.

    Implements the `TTS` protocol (`sample_rate` is 8000); other attributes are the
    wrapped provider's (`close`, `pings`, ...). Thread-safe: the call pacer synthesises
    from the TTS thread pool.

    Attributes:
        inner: the wrapped provider.
        max_bytes: the cache's bound (bytes of PCM); a phrase larger than it is not stored.
        hits / misses: `synthesize` calls answered from memory / by the provider.
    """

    sample_rate = OUT_RATE

    def __init__(self, inner: TTS, max_bytes: int) -> None:
        """Args:
            inner: the provider to wrap (any `sample_rate`).
            max_bytes: bound on the stored PCM, bytes (> 0).

        Raises:
            ValueError: `max_bytes` is not positive.
        """
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        self.inner = inner
        self.name = inner.name
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._bytes = 0
        self._entries: OrderedDict[str, tuple[np.ndarray, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # Only called for what this class lacks: the provider's own extras.
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    @property
    def stored_bytes(self) -> int:
        """Bytes of PCM held now (<= `max_bytes`)."""
        return self._bytes

    def cached(self, text: str) -> tuple[np.ndarray, ...] | None:
        """`text`'s stored 8000 Hz chunks (counted as a hit), or None if it is not stored
        (nothing counted: `synthesize` counts the miss). Never blocks, so the pacer takes
        a known phrase on the event loop instead of one thread hop per chunk."""
        with self._lock:
            known = self._entries.get(text)
            if known is not None:
                self._entries.move_to_end(text)
                self.hits += 1
        return known

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Yield `text` as mono int16 PCM chunks at 8000 Hz (the wrapped provider's
        chunking), from memory when the same text was synthesised to its end before.

        Raises:
            TTSError: the provider failed (nothing is stored).
        """
        with self._lock:
            known = self._entries.get(text)
            if known is not None:
                self._entries.move_to_end(text)
                self.hits += 1
            else:
                self.misses += 1
        if known is not None:
            yield from known
            return
        rate = self.inner.sample_rate
        chunks: list[np.ndarray] = []
        for pcm in self.inner.synthesize(text):
            out = pcm if rate == OUT_RATE else resample(pcm, rate, OUT_RATE)
            out.flags.writeable = False  # shared with every later call that says it
            chunks.append(out)
            yield out
        self._store(text, tuple(chunks))

    def _store(self, text: str, chunks: tuple[np.ndarray, ...]) -> None:
        size = sum(c.nbytes for c in chunks) + len(text.encode())
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(text, None)
            if old is not None:
                self._bytes -= sum(c.nbytes for c in old) + len(text.encode())
            self._entries[text] = chunks
            self._bytes += size
            while self._bytes > self.max_bytes:
                gone_text, gone = self._entries.popitem(last=False)
                self._bytes -= sum(c.nbytes for c in gone) + len(gone_text.encode())

    def warmup(self) -> None:
        """The provider's warm-up (nothing is cached by it)."""
        self.inner.warmup()

    def prometheus_lines(self) -> list[str]:
        """Hits, misses and stored bytes in Prometheus text format."""
        return [
            "# HELP voicectl_tts_cache_hits_total Phrases said from the TTS phrase cache.",
            "# TYPE voicectl_tts_cache_hits_total counter",
            f"voicectl_tts_cache_hits_total {self.hits}",
            "# HELP voicectl_tts_cache_misses_total Phrases the TTS provider synthesised.",
            "# TYPE voicectl_tts_cache_misses_total counter",
            f"voicectl_tts_cache_misses_total {self.misses}",
            "# HELP voicectl_tts_cache_bytes PCM held by the TTS phrase cache.",
            "# TYPE voicectl_tts_cache_bytes gauge",
            f"voicectl_tts_cache_bytes {self._bytes}",
        ]
