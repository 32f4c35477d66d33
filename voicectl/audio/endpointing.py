"""Sans-I/O utterance endpointing on top of a frame-level VAD.

Feed every inbound 20 ms frame with its stream timestamp (Twilio ``media.timestamp``,
ms since stream start); get :class:`SpeechStart` / :class:`SpeechEnd` events back. No
clock, no I/O: the decision time is the stream time of the end of the frame that
completed the hangover, so results are deterministic and replayable.

Timeline of one utterance (frames of 20 ms; ``V`` voiced, ``.`` unvoiced; release 0)::

    . . V V V . V V . . . . . . .
        ^ speech_start_ms       (after ``start_frames`` consecutive V: SpeechStart)
                      ^ speech_end_ms = end of the last V
                                  ^ endpoint_ms = speech_end_ms + hangover_ms (SpeechEnd)

VAD release: some VADs keep reporting speech for a while after speech stops (WebRTC's
GMM VAD adds 60-140 ms of its own hangover, see ``docs/vad.md``). A VAD declares that as
``release_ms``; the endpointer reports ``speech_end_ms = end of the last V -
release_ms`` (the real end of speech, which the latency marks need) and takes the same
amount off ``voiced_ms``. The decision itself still waits ``hangover_ms`` of unvoiced
*VAD frames*, so the time from the real end of speech to the decision is
``release_ms + hangover_ms`` (about 220-240 ms with WebRTC mode 2 and 120 ms). Counting
the hangover from the corrected end instead split 16 of 39 test phrases on a noisy line
(``docs/vad.md``). Pass ``release_ms=0`` to report the raw VAD frame edge.

Knobs (SEEDS.md D.1): ``VAD_HANGOVER_MS`` 120-160 (try 120) and ``MIN_UTT_SEC``
0.20-0.25. DESIGN.md says the endpointing decision comes ``VAD_HANGOVER_MS`` after
``speech_end``: here it comes ``hangover_ms`` after the VAD's last voiced frame, which
is ``release_ms`` after the reported ``speech_end_ms`` (see above). The knobs are
configurable per call state (e.g. longer while a caller dictates), hence
:attr:`Endpointer.hangover_ms` / :attr:`Endpointer.min_utt_ms` can be changed between
frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voicectl.audio.frames import SAMPLE_RATE
from voicectl.audio.vad import VAD

__all__ = ["Endpointer", "SpeechEnd", "SpeechEvent", "SpeechStart"]


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
        speech_end_ms: End of its last voiced frame minus the VAD's ``release_ms``
            (never before the end of the first voiced frame), ms.
        endpoint_ms: Stream time the end was decided, ms: the end of the frame on which
            ``hangover_ms`` of unvoiced frames had followed the last voiced frame, i.e.
            ``speech_end_ms + release_ms + hangover_ms`` for contiguous 20 ms frames (or
            the flush time).
        voiced_ms: Total duration of its voiced frames minus the release, ms (pauses
            excluded; at least one frame).
        discarded: True if ``voiced_ms < min_utt_ms``: not an utterance (a click, a
            cough); callers should undo whatever they did on the :class:`SpeechStart`.
    """

    speech_start_ms: int
    speech_end_ms: int
    endpoint_ms: int
    voiced_ms: int
    discarded: bool = False


SpeechEvent = SpeechStart | SpeechEnd


