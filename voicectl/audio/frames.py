"""20 ms framing of 8 kHz μ-law / PCM audio.

Twilio Media Streams send (and should be sent) 20 ms chunks of 8000 Hz mono μ-law:
160 samples = 160 bytes per frame (TWILIO.md ``media``; DESIGN.md "send fixed 20 ms
(160-byte) frames"). Everything in voicectl that touches the stream uses these constants.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from voicectl.audio.g711 import ULAW_SILENCE

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "duration_ms",
    "pcm_frames",
    "silence_frame",
    "split_frames",
]

SAMPLE_RATE: int = 8000
"""Hz; Twilio Media Streams ``mediaFormat.sampleRate``."""
FRAME_MS: int = 20
"""Milliseconds per frame."""
FRAME_SAMPLES: int = SAMPLE_RATE * FRAME_MS // 1000
"""Samples per frame (160)."""
FRAME_BYTES: int = FRAME_SAMPLES
"""Bytes per μ-law frame (160: one byte per sample)."""

_SILENCE_FRAME = bytes([ULAW_SILENCE]) * FRAME_BYTES


def split_frames(ulaw: bytes | bytearray | memoryview, pad: bool = True) -> list[bytes]:
    """Split a μ-law byte stream into 20 ms frames.

    Args:
        ulaw: μ-law bytes at 8000 Hz (any length, including 0).
        pad: If True, a trailing partial frame is padded with μ-law silence (``0xFF``) to
            a full frame; if False it is dropped.

    Returns:
        Frames of exactly ``FRAME_BYTES`` (160) bytes each, in order;
        ``ceil(len/160)`` frames when ``pad`` else ``floor(len/160)``.
    """
    data = bytes(ulaw)
    n_full, rest = divmod(len(data), FRAME_BYTES)
    frames = [data[i * FRAME_BYTES : (i + 1) * FRAME_BYTES] for i in range(n_full)]
    if rest and pad:
        frames.append(data[n_full * FRAME_BYTES :] + _SILENCE_FRAME[rest:])
    return frames


def pcm_frames(pcm: npt.NDArray[np.int16], pad: bool = True) -> npt.NDArray[np.int16]:
    """Split 8 kHz int16 PCM into 20 ms frames.

    Args:
        pcm: Samples, shape ``(n,)``, dtype ``int16``, 8000 Hz mono.
        pad: If True, a trailing partial frame is zero-padded; if False it is dropped.

    Returns:
        Array of shape ``(n_frames, FRAME_SAMPLES)``, dtype ``int16`` (a copy); row ``i``
        starts at ``i * FRAME_MS`` ms.

    Raises:
        TypeError: If ``pcm`` is not an ``int16`` array.
        ValueError: If ``pcm`` is not one-dimensional.
    """
    if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16:
        raise TypeError("pcm_frames expects an int16 numpy array")
    if pcm.ndim != 1:
        raise ValueError(f"pcm_frames expects shape (n,), got {pcm.shape}")
    n_full, rest = divmod(pcm.shape[0], FRAME_SAMPLES)
    n_frames = n_full + (1 if rest and pad else 0)
    out = np.zeros((n_frames, FRAME_SAMPLES), dtype=np.int16)
    flat = out.reshape(-1)
    used = min(pcm.shape[0], flat.shape[0])
    flat[:used] = pcm[:used]
    return out


def silence_frame() -> bytes:
    """Return one 20 ms frame of μ-law silence: 160 bytes of ``0xFF``."""
    return _SILENCE_FRAME


def duration_ms(n_bytes: int) -> float:
    """Return the duration of ``n_bytes`` of 8 kHz μ-law audio.

    Args:
        n_bytes: Number of μ-law bytes (= samples), >= 0.

    Returns:
        Duration in milliseconds (``n_bytes / 8``; 160 bytes -> 20.0).

    Raises:
        ValueError: If ``n_bytes`` is negative.
    """
    if n_bytes < 0:
        raise ValueError(f"n_bytes must be >= 0, got {n_bytes}")
    return n_bytes * 1000 / SAMPLE_RATE
