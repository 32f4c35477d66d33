"""G.711 μ-law codec, 20 ms framing and resampling."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from voicectl.audio.frames import (
    FRAME_BYTES,
    FRAME_MS,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    duration_ms,
    pcm_frames,
    silence_frame,
    split_frames,
)
from voicectl.audio.g711 import ULAW_SILENCE, ulaw_decode, ulaw_encode
from voicectl.audio.resample import resample, to_float32, to_int16

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # reference implementation, tests only (stdlib up to 3.12)

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
ALL_BYTES = bytes(range(256))


# --- G.711 -------------------------------------------------------------------------


def test_encode_bit_exact_with_audioop_for_every_int16() -> None:
    assert ulaw_encode(ALL_INT16) == audioop.lin2ulaw(ALL_INT16.tobytes(), 2)


def test_decode_bit_exact_with_audioop_for_every_byte() -> None:
    decoded = ulaw_decode(ALL_BYTES)
    assert decoded.dtype == np.int16
    assert decoded.shape == (256,)
    assert decoded.tobytes() == audioop.ulaw2lin(ALL_BYTES, 2)


@pytest.mark.parametrize(
    ("sample", "code"),
    [
        (0, 0xFF),
        (1, 0xFF),
        (3, 0xFF),
        (4, 0xFE),
        (-1, 0x7E),  # audioop/Sun; ITU G.191 would give 0x7F here
        (-4, 0x7E),
        (32767, 0x80),
        (32124, 0x80),
        (-32768, 0x00),
        (-32124, 0x00),
        (1000, 0xCE),
        (-1000, 0x4E),
    ],
)
def test_known_encodings(sample: int, code: int) -> None:
    assert ulaw_encode(np.array([sample], dtype=np.int16)) == bytes([code])


@pytest.mark.parametrize(
    ("code", "sample"),
    [(0xFF, 0), (0x7F, 0), (0x80, 32124), (0x00, -32124), (0xFE, 8), (0x7E, -8), (0xCE, 988)],
)
def test_known_decodings(code: int, sample: int) -> None:
    assert ulaw_decode(bytes([code])).tolist() == [sample]


def test_round_trip_bytes_are_stable() -> None:
    # decode -> encode returns every byte except 0x7F ("negative zero"), which becomes 0xFF
    back = ulaw_encode(ulaw_decode(ALL_BYTES))
    expected = bytearray(ALL_BYTES)
    expected[0x7F] = 0xFF
    assert back == bytes(expected)
    # encode never emits 0x7F
    assert 0x7F not in ulaw_encode(ALL_INT16)


def test_round_trip_error_within_quantisation_step() -> None:
    decoded = ulaw_decode(ulaw_encode(ALL_INT16)).astype(np.int32)
    err = np.abs(decoded - ALL_INT16.astype(np.int32))
    # top segment step is 1024 (half-step 512) + up to 3 from the truncation to 14 bits;
    # above 32124 the codec clips
    assert err[np.abs(ALL_INT16.astype(np.int32)) <= 32124].max() <= 512 + 3


def test_encode_accepts_big_endian_and_views() -> None:
    x = np.array([100, -200, 3000], dtype=np.int16)
    assert ulaw_encode(x.astype(">i2")) == ulaw_encode(x)
    assert ulaw_encode(ALL_INT16[::2]) == audioop.lin2ulaw(ALL_INT16[::2].tobytes(), 2)


def test_encode_rejects_wrong_input() -> None:
    with pytest.raises(TypeError):
        ulaw_encode(np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError):
        ulaw_encode([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ulaw_encode(np.zeros((2, 2), dtype=np.int16))


def test_decode_inputs() -> None:
    assert ulaw_decode(b"").shape == (0,)
    assert ulaw_decode(bytearray(b"\x80")).tolist() == [32124]
    assert ulaw_decode(memoryview(b"\x00")).tolist() == [-32124]
    out = ulaw_decode(b"\xff\xff")
    out[0] = 5  # writable, not a view of the table
    assert ulaw_decode(b"\xff").tolist() == [0]
    with pytest.raises(TypeError):
        ulaw_decode("abc")  # type: ignore[arg-type]


# --- framing -------------------------------------------------------------------------


def test_frame_constants() -> None:
    assert (SAMPLE_RATE, FRAME_MS, FRAME_SAMPLES, FRAME_BYTES) == (8000, 20, 160, 160)
    assert silence_frame() == b"\xff" * 160
    assert ULAW_SILENCE == 0xFF


@pytest.mark.parametrize("n", [0, 1, 159, 160, 161, 320, 479, 1000])
def test_split_frames_pad_and_drop(n: int) -> None:
    data = bytes((i * 7) % 256 for i in range(n))
    padded = split_frames(data)
    dropped = split_frames(data, pad=False)
    assert len(padded) == -(-n // 160)
    assert len(dropped) == n // 160
    assert all(len(f) == 160 for f in padded + dropped)
    assert b"".join(dropped) == data[: 160 * (n // 160)]
    joined = b"".join(padded)
    assert joined[:n] == data
    assert joined[n:] == b"\xff" * (len(joined) - n)


def test_pcm_frames() -> None:
    pcm = np.arange(400, dtype=np.int16)
    frames = pcm_frames(pcm)
    assert frames.shape == (3, 160) and frames.dtype == np.int16
    assert frames.reshape(-1)[:400].tolist() == pcm.tolist()
    assert not frames.reshape(-1)[400:].any()
    assert pcm_frames(pcm, pad=False).shape == (2, 160)
    assert pcm_frames(np.zeros(0, dtype=np.int16)).shape == (0, 160)
    with pytest.raises(TypeError):
        pcm_frames(np.zeros(10))  # type: ignore[arg-type]


def test_duration_ms() -> None:
    assert duration_ms(160) == 20.0
    assert duration_ms(0) == 0.0
    assert duration_ms(8000) == 1000.0
    assert duration_ms(1) == 0.125
    with pytest.raises(ValueError):
        duration_ms(-1)


# --- resampling ----------------------------------------------------------------------


def _sine(freq: float, rate: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return to_int16(amp * np.sin(2 * np.pi * freq * t))


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    ("src", "dst"), [(8000, 16000), (16000, 8000), (22050, 8000), (8000, 24000), (48000, 8000)]
)
def test_resample_length_and_frequency(src: int, dst: int) -> None:
    x = _sine(440.0, src)
    y = resample(x, src, dst)
    assert y.dtype == np.int16
    assert abs(len(y) - len(x) * dst / src) <= 1
    assert abs(_peak_hz(y, dst) - 440.0) <= 2.0
    # level preserved (passband), away from the edges
    mid = slice(len(y) // 4, 3 * len(y) // 4)
    assert np.std(y[mid]) == pytest.approx(np.std(x), rel=0.02)


def test_resample_removes_content_above_new_nyquist() -> None:
    x = _sine(6000.0, 16000)  # above 4 kHz: must not alias into the 8 kHz result
    y = resample(x, 16000, 8000)
    assert np.std(y[len(y) // 4 : -len(y) // 4]) < 0.01 * np.std(x)


def test_resample_identity_and_errors() -> None:
    x = _sine(300.0, 8000, 0.1)
    y = resample(x, 8000, 8000)
    assert np.array_equal(x, y) and y is not x
    assert resample(np.zeros(0, dtype=np.int16), 8000, 16000).shape == (0,)
    with pytest.raises(TypeError):
        resample(x.astype(np.float32), 8000, 16000)
    with pytest.raises(ValueError):
        resample(x, 0, 8000)
    with pytest.raises(ValueError):
        resample(x, 8000, -1)


def test_float_conversions() -> None:
    f = to_float32(ALL_INT16)
    assert f.dtype == np.float32 and f.min() == -1.0 and f.max() < 1.0
    assert np.array_equal(to_int16(f), ALL_INT16)
    assert to_int16(np.array([2.0, -2.0, np.nan])).tolist() == [32767, -32768, 0]
