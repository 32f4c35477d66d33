"""Speech-like test audio with known speech boundaries (espeak-ng).

Used by the audio tests and :mod:`voicectl.audio.vad_bench` to measure VAD/endpointing
against ground truth: phrases are synthesized with the project's offline espeak-ng TTS
(:class:`voicectl.speech.tts.espeak.EspeakTTS`, deterministic output), trimmed to their
active span, laid out with exact silence gaps and optionally put through a "phone line"
(noise floor + G.711 μ-law round trip).

espeak-ng's library is a process-wide singleton (one voice, one callback); it is driven
only through ``EspeakTTS``, which owns that state and its lock, never directly from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from voicectl.audio.frames import SAMPLE_RATE
from voicectl.audio.g711 import ulaw_decode, ulaw_encode
from voicectl.audio.resample import resample

if TYPE_CHECKING:
    from voicectl.speech.tts.espeak import EspeakTTS

__all__ = [
    "Part",
    "Segment",
    "active_span",
    "click",
    "compose",
    "espeak_pcm",
    "phone_line",
    "speak",
]

_engines: dict[tuple[str, int, int], EspeakTTS] = {}


def espeak_pcm(
    text: str, voice: str = "he", rate_wpm: int = 175, pitch: int = 50
) -> tuple[npt.NDArray[np.int16], int]:
    """Synthesize ``text`` with espeak-ng at its native rate.

    Args:
        text: Text without clause punctuation (punctuation makes ``EspeakTTS`` split the
            text and insert pauses).
        voice: espeak-ng language voice, e.g. ``"he"``.
        rate_wpm: Speaking rate in words per minute (80-450).
        pitch: Base pitch 0-100.

    Returns:
        ``(pcm, rate_hz)``: int16 mono samples and espeak-ng's output rate (22050 Hz);
        the same arguments always give the same samples.

    Raises:
        voicectl.speech.tts.base.TTSError: If espeak-ng fails.
        ValueError: If a parameter is out of range.
    """
    from voicectl.speech.tts.espeak import EspeakTTS

    key = (voice, rate_wpm, pitch)
    tts = _engines.get(key)
    if tts is None:
        tts = _engines[key] = EspeakTTS(voice=voice, rate_wpm=rate_wpm, pitch=pitch)
    chunks = list(tts.synthesize(text))
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return pcm.astype(np.int16, copy=False), tts.sample_rate


def active_span(
    pcm: npt.NDArray[np.int16],
    rate: int = SAMPLE_RATE,
    threshold_dbfs: float = -50.0,
    window_ms: float = 5.0,
) -> tuple[int, int] | None:
    """Find the first and last sample of activity in a clean signal.

    Activity = a ``window_ms`` RMS window (hop 1 ms) at or above ``threshold_dbfs``
    (0 dBFS = RMS of a full-scale square wave, 32768).

    Args:
        pcm: int16 samples, shape ``(n,)``.
        rate: Sample rate in Hz.
        threshold_dbfs: Activity threshold in dBFS.
        window_ms: RMS window length in ms.

    Returns:
        ``(first, end)`` sample indices (``end`` exclusive) of the active region, or
        None if nothing reaches the threshold.
    """
    win = max(1, int(rate * window_ms / 1000))
    hop = max(1, rate // 1000)
    x = pcm.astype(np.float64) / 32768.0
    if x.shape[0] < win:
        return None
    csum = np.concatenate(([0.0], np.cumsum(x * x)))
    starts = np.arange(0, x.shape[0] - win + 1, hop)
    rms_db = 10 * np.log10((csum[starts + win] - csum[starts]) / win + 1e-20)
    active = np.nonzero(rms_db >= threshold_dbfs)[0]
    if active.size == 0:
        return None
    first = int(starts[active[0]])
    end = int(starts[active[-1]] + win)
    # tighten to the first/last sample that is itself above the threshold amplitude
    amp = 32768.0 * 10 ** (threshold_dbfs / 20)
    loud = np.nonzero(np.abs(pcm[first:end].astype(np.int32)) >= amp)[0]
    if loud.size:
        first, end = first + int(loud[0]), first + int(loud[-1]) + 1
    return first, end


def speak(
    text: str, voice: str = "he", rate_wpm: int = 175, pitch: int = 50
) -> npt.NDArray[np.int16]:
    """Synthesize ``text`` at 8 kHz, trimmed to its active span (see :func:`active_span`).

    Args:
        text: UTF-8 text.
        voice: espeak-ng voice name.
        rate_wpm: Speaking rate in words per minute.
        pitch: Base pitch 0-100.

    Returns:
        int16 mono PCM at 8000 Hz whose first and last samples are speech.

    Raises:
        voicectl.speech.tts.base.TTSError: If espeak-ng fails.
        RuntimeError: If the synthesis has no audible audio.
    """
    pcm, rate = espeak_pcm(text, voice, rate_wpm, pitch)
    pcm8 = resample(pcm, rate, SAMPLE_RATE)
    span = active_span(pcm8)
    if span is None:
        raise RuntimeError(f"espeak-ng produced no audible audio for {text!r}")
    return pcm8[span[0] : span[1]].copy()


def click(
    ms: float = 60.0, f0_hz: float = 140.0, level_dbfs: float = -12.0
) -> npt.NDArray[np.int16]:
    """Return a short voiced-sounding burst (harmonics of ``f0_hz``, Hann envelope).

    Models a cough/click/"uh" that a VAD flags as speech but that is too short to be an
    utterance.

    Args:
        ms: Duration in ms.
        f0_hz: Fundamental in Hz.
        level_dbfs: Peak level in dBFS.

    Returns:
        int16 PCM at 8000 Hz, ``ms * 8`` samples.
    """
    n = int(ms * SAMPLE_RATE / 1000)
    t = np.arange(n) / SAMPLE_RATE
    harmonics = range(1, int(3400 // f0_hz) + 1)
    x = sum(np.sin(2 * np.pi * f0_hz * k * t) / k for k in harmonics)
    x = np.asarray(x, dtype=np.float64) * np.hanning(n)
    peak = np.max(np.abs(x)) or 1.0
    return np.rint(x / peak * 32767 * 10 ** (level_dbfs / 20)).astype(np.int16)


@dataclass(frozen=True)
class Segment:
    """A ground-truth event in composed test audio.

    Attributes:
        start_ms: First active sample, ms from the start of the audio.
        end_ms: End of the last active sample (exclusive), ms.
        kind: ``"speech"`` (a phrase) or ``"click"`` (a short non-utterance burst).
        label: The phrase text, or a description.
    """

    start_ms: float
    end_ms: float
    kind: Literal["speech", "click"]
    label: str


Part = int | float | str | tuple[str, npt.NDArray[np.int16]]
"""One item for :func:`compose`: ms of silence, a phrase, or ``(label, pcm)``."""


def compose(parts: Sequence[Part]) -> tuple[npt.NDArray[np.int16], list[Segment]]:
    """Lay out test audio at 8 kHz with exact boundaries.

    Args:
        parts: In order; a number = that many ms of digital silence; a ``str`` = a
            phrase synthesized with :func:`speak` (Hebrew voice); ``("click", pcm)`` or
            ``(label, pcm)`` = that PCM as a ``"click"`` segment, or as ``"speech"`` when
            the label is anything else.

    Returns:
        ``(pcm, segments)``: int16 8 kHz mono audio and one :class:`Segment` per
        non-silence part, with times in ms.
    """
    pieces: list[npt.NDArray[np.int16]] = []
    segments: list[Segment] = []
    pos = 0
    for part in parts:
        if isinstance(part, int | float):
            piece = np.zeros(int(round(part * SAMPLE_RATE / 1000)), dtype=np.int16)
        else:
            if isinstance(part, str):
                label, piece = part, speak(part)
            else:
                label, piece = part
            kind: Literal["speech", "click"] = "click" if label == "click" else "speech"
            span = active_span(piece) or (0, piece.shape[0])
            segments.append(
                Segment(
                    start_ms=(pos + span[0]) * 1000 / SAMPLE_RATE,
                    end_ms=(pos + span[1]) * 1000 / SAMPLE_RATE,
                    kind=kind,
                    label=label,
                )
            )
        pieces.append(piece)
        pos += piece.shape[0]
    pcm = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
    return pcm, segments


def phone_line(
    pcm: npt.NDArray[np.int16], noise_dbfs: float | None = -60.0, seed: int = 0
) -> npt.NDArray[np.int16]:
    """Simulate the caller's leg: add a noise floor, then a G.711 μ-law round trip.

    Args:
        pcm: int16 8 kHz mono samples.
        noise_dbfs: RMS level of added white Gaussian noise in dBFS, or None for none.
        seed: RNG seed (deterministic output).

    Returns:
        int16 PCM of the same length, exactly as a server decoding Twilio's μ-law sees it.
    """
    x = pcm.astype(np.float64)
    if noise_dbfs is not None:
        rng = np.random.default_rng(seed)
        x = x + rng.standard_normal(x.shape[0]) * 32768.0 * 10 ** (noise_dbfs / 20)
    clipped = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return ulaw_decode(ulaw_encode(clipped))
