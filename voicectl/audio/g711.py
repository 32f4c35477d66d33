"""G.711 μ-law codec (8-bit companded <-> 16-bit linear PCM) with numpy lookup tables.

Twilio Media Streams carry ``audio/x-mulaw`` at 8000 Hz, mono, 1 byte per sample
(TWILIO.md). Inside voicectl audio is ``numpy.int16`` PCM (DESIGN.md, Conventions); this
module converts between the two at the edges.

The tables are bit-exact with CPython's ``audioop.lin2ulaw`` / ``audioop.ulaw2lin`` (the
classic Sun Microsystems ``g711.c`` by Craig Reese / Joe Campbell, which is ITU-T G.711's
segment/quantisation layout with the linear input truncated to 14 bits). Note for anyone
comparing with the ITU-T G.191 STL reference: G.191 rounds small negative samples
(-1..-4) to ``0x7F`` ("negative zero") while audioop maps them to ``0x7E``; every other
encoding, and every decoding, is identical. The encoder therefore never emits ``0x7F``;
the decoder maps both ``0x7F`` and ``0xFF`` to 0.

Example:
    >>> ulaw_encode(np.zeros(3, dtype=np.int16))
    b'\\xff\\xff\\xff'
    >>> ulaw_decode(b"\\x80\\x00").tolist()
    [32124, -32124]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["ULAW_SILENCE", "ulaw_decode", "ulaw_encode"]

ULAW_SILENCE: int = 0xFF
"""The μ-law byte for linear 0 (positive zero); used to pad and to send silence."""

_BIAS = 0x84  # 132: added before segment search (G.711 μ-law bias, 33 in 14-bit units)
_CLIP = 8159  # largest 14-bit magnitude that is encoded without saturation


def _build_decode_table() -> npt.NDArray[np.int16]:
    """Return the 256-entry μ-law byte -> int16 table (Sun g711.c ``ulaw2linear``)."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = ((u & 0x0F) << 3) + _BIAS
    t = t << ((u & 0x70) >> 4)
    lin = np.where(u & 0x80, _BIAS - t, t - _BIAS)
    return lin.astype(np.int16)


def _build_encode_table() -> npt.NDArray[np.uint8]:
    """Return the 65536-entry table indexed by the int16 sample's uint16 bit pattern.

    Mirrors audioop's ``st_14linear2ulaw(sample >> 2)``: arithmetic shift to 14 bits,
    sign/magnitude, clip at 8159, add bias 33, find the segment (0-7) as the position of
    the highest set bit above bit 5, keep 4 mantissa bits, invert.
    """
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32) >> 2
    negative = pcm < 0
    mag = np.minimum(np.where(negative, -pcm, pcm), _CLIP) + (_BIAS >> 2)
    # mag is in [33, 8192]; the segment is the smallest s with mag <= (0x40 << s) - 1
    # (audioop's seg_uend table). 8192 (clipped full scale) finds no segment and
    # saturates to 0x7F before inversion, as in audioop.
    seg = np.zeros_like(mag)
    for s in range(1, 9):
        seg += mag > ((0x40 << (s - 1)) - 1)
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> (seg + 1)) & 0x0F))
    mask = np.where(negative, 0x7F, 0xFF)
    return (uval ^ mask).astype(np.uint8)


_DECODE: npt.NDArray[np.int16] = _build_decode_table()
_ENCODE: npt.NDArray[np.uint8] = _build_encode_table()
_DECODE.setflags(write=False)
_ENCODE.setflags(write=False)
# The decode table as two byte maps (each code's first and second byte of its int16, in
# native order) for `bytes.translate`: see `ulaw_decode`.
_DECODE_BYTE0 = _DECODE.view(np.uint8)[0::2].tobytes()
_DECODE_BYTE1 = _DECODE.view(np.uint8)[1::2].tobytes()


def ulaw_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    """Encode linear 16-bit PCM to G.711 μ-law.

    Args:
        pcm: Samples, shape ``(n,)``, dtype ``int16`` (any sample rate; Twilio wants
            8000 Hz mono). Byte order is taken from the dtype, so a big-endian ``>i2``
            array is fine too.

    Returns:
        ``n`` bytes, one μ-law byte per sample, bit-exact with ``audioop.lin2ulaw(x, 2)``.

    Raises:
        TypeError: If ``pcm`` is not an ``int16`` numpy array.
        ValueError: If ``pcm`` is not one-dimensional.
    """
    if not isinstance(pcm, np.ndarray) or pcm.dtype.kind != "i" or pcm.dtype.itemsize != 2:
        raise TypeError(f"ulaw_encode expects an int16 numpy array, got {_describe(pcm)}")
    if pcm.ndim != 1:
        raise ValueError(f"ulaw_encode expects shape (n,), got {pcm.shape}")
    index = pcm.astype(np.int16, copy=False).view(np.uint16)
    return _ENCODE[index].tobytes()


def ulaw_decode(data: bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
    """Decode G.711 μ-law bytes to linear 16-bit PCM.

    Args:
        data: μ-law bytes, one sample per byte (e.g. a Twilio ``media.payload`` after
            base64 decoding: 160 bytes = 20 ms at 8000 Hz).

    Returns:
        A new writable array, shape ``(len(data),)``, dtype ``int16`` (native byte order),
        values in [-32124, 32124], bit-exact with ``audioop.ulaw2lin(data, 2)``.

    Raises:
        TypeError: If ``data`` is not bytes-like.
    """
    # Not `_DECODE[codes]`: numpy's fancy indexing releases the GIL, and this runs on the
    # event loop for every inbound frame - each release let a busy worker thread keep the
    # GIL for up to a switch interval (5 ms), stalling every call on the loop
    # (docs/benchmarks.md "Issue 12: the GIL on the frame path, and the direct lane").
    # `bytes.translate` and slice assignment hold the GIL (about 1 µs more a frame).
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"ulaw_decode expects bytes, got {type(data).__name__}")
    codes = data if isinstance(data, bytes) else bytes(data)
    out = bytearray(2 * len(codes))
    out[0::2] = codes.translate(_DECODE_BYTE0)
    out[1::2] = codes.translate(_DECODE_BYTE1)
    return np.frombuffer(out, dtype=np.int16)


def _describe(obj: object) -> str:
    if isinstance(obj, np.ndarray):
        return f"ndarray[{obj.dtype}]"
    return type(obj).__name__
