"""WAV files: read anything to int16 mono, write μ-law / PCM / stereo WAVs.

Fixtures of caller audio are μ-law 8 kHz mono WAVs (DESIGN.md ``fixtures/audio/``).
Reading goes through ``soundfile`` (libsndfile), so PCM 8/16/24/32-bit, float, μ-law and
A-law WAVs (and FLAC/OGG) all work. μ-law WAVs are *written* by this module, not by
libsndfile: libsndfile re-encodes from PCM with its own encoder, which turns the byte
0x7F ("negative zero", which Twilio may send) into 0xFF, so a recorded stream would not
round-trip byte for byte. The file written here has exactly the layout libsndfile
writes (``fmt `` with format tag 7, ``fact``, ``data``) and libsndfile reads it back.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soundfile as sf

from voicectl.audio.frames import SAMPLE_RATE
from voicectl.audio.g711 import ulaw_encode
from voicectl.audio.resample import resample, to_int16

__all__ = [
    "AudioFileError",
    "read_ulaw",
    "read_wav",
    "read_wav_8k",
    "write_pcm_wav",
    "write_stereo_wav",
    "write_ulaw_wav",
]

_WAVE_FORMAT_MULAW = 7

PathLike = str | os.PathLike[str]


class AudioFileError(ValueError):
    """An audio file is missing, unreadable, not audio, or could not be written.

    Args:
        path: The file.
        reason: What went wrong (one line).

    Attributes:
        path: The file, as given.
        reason: What went wrong.
    """

    def __init__(self, path: PathLike, reason: str) -> None:
        self.path = path
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{os.fspath(path)}: {self.reason}")


def _reason(exc: BaseException) -> str:
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    # libsndfile: "Error opening '<path>': Format not recognised." -> keep the cause
    if text.startswith("Error opening ") and "': " in text:
        text = text.split("': ", 1)[1]
    return text.rstrip(".") or type(exc).__name__


def _check_readable(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioFileError(path, "no such file")
    if p.is_dir():
        raise AudioFileError(path, "is a directory, not an audio file")
    return p


def read_wav(path: PathLike) -> tuple[npt.NDArray[np.int16], int]:
    """Read an audio file as int16 mono PCM at its own rate.

    Args:
        path: A WAV (PCM 8/16/24/32-bit, float, μ-law, A-law) or any other format
            libsndfile reads.

    Returns:
        ``(pcm, rate_hz)``: shape ``(n,)`` int16 samples and the file's sample rate.
        Multi-channel files are mixed down (mean of the channels, rounded); float and
        24/32-bit samples are scaled to int16 and clipped. 16-bit and μ-law samples come
        back exactly (μ-law decoded as by :func:`voicectl.audio.g711.ulaw_decode`).

    Raises:
        AudioFileError: If the file is missing, unreadable or not audio.
    """
    p = _check_readable(path)
    try:
        data, rate = sf.read(os.fspath(p), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as exc:
        raise AudioFileError(path, _reason(exc)) from exc
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    return to_int16(mono), int(rate)


def read_wav_8k(path: PathLike) -> npt.NDArray[np.int16]:
    """Read an audio file as int16 mono PCM at 8000 Hz.

    Args:
        path: Any file :func:`read_wav` reads.

    Returns:
        Shape ``(n,)`` int16 samples at 8000 Hz (resampled with libsoxr HQ if needed).

    Raises:
        AudioFileError: If the file is missing, unreadable or not audio.
    """
    pcm, rate = read_wav(path)
    return resample(pcm, rate, SAMPLE_RATE)


def read_ulaw(path: PathLike) -> bytes:
    """Read an audio file as 8 kHz μ-law bytes, ready to frame and send to Twilio.

    Args:
        path: Any file :func:`read_wav` reads.

    Returns:
        μ-law bytes, one per 8 kHz sample. A μ-law 8 kHz mono WAV's data chunk is
        returned byte for byte; anything else is read with :func:`read_wav_8k` and
        encoded with :func:`voicectl.audio.g711.ulaw_encode`.

    Raises:
        AudioFileError: If the file is missing, unreadable or not audio.
    """
    p = _check_readable(path)
    try:
        raw = _raw_ulaw_data(p)
    except OSError as exc:
        raise AudioFileError(path, _reason(exc)) from exc
    if raw is not None:
        return raw
    return ulaw_encode(read_wav_8k(path))


def _raw_ulaw_data(path: Path) -> bytes | None:
    """The data chunk of a μ-law 8 kHz mono RIFF/WAVE file, else None."""
    with open(path, "rb") as f:
        return _ulaw_data_of(f)


def ulaw_wav_data(wav: bytes) -> bytes | None:
    """The μ-law samples of an in-memory μ-law 8 kHz mono WAV (e.g. a TTS service's
    `MULAW` answer, which carries a WAV header), else None."""
    return _ulaw_data_of(io.BytesIO(wav))


def _ulaw_data_of(f: BinaryIO) -> bytes | None:
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    fmt_ok = False
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            return None
        cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if cid == b"fmt ":
            body = f.read(size)
            if len(body) < 16:
                return None
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            fmt_ok = (tag, channels, rate, bits) == (_WAVE_FORMAT_MULAW, 1, SAMPLE_RATE, 8)
        elif cid == b"data":
            if not fmt_ok:
                return None
            data = f.read(size)
            return data if len(data) == size else None
        else:
            f.seek(size, os.SEEK_CUR)
        if size % 2:
            f.seek(1, os.SEEK_CUR)


def write_ulaw_wav(path: PathLike, ulaw: bytes | bytearray | memoryview) -> None:
    """Write μ-law bytes as a μ-law 8 kHz mono WAV, byte for byte.

    Args:
        path: Output file (overwritten; the directory must exist).
        ulaw: μ-law bytes at 8000 Hz (e.g. a recorded Twilio inbound track).

    Raises:
        AudioFileError: If the file cannot be written.

    The data chunk holds ``ulaw`` unchanged; :func:`read_ulaw` returns it back exactly
    and :func:`read_wav` returns ``ulaw_decode(ulaw)``.
    """
    data = bytes(ulaw)
    n = len(data)
    pad = b"\x00" if n % 2 else b""
    fmt = struct.pack("<HHIIHHH", _WAVE_FORMAT_MULAW, 1, SAMPLE_RATE, SAMPLE_RATE, 1, 8, 0)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"fact"
        + struct.pack("<II", 4, n)
        + b"data"
        + struct.pack("<I", n)
        + data
        + pad
    )
    _check_writable(path)
    try:
        with open(path, "wb") as f:
            f.write(b"RIFF" + struct.pack("<I", len(body)) + body)
    except OSError as exc:
        raise AudioFileError(path, _reason(exc)) from exc


def _check_writable(path: PathLike) -> None:
    parent = Path(path).parent
    if not parent.is_dir():
        raise AudioFileError(path, f"directory {os.fspath(parent)} does not exist")


def _check_mono_int16(pcm: object, what: str) -> npt.NDArray[np.int16]:
    if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16:
        raise TypeError(f"{what} must be an int16 numpy array")
    if pcm.ndim != 1:
        raise ValueError(f"{what} must have shape (n,), got {pcm.shape}")
    return pcm


def write_pcm_wav(path: PathLike, pcm: npt.NDArray[np.int16], rate: int = SAMPLE_RATE) -> None:
    """Write int16 mono PCM as a 16-bit PCM WAV.

    Args:
        path: Output file (overwritten; the directory must exist).
        pcm: Samples, shape ``(n,)``, int16.
        rate: Sample rate in Hz.

    Raises:
        TypeError: If ``pcm`` is not an int16 array.
        ValueError: If ``pcm`` is not 1-D.
        AudioFileError: If ``rate`` is not positive or the file cannot be written.
    """
    pcm = _check_mono_int16(pcm, "pcm")
    _write(path, pcm, rate)


def write_stereo_wav(
    path: PathLike,
    left: npt.NDArray[np.int16],
    right: npt.NDArray[np.int16],
    rate: int = SAMPLE_RATE,
) -> None:
    """Write two int16 tracks as a 16-bit PCM stereo WAV (e.g. caller left, bot right).

    Args:
        path: Output file (overwritten; the directory must exist).
        left: Left channel, shape ``(n,)``, int16.
        right: Right channel, shape ``(m,)``, int16.
        rate: Sample rate in Hz (default 8000).

    Raises:
        TypeError: If a track is not an int16 array.
        ValueError: If a track is not 1-D.
        AudioFileError: If ``rate`` is not positive or the file cannot be written.

    The shorter track is padded with zeros (silence) at the end to ``max(n, m)``.
    """
    left = _check_mono_int16(left, "left")
    right = _check_mono_int16(right, "right")
    n = max(left.shape[0], right.shape[0])
    stereo = np.zeros((n, 2), dtype=np.int16)
    stereo[: left.shape[0], 0] = left
    stereo[: right.shape[0], 1] = right
    _write(path, stereo, rate)


def _write(path: PathLike, data: npt.NDArray[np.int16], rate: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise AudioFileError(path, f"sample rate must be a positive integer, got {rate!r}")
    _check_writable(path)
    try:
        sf.write(os.fspath(path), data, int(rate), subtype="PCM_16", format="WAV")
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as exc:
        raise AudioFileError(path, _reason(exc)) from exc
