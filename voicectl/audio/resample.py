"""Sample-rate conversion and int16/float32 conversion helpers.

One-shot conversion uses libsoxr (``soxr``) at quality ``HQ`` (20-bit precision, linear
phase), which is what providers that need 16/24 kHz get and what ``read_wav_8k`` uses.

Streaming note: libsoxr's ``ResampleStream`` at HQ/MQ/LQ buffers internally and releases
output in bursts of 50-100 ms when fed 20 ms chunks (python-soxr 1.1), so code that
needs one output chunk per 20 ms frame (the Silero VAD) calls :func:`resample` per frame
instead; on speech that gave the same Silero decisions as resampling the whole signal
at once (``docs/vad.md``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

__all__ = ["resample", "to_float32", "to_int16"]

_INT16_SCALE = 32768.0


def _check_rate(name: str, hz: int) -> None:
    if not isinstance(hz, int | np.integer) or isinstance(hz, bool) or hz <= 0:
        raise ValueError(f"{name} must be a positive integer in Hz, got {hz!r}")


def _check_pcm(pcm: object, who: str) -> npt.NDArray[np.int16]:
    if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16:
        dtype = pcm.dtype if isinstance(pcm, np.ndarray) else type(pcm).__name__
        raise TypeError(f"{who} expects an int16 numpy array, got {dtype}")
    if pcm.ndim != 1:
        raise ValueError(f"{who} expects shape (n,), got {pcm.shape}")
    return pcm


def resample(pcm: npt.NDArray[np.int16], from_hz: int, to_hz: int) -> npt.NDArray[np.int16]:
    """Resample mono int16 PCM with libsoxr at quality ``HQ``.

    Args:
        pcm: Samples, shape ``(n,)``, dtype ``int16``, at ``from_hz``.
        from_hz: Input rate in Hz (> 0).
        to_hz: Output rate in Hz (> 0).

    Returns:
        A new int16 array of shape ``(round(n * to_hz / from_hz),)`` (libsoxr may differ by
        one sample); a copy of ``pcm`` when the rates are equal. Out-of-range results are
        clipped to the int16 range by libsoxr.

    Raises:
        TypeError: If ``pcm`` is not an int16 numpy array.
        ValueError: If ``pcm`` is not 1-D or a rate is not a positive integer.
    """
    pcm = _check_pcm(pcm, "resample")
    _check_rate("from_hz", from_hz)
    _check_rate("to_hz", to_hz)
    if from_hz == to_hz or pcm.shape[0] == 0:
        return pcm.copy() if from_hz == to_hz else np.zeros(0, dtype=np.int16)
    out = soxr.resample(np.ascontiguousarray(pcm), from_hz, to_hz, quality="HQ")
    return np.asarray(out, dtype=np.int16)


def to_float32(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    """Convert int16 PCM to float32 in [-1.0, 1.0).

    Args:
        pcm: int16 samples, any shape.

    Returns:
        ``pcm / 32768`` as float32, same shape (exact: every int16 is representable).
    """
    return np.asarray(pcm, dtype=np.float32) / np.float32(_INT16_SCALE)


def to_int16(x: npt.ArrayLike) -> npt.NDArray[np.int16]:
    """Convert float audio in [-1.0, 1.0] to int16 PCM.

    Args:
        x: Float samples, any shape; nominal full scale is 1.0.

    Returns:
        ``round(x * 32768)`` clipped to [-32768, 32767], int16, same shape. Inverse of
        :func:`to_float32` for every int16 value. NaN becomes 0.
    """
    scaled = np.rint(np.nan_to_num(np.asarray(x, dtype=np.float64)) * _INT16_SCALE)
    return np.clip(scaled, -32768, 32767).astype(np.int16)