class Endpointer:
    """Utterance detector: VAD decisions -> speech start / end events.

    Args:
        vad: Frame-level VAD (one instance per stream).
        hangover_ms: Unvoiced time after the last voiced frame that ends an utterance,
            ms (>= 0). SEEDS.md: ``VAD_HANGOVER_MS`` 120-160.
        min_utt_ms: Minimum total voiced time of an utterance, ms (>= 0); shorter ones
            end with ``discarded=True``. SEEDS.md: ``MIN_UTT_SEC`` 0.20-0.25.
        start_frames: Consecutive voiced frames needed to start an utterance (>= 1).
        release_ms: The VAD's own hangover to take off the reported end of speech and
            the voiced time, ms (>= 0);
            None = read the VAD's ``release_ms`` attribute when needed (0 if it has
            none; :class:`~voicectl.audio.vad.WebRtcVAD` computes it per utterance).

    Raises:
        ValueError: If an argument is out of range.

    Attributes:
        vad: The VAD in use.
        hangover_ms: May be changed at any time; applies from the next frame.
        min_utt_ms: May be changed at any time; applies to the next :class:`SpeechEnd`.
        start_frames: May be changed at any time; applies from the next frame.
        release_ms: May be changed at any time; applies from the next frame.
    """

    def __init__(
        self,
        vad: VAD,
        hangover_ms: int = 120,
        min_utt_ms: int = 200,
        start_frames: int = 2,
        release_ms: int | None = None,
    ) -> None:
        self.vad = vad
        self.hangover_ms = hangover_ms
        self.min_utt_ms = min_utt_ms
        self.start_frames = start_frames
        self.release_ms = release_ms
        self._reset_state()

    # knobs, validated on every assignment -------------------------------------------
    @property
    def hangover_ms(self) -> int:
        """Unvoiced ms after the last voiced frame that end an utterance."""
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

    @property
    def release_ms(self) -> int:
        """The VAD's own hangover taken off the reported end of speech, ms (the fixed
        value, or the VAD's ``release_ms`` now when set to None)."""
        if self._release_ms is None:
            return _non_negative("vad.release_ms", getattr(self.vad, "release_ms", 0))
        return self._release_ms

    @release_ms.setter
    def release_ms(self, value: int | None) -> None:
        self._release_ms = None if value is None else _non_negative("release_ms", value)

    # state ---------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._in_speech = False
        self._run = 0  # consecutive voiced frames while not in speech
        self._run_start_ms = 0
        self._run_voiced_ms = 0
        self._start_ms = 0
        self._first_voiced_end_ms = 0
        self._last_voiced_end_ms = 0
        self._voiced_ms = 0
        self._last_ts_ms: int | None = None
        self._last_end_ms: int | None = None

    @property
    def in_speech(self) -> bool:
        """True between a :class:`SpeechStart` and its :class:`SpeechEnd`."""
        return self._in_speech

    @property
    def voiced_ms_in_current(self) -> int:
        """Voiced ms so far in the current utterance, as the VAD reports them (release
        not yet taken off); 0 when not in speech."""
        return self._voiced_ms if self._in_speech else 0

    @property
    def current_start_ms(self) -> int | None:
        """``ts_ms`` of the current utterance's :class:`SpeechStart`, or None."""
        return self._start_ms if self._in_speech else None

    def reset(self) -> None:
        """Forget any utterance in progress (no event) and reset the VAD if it can."""
        self._reset_state()
        vad_reset = getattr(self.vad, "reset", None)
        if callable(vad_reset):
            vad_reset()

    # input ---------------------------------------------------------------------------
    def push(self, frame: npt.NDArray[np.int16], ts_ms: int) -> list[SpeechEvent]:
        """Run the VAD on one frame and advance.

        Args:
            frame: One 20 ms frame, shape ``(160,)``, int16, 8 kHz (what the VAD takes).
            ts_ms: Stream timestamp of the frame's first sample, ms (Twilio
                ``media.timestamp``). Must not go backwards. Missing frames count as
                unvoiced: they break a voiced run and run down the hangover.

        Returns:
            Events decided by this frame, in order: usually none, or one. Two (a
            :class:`SpeechEnd` then a :class:`SpeechStart`) only when the hangover had
            already run out before this frame (missing frames, or ``hangover_ms``
            lowered at run time) and this frame starts a new utterance.

        Raises:
            ValueError: If ``ts_ms`` goes backwards, or from the VAD for a bad frame.
            TypeError: From the VAD for a non-int16 frame.
        """
        frame_ms = int(round(frame.shape[0] * 1000 / SAMPLE_RATE))
        return self.push_decision(self.vad.is_speech(frame), ts_ms, frame_ms)

    def push_decision(self, voiced: bool, ts_ms: int, frame_ms: int = 20) -> list[SpeechEvent]:
        """Advance with an already computed VAD decision (same rules as :meth:`push`).

        Args:
            voiced: The VAD decision for the frame.
            ts_ms: Stream timestamp of the frame's start, ms.
            frame_ms: Frame duration, ms (> 0).

        Returns:
            Events decided by this frame, in order (see :meth:`push`).

        Raises:
            ValueError: If ``ts_ms`` goes backwards or ``frame_ms <= 0``.
        """
        if frame_ms <= 0:
            raise ValueError(f"frame_ms must be > 0, got {frame_ms}")
        if self._last_ts_ms is not None and ts_ms < self._last_ts_ms:
            raise ValueError(f"ts_ms went backwards: {ts_ms} after {self._last_ts_ms}")
        # a whole missing frame (or more) since the previous one breaks a voiced run
        gap = self._last_end_ms is not None and ts_ms - self._last_end_ms >= frame_ms
        end_ms = ts_ms + frame_ms
        self._last_ts_ms = ts_ms
        self._last_end_ms = end_ms
        events: list[SpeechEvent] = []

        if self._in_speech:
            silence_before = ts_ms - self._last_voiced_end_ms
            if silence_before > 0 and silence_before >= self._hangover_ms:
                # missing frames (or a hangover shortened at run time) already covered
                # the hangover: end it now, then treat this frame as a fresh one
                events.append(self._end(end_ms))
            elif voiced:
                self._voiced_ms += frame_ms
                self._last_voiced_end_ms = end_ms
                return events
            elif end_ms - self._last_voiced_end_ms >= self._hangover_ms:
                events.append(self._end(end_ms))
                return events
            else:
                return events

        if not voiced:
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
            self._first_voiced_end_ms = self._run_start_ms + frame_ms
            self._voiced_ms = self._run_voiced_ms
            self._last_voiced_end_ms = end_ms
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
        return [self._end(max(when or 0, self._last_voiced_end_ms))]

    def _speech_end_ms(self) -> int:
        return max(self._last_voiced_end_ms - self.release_ms, self._first_voiced_end_ms)

    def _end(self, endpoint_ms: int) -> SpeechEnd:
        speech_end = self._speech_end_ms()
        frame_ms = self._first_voiced_end_ms - self._start_ms
        voiced = max(self._voiced_ms - (self._last_voiced_end_ms - speech_end), frame_ms)
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


def _non_negative(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)
