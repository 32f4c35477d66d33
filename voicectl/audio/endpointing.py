"""Sans-I/O utterance endpointing on top of a frame-level VAD.

Feed every inbound 20 ms frame with its stream timestamp (Twilio ``media.timestamp``,
ms since stream start); get :class:`SpeechStart` / :class:`SpeechEnd` events back. No
clock, no I/O: the decision time is the stream time of the end of the frame that
completed the hangover, so results are deterministic and replayable.

Timeline of one utterance (frames of 20 ms; ``V`` voiced by the VAD, ``.`` not)::

    . . V V V . V V v v v . . . . .
        ^ speech_start_ms       (after ``start_frames`` consecutive speech frames)
                      ^ speech_end_ms = end of the last loud 5 ms of a speech frame
                                  ^ endpoint_ms >= speech_end_ms + hangover_ms (SpeechEnd)

The VAD says *whether* there is speech; frame energy says *where it ends*. A speech
frame is one the VAD calls voiced that has a 5 ms sub-block whose power is ``loud_db``
(6 dB) above the line's noise floor (:class:`NoiseFloor`, minimum statistics over the
last ~3 s). VADs keep reporting speech for a while after speech stops (WebRTC's GMM VAD
adds 60-140 ms of its own hangover: the ``v`` frames above, see ``docs/vad.md``); those
frames are at the noise level, so they are not speech frames. The end of speech is the
end of the last loud sub-block of a speech frame, and the decision comes on the first
frame that ends at least ``hangover_ms`` after it: the time from the real end of speech
to the decision is ``hangover_ms`` plus at most one frame (DESIGN.md: "the endpointing
decision comes ``VAD_HANGOVER_MS`` after ``speech_end``"). A VAD stuck on noise does not
keep an utterance open once the floor has risen to that noise.
:meth:`Endpointer.push_decision` has no audio: there every voiced frame is a speech
frame, to its end.

Knobs (SEEDS.md D.1): ``VAD_HANGOVER_MS`` (seed 120-160, project default 260; 120 with
the 260 ms resume window turns speculative endpointing on, see below) and
``MIN_UTT_SEC`` 0.20-0.25; the split figures per hangover are in ``docs/vad.md``. The
knobs are configurable per call state (e.g. longer while a caller dictates), hence
:attr:`Endpointer.hangover_ms` / :attr:`Endpointer.min_utt_ms` can be changed between
frames.

Speculative endpointing (``docs/vad.md``, "Speculative endpointing"): an utterance ends
*tentatively* at ``hangover_ms``; speech that starts again within a resume window of its
end (:func:`resumes`) continues it, and the call core takes back what it did on the
tentative end. No acoustic rule tells a 150 ms clause pause from an end of turn, so the
short hangover buys the reply's speed and the window keeps the utterance whole.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from voicectl.audio.frames import SAMPLE_RATE
from voicectl.audio.vad import VAD

__all__ = ["Endpointer", "NoiseFloor", "SpeechEnd", "SpeechEvent", "SpeechStart", "resumes"]

SUB_SAMPLES = 40
"""Samples per energy sub-block (5 ms at 8 kHz): the resolution of the end of speech."""
SUB_MS = SUB_SAMPLES * 1000 // SAMPLE_RATE
_DIGITAL_SILENCE = bytes(2 * 160)


@dataclass(frozen=True)
class SpeechStart:
    """The caller started an utterance (tentatively: it may end up discarded).

    Attributes:
        ts_ms: Stream time of the start of the first voiced frame, ms.
        decided_ms: Stream time at which the start was decided (end of the
            ``start_frames``-th voiced frame), ms.
    """

    ts_ms: int
    decided_ms: int


@dataclass(frozen=True)
class SpeechEnd:
    """The current utterance ended.

    Attributes:
        speech_start_ms: Start of its first voiced frame (as in :class:`SpeechStart`), ms.
        speech_end_ms: End of the last loud 5 ms sub-block of its last speech frame (the
            real end of speech), ms.
        endpoint_ms: Stream time the end was decided, ms: the end of the first frame
            that ends at least ``hangover_ms`` after ``speech_end_ms`` (or the flush
            time).
        voiced_ms: Total duration of its speech frames (VAD-voiced with a loud
            sub-block), ms (pauses excluded; at least ``start_frames`` frames).
        discarded: True if ``voiced_ms < min_utt_ms``: not an utterance (a click, a
            cough); callers should undo whatever they did on the :class:`SpeechStart`.
    """

    speech_start_ms: int
    speech_end_ms: int
    endpoint_ms: int
    voiced_ms: int
    discarded: bool = False


SpeechEvent = SpeechStart | SpeechEnd


class NoiseFloor:
    """The line's noise power, by minimum statistics over recent frames.

    The floor is the lowest 20 ms frame power of the last ``blocks`` completed blocks of
    ``block_frames`` frames plus the current block (2.5-3 s with the defaults). Speech
    has pauses and closures at the noise level well within that time, so the minimum
    follows the noise: down at once, up within the window when the line gets noisier
    (minimum statistics: R. Martin, "Noise power spectral density estimation based on
    optimal smoothing and minimum statistics", IEEE TSAP 2001, without its bias
    correction - the minimum of a 20 ms frame's power over white noise is ~1 dB under
    its mean, well inside the Endpointer's 6 dB).

    The floor starts at ``min_dbfs`` with the window full of it, so it rises only after
    a whole window of louder frames: a caller who talks from the first frame on is
    measured against the quietest line, never against their own voice. It never goes
    below ``min_dbfs``: on a digitally silent line the floor would be 0 and every
    sample loud.

    Args:
        block_frames: Frames per block (> 0).
        blocks: Completed blocks kept (> 0).
        min_dbfs: Lowest floor, dBFS (-70: a little above the quietest μ-law steps).

    Attributes:
        power: The current floor, mean square of int16 samples.
    """

    def __init__(self, block_frames: int = 25, blocks: int = 5, min_dbfs: float = -70.0):
        if block_frames <= 0 or blocks <= 0:
            raise ValueError("block_frames and blocks must be > 0")
        self._block_frames = block_frames
        self._min_power = 32768.0**2 * 10 ** (min_dbfs / 10)
        self._mins: deque[float] = deque(maxlen=blocks)
        self.reset()

    def update(self, power: float) -> float:
        """Add one frame's mean power (mean square of int16 samples); return the floor."""
        if power < self._cur:
            self._cur = power
        self._n += 1
        if self._n == self._block_frames:
            self._mins.append(self._cur)
            self._past = min(self._mins)
            self._cur = float("inf")
            self._n = 0
        self.power = max(min(self._past, self._cur), self._min_power)
        return self.power

    def reset(self) -> None:
        """Forget the line (a new stream): back to ``min_dbfs``, window full of it."""
        self._mins.clear()
        self._mins.extend([self._min_power] * (self._mins.maxlen or 1))
        self._past = self._min_power
        self._cur = float("inf")
        self._n = 0
        self.power = self._min_power


class Endpointer:
    """Utterance detector: VAD decisions + frame energy -> speech start / end events.

    Args:
        vad: Frame-level VAD (one instance per stream).
        hangover_ms: Silence after the end of speech that ends an utterance, ms (>= 0).
            SEEDS.md: ``VAD_HANGOVER_MS`` 120-160; the default is the project's 260, the
            silence that keeps clause pauses in one utterance without a resume window
            (:class:`voicectl.config.Settings`; splits per value in ``docs/vad.md``).
        min_utt_ms: Minimum total voiced time of an utterance, ms (>= 0); shorter ones
            end with ``discarded=True``. SEEDS.md: ``MIN_UTT_SEC`` 0.20-0.25.
        start_frames: Consecutive voiced frames needed to start an utterance (>= 1).
        loud_db: How far above the noise floor a 5 ms sub-block's power must be to be
            speech, dB (> 0). 6 dB: twice the noise amplitude (``docs/vad.md``).

    Raises:
        ValueError: If an argument is out of range.

    Attributes:
        vad: The VAD in use.
        noise_floor: The line's :class:`NoiseFloor`.
        hangover_ms: May be changed at any time; applies from the next frame.
        min_utt_ms: May be changed at any time; applies to the next :class:`SpeechEnd`.
        start_frames: May be changed at any time; applies from the next frame.
    """

    def __init__(
        self,
        vad: VAD,
        hangover_ms: int = 260,
        min_utt_ms: int = 200,
        start_frames: int = 2,
        loud_db: float = 6.0,
    ) -> None:
        if not loud_db > 0:
            raise ValueError(f"loud_db must be > 0, got {loud_db!r}")
        self.vad = vad
        self.hangover_ms = hangover_ms
        self.min_utt_ms = min_utt_ms
        self.start_frames = start_frames
        self.noise_floor = NoiseFloor()
        # sub-block energy (sum of squares over SUB_SAMPLES) / frame power at the floor
        self._loud_gain = SUB_SAMPLES * 10 ** (loud_db / 10)
        self._reset_state()

    # knobs, validated on every assignment -------------------------------------------
    @property
    def hangover_ms(self) -> int:
        """Silence in ms after the end of speech that ends an utterance."""
        return self._hangover_ms

    @hangover_ms.setter
    def hangover_ms(self, value: int) -> None:
        self._hangover_ms = _non_negative("hangover_ms", value)

    @property
    def min_utt_ms(self) -> int:
        """Minimum voiced ms for an utterance not to be discarded."""
        return self._min_utt_ms

    @min_utt_ms.setter
    def min_utt_ms(self, value: int) -> None:
        self._min_utt_ms = _non_negative("min_utt_ms", value)

    @property
    def start_frames(self) -> int:
        """Consecutive voiced frames that start an utterance."""
        return self._start_frames

    @start_frames.setter
    def start_frames(self, value: int) -> None:
        if _non_negative("start_frames", value) < 1:
            raise ValueError("start_frames must be >= 1")
        self._start_frames = int(value)

    # state ---------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._in_speech = False
        self._run = 0  # consecutive voiced frames while not in speech
        self._run_start_ms = 0
        self._run_voiced_ms = 0
        self._start_ms = 0
        self._speech_end_ms = 0  # end of the last loud sub-block of a speech frame
        self._voiced_ms = 0  # speech-frame ms so far in the utterance
        self._last_ts_ms: int | None = None
        self._last_end_ms: int | None = None

    @property
    def in_speech(self) -> bool:
        """True between a :class:`SpeechStart` and its :class:`SpeechEnd`."""
        return self._in_speech

    @property
    def voiced_ms_in_current(self) -> int:
        """Speech-frame ms so far in the current utterance (VAD-voiced with a loud
        sub-block); 0 when not in speech."""
        return self._voiced_ms if self._in_speech else 0

    @property
    def starting(self) -> bool:
        """True while a run of speech frames that may become a :class:`SpeechStart` is
        under way (fewer than ``start_frames`` so far); False in speech."""
        return not self._in_speech and self._run > 0

    @property
    def current_start_ms(self) -> int | None:
        """``ts_ms`` of the current utterance's :class:`SpeechStart`, or None."""
        return self._start_ms if self._in_speech else None

    def reset(self) -> None:
        """Forget any utterance in progress (no event), the noise floor, and reset the VAD
        if it can."""
        self._reset_state()
        self.noise_floor.reset()
        vad_reset = getattr(self.vad, "reset", None)
        if callable(vad_reset):
            vad_reset()

    # input ---------------------------------------------------------------------------
    def push(self, frame: npt.NDArray[np.int16], ts_ms: int) -> list[SpeechEvent]:
        """Run the VAD on one frame, measure its energy, and advance.

        Args:
            frame: One 20 ms frame, shape ``(160,)``, int16, 8 kHz (what the VAD takes).
            ts_ms: Stream timestamp of the frame's first sample, ms (Twilio
                ``media.timestamp``). Must not go backwards. Missing frames count as
                silence: they break a run of speech frames and run down the hangover.

        Returns:
            Events decided by this frame, in order: usually none, or one. Two (a
            :class:`SpeechEnd` then a :class:`SpeechStart`) only when the hangover had
            already run out before this frame (missing frames, or ``hangover_ms``
            lowered at run time) and this frame starts a new utterance.

        Raises:
            ValueError: If ``ts_ms`` goes backwards, or from the VAD for a bad frame.
            TypeError: From the VAD for a non-int16 frame.
        """
        voiced = self.vad.is_speech(frame)  # validates the frame (160 int16 samples)
        n = frame.shape[0]
        frame_ms = n * 1000 // SAMPLE_RATE
        loud_until: int | None = None
        if frame.tobytes() == _DIGITAL_SILENCE:  # a cheap test; common between turns
            self.noise_floor.update(0.0)
        elif not voiced:  # only the floor needs this frame's power
            self.noise_floor.update(float(np.square(frame, dtype=np.float32).sum()) / n)
        else:
            # Small ufuncs and reductions hold the GIL; `np.dot` and `reduceat` release it,
            # and on the event loop each release can cost a worker thread's whole switch
            # interval (docs/benchmarks.md "Issue 12: the GIL on the frame path").
            sq = np.square(frame, dtype=np.float32)
            if n % SUB_SAMPLES == 0:
                sub = sq.reshape(-1, SUB_SAMPLES).sum(axis=1).tolist()
            else:
                sub = np.add.reduceat(sq, np.arange(0, n, SUB_SAMPLES)).tolist()
            threshold = self.noise_floor.update(sum(sub) / n) * self._loud_gain
            for i in range(len(sub) - 1, -1, -1):
                if sub[i] > threshold:
                    loud_until = ts_ms + (i + 1) * SUB_MS
                    break
        return self._advance(voiced, ts_ms, frame_ms, loud_until)

    def push_decision(self, voiced: bool, ts_ms: int, frame_ms: int = 20) -> list[SpeechEvent]:
        """Advance with an already computed VAD decision and no audio: a voiced frame
        counts as speech to its end (otherwise the same rules as :meth:`push`).

        Args:
            voiced: The VAD decision for the frame.
            ts_ms: Stream timestamp of the frame's start, ms.
            frame_ms: Frame duration, ms (> 0).

        Returns:
            Events decided by this frame, in order (see :meth:`push`).

        Raises:
            ValueError: If ``ts_ms`` goes backwards or ``frame_ms <= 0``.
        """
        return self._advance(voiced, ts_ms, frame_ms, ts_ms + frame_ms if voiced else None)

    def _advance(
        self, voiced: bool, ts_ms: int, frame_ms: int, loud_until: int | None
    ) -> list[SpeechEvent]:
        if frame_ms <= 0:
            raise ValueError(f"frame_ms must be > 0, got {frame_ms}")
        if self._last_ts_ms is not None and ts_ms < self._last_ts_ms:
            raise ValueError(f"ts_ms went backwards: {ts_ms} after {self._last_ts_ms}")
        # a whole missing frame (or more) since the previous one breaks a speech run
        gap = self._last_end_ms is not None and ts_ms - self._last_end_ms >= frame_ms
        end_ms = ts_ms + frame_ms
        self._last_ts_ms = ts_ms
        self._last_end_ms = end_ms
        # speech: the VAD says voiced and the frame has a loud sub-block
        speech = voiced and loud_until is not None
        events: list[SpeechEvent] = []

        if self._in_speech:
            if ts_ms - self._speech_end_ms >= self._hangover_ms:
                # the hangover ran out before this frame (missing frames, or a hangover
                # shortened at run time): end it now, then treat this frame as fresh
                events.append(self._end(end_ms))
            elif speech:
                self._voiced_ms += frame_ms
                self._speech_end_ms = cast(int, loud_until)
                return events
            elif end_ms - self._speech_end_ms >= self._hangover_ms:
                events.append(self._end(end_ms))
                return events
            else:
                return events

        if not speech:
            self._run = 0
            self._run_voiced_ms = 0
            return events
        if self._run == 0 or gap:
            self._run = 0
            self._run_voiced_ms = 0
            self._run_start_ms = ts_ms
        self._run += 1
        self._run_voiced_ms += frame_ms
        if self._run >= self._start_frames:
            self._in_speech = True
            self._start_ms = self._run_start_ms
            self._voiced_ms = self._run_voiced_ms
            self._speech_end_ms = cast(int, loud_until)
            self._run = 0
            self._run_voiced_ms = 0
            events.append(SpeechStart(ts_ms=self._start_ms, decided_ms=end_ms))
        return events

    def flush(self, ts_ms: int | None = None) -> list[SpeechEvent]:
        """End the stream (Twilio ``stop``): close an utterance in progress.

        Args:
            ts_ms: Stream time of the end of the stream, ms; defaults to the end of the
                last frame pushed.

        Returns:
            ``[SpeechEnd(...)]`` (``endpoint_ms`` = the flush time; discarded if too
            short) if an utterance was in progress, else ``[]``. The endpointer is then
            idle; call :meth:`reset` before reusing it for another stream.
        """
        if not self._in_speech:
            self._run = 0
            self._run_voiced_ms = 0
            return []
        when = self._last_end_ms if ts_ms is None else ts_ms
        return [self._end(max(when or 0, self._speech_end_ms))]

    def _end(self, endpoint_ms: int) -> SpeechEnd:
        speech_end = self._speech_end_ms
        voiced = self._voiced_ms
        event = SpeechEnd(
            speech_start_ms=self._start_ms,
            speech_end_ms=speech_end,
            endpoint_ms=endpoint_ms,
            voiced_ms=voiced,
            discarded=voiced < self._min_utt_ms,
        )
        self._in_speech = False
        self._voiced_ms = 0
        self._run = 0
        self._run_voiced_ms = 0
        return event


def resumes(speech_end_ms: int, start_ms: int, resume_window_ms: int) -> bool:
    """Whether speech starting at stream time ``start_ms`` continues the utterance whose
    speech ended at ``speech_end_ms`` (both ms): the silence between them is at most
    ``resume_window_ms``. The rule of speculative endpointing, used by the call session
    and by ``vad_bench``'s merged split count (``docs/vad.md``)."""
    return start_ms - speech_end_ms <= resume_window_ms


def _non_negative(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)
