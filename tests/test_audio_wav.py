"""WAV reading/writing: μ-law byte-exact round trips, PCM, stereo, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicectl.audio.g711 import ulaw_decode, ulaw_encode
from voicectl.audio.resample import to_int16
from voicectl.audio.wav import (
    AudioFileError,
    read_ulaw,
    read_wav,
    read_wav_8k,
    write_pcm_wav,
    write_stereo_wav,
    write_ulaw_wav,
)

ALL_BYTES = bytes(range(256))


@pytest.mark.parametrize("n_repeat", [0, 1, 3])
@pytest.mark.parametrize("extra", [b"", b"\x7f"])  # odd length -> RIFF pad byte
def test_ulaw_wav_round_trip_is_byte_exact(tmp_path: Path, n_repeat: int, extra: bytes) -> None:
    data = ALL_BYTES * n_repeat + extra
    path = tmp_path / "u.wav"
    write_ulaw_wav(path, data)
    info = sf.info(str(path))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "ULAW", 8000, 1)
    assert info.frames == len(data)
    assert read_ulaw(path) == data  # including 0x7F, which libsndfile would rewrite
    pcm, rate = read_wav(path)
    assert rate == 8000
    assert np.array_equal(pcm, ulaw_decode(data))
    # libsndfile's own decoder agrees with ours
    assert np.array_equal(sf.read(str(path), dtype="int16")[0], ulaw_decode(data))


def test_ulaw_wav_identical_to_libsndfile_for_codec_output(tmp_path: Path) -> None:
    pcm = np.arange(-32768, 32768, 3, dtype=np.int16)
    ulaw = ulaw_encode(pcm)
    ours, theirs = tmp_path / "ours.wav", tmp_path / "theirs.wav"
    write_ulaw_wav(ours, ulaw)
    sf.write(str(theirs), ulaw_decode(ulaw), 8000, subtype="ULAW")
    assert ours.read_bytes() == theirs.read_bytes()


def test_read_ulaw_encodes_other_formats(tmp_path: Path) -> None:
    t = np.arange(16000) / 16000
    pcm16k = to_int16(0.3 * np.sin(2 * np.pi * 300 * t))
    path = tmp_path / "pcm16k.wav"
    write_pcm_wav(path, pcm16k, 16000)
    ulaw = read_ulaw(path)
    assert len(ulaw) == 8000
    assert ulaw == ulaw_encode(read_wav_8k(path))


def test_pcm_wav_round_trip(tmp_path: Path) -> None:
    pcm = np.arange(-32768, 32768, 5, dtype=np.int16)
    path = tmp_path / "p.wav"
    write_pcm_wav(path, pcm, 8000)
    back, rate = read_wav(path)
    assert rate == 8000 and back.dtype == np.int16
    assert np.array_equal(back, pcm)
    assert np.array_equal(read_wav_8k(path), pcm)


def test_read_wav_8k_resamples(tmp_path: Path) -> None:
    t = np.arange(22050) / 22050
    path = tmp_path / "x.wav"
    write_pcm_wav(path, to_int16(0.5 * np.sin(2 * np.pi * 440 * t)), 22050)
    pcm = read_wav_8k(path)
    assert abs(len(pcm) - 8000) <= 1
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    assert abs(np.fft.rfftfreq(len(pcm), 1 / 8000)[np.argmax(spectrum)] - 440) <= 2


def test_read_float_and_24bit_wavs(tmp_path: Path) -> None:
    x = np.array([0.0, 0.5, -0.5, 1.5, -1.5, 0.25])
    for subtype in ("FLOAT", "DOUBLE"):
        path = tmp_path / f"{subtype}.wav"
        sf.write(str(path), x, 8000, subtype=subtype)
        pcm, _ = read_wav(path)
        assert pcm.tolist() == [0, 16384, -16384, 32767, -32768, 8192]
    path = tmp_path / "p24.wav"
    sf.write(str(path), np.array([0.0, 0.5, -0.5]), 8000, subtype="PCM_24")
    assert read_wav(path)[0].tolist() == [0, 16384, -16384]


def test_stereo_is_mixed_down(tmp_path: Path) -> None:
    path = tmp_path / "s.wav"
    left = np.array([1000, -2000, 3, 32767], dtype=np.int16)
    right = np.array([3000, 2000, 4, 32767], dtype=np.int16)
    write_stereo_wav(path, left, right)
    pcm, rate = read_wav(path)
    assert rate == 8000
    assert pcm.tolist() == [2000, 0, 4, 32767]  # mean, rounded half to even


def test_stereo_pads_shorter_track(tmp_path: Path) -> None:
    path = tmp_path / "s.wav"
    left = np.arange(1, 11, dtype=np.int16)
    right = np.arange(100, 104, dtype=np.int16)
    write_stereo_wav(path, left, right, rate=16000)
    data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    assert rate == 16000 and data.shape == (10, 2)
    assert data[:, 0].tolist() == left.tolist()
    assert data[:, 1].tolist() == [100, 101, 102, 103, 0, 0, 0, 0, 0, 0]
    write_stereo_wav(path, right, left)  # either side may be the shorter one
    assert sf.read(str(path), dtype="int16")[0].shape == (10, 2)


def test_errors_are_one_line_audio_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.wav"
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("hello\nworld\n")
    for path in (missing, not_audio, tmp_path):
        for reader in (read_wav, read_wav_8k, read_ulaw):
            with pytest.raises(AudioFileError) as info:
                reader(path)
            err = info.value
            assert isinstance(err, ValueError)
            assert err.path == path
            assert "\n" not in str(err) and str(err).startswith(str(path))
    with pytest.raises(AudioFileError, match="no such file"):
        read_wav(missing)
    with pytest.raises(AudioFileError, match="does not exist"):
        write_ulaw_wav(tmp_path / "nodir" / "x.wav", b"\xff")
    with pytest.raises(AudioFileError, match="does not exist"):
        write_pcm_wav(tmp_path / "nodir" / "x.wav", np.zeros(3, dtype=np.int16))


def test_write_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_pcm_wav(tmp_path / "x.wav", np.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        write_stereo_wav(tmp_path / "x.wav", np.zeros((2, 2), np.int16), np.zeros(2, np.int16))
    with pytest.raises(AudioFileError):
        write_pcm_wav(tmp_path / "x.wav", np.zeros(3, np.int16), 0)
