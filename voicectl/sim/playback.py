"""Twilio's playback buffer, modelled sans-I/O (TWILIO.md "Media Streams", `mark`/`clear`).

Twilio plays the bot's `media` frames back to back at real time, in arrival order; a frame
that arrives while the buffer still holds audio waits its turn, one that arrives after the
buffer ran dry plays at once. A `mark` is echoed when every frame sent before it has
finished playing; `clear` drops the unplayed audio and echoes every pending mark at once.

Both the simulator (`voicectl.sim.emulator`) and the load generator (`voicectl.bench.load`)
drive this one model with their clock (seconds, monotonic), so "heard" means the same in
both. It also measures what a caller hears as choppy audio:

- an **audio gap** is a frame of a reply that arrives after the buffer ran dry in the
  middle of that reply (the previous frame of the same reply - no mark in between - had
  finished playing): the caller hears silence for ``arrival - end of previous frame``;
- the **lead** is how much audio was still buffered when a frame arrived (ms): the bot's
  head start over playback (`playback_lead_ms` on the server).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from voicectl.audio.frames import FRAME_MS

__all__ = ["Gap", "PlaybackBuffer"]

_FRAME_S = FRAME_MS / 1000


@dataclass(frozen=True, slots=True)
class Gap:
    """Silence heard inside a reply: when it started (s) and how long it lasted (ms)."""

    at: float
    ms: float


@dataclass
class PlaybackBuffer:
    """The caller's playback buffer. Times are seconds on the driver's monotonic clock.

    Drive it with `audio`, `mark` and `clear` as server messages arrive, and call
    `advance(now)` whenever time passes (e.g. every 20 ms) to learn which frames started
    playing and which marks are now due for echo.

    Attributes:
        gaps: every audio gap (see the module docstring), in arrival order.
        leads_ms: per received frame, the audio still buffered ahead of it (ms, >= 0).
        frames_in: bot frames received.
    """

    gaps: list[Gap] = field(default_factory=list)
    leads_ms: list[float] = field(default_factory=list)
    frames_in: int = 0
    # (play_start, frame) for audio not yet reported by `advance`; ("mark", name) items.
    _queue: deque[tuple[str, float, object]] = field(default_factory=deque)
    _end: float = 0.0  # when the last queued frame finishes playing
    _in_reply: bool = False  # the last item received was audio (no mark after it yet)
    _run_start: float | None = None  # start of the audio playing without a break

    def audio(self, frame: bytes, now: float) -> None:
        """A `media` frame arrived at `now` (20 ms of audio, 160 μ-law bytes)."""
        self.frames_in += 1
        lead = self._end - now
        if lead >= 0 and self._run_start is not None:
            start = self._end
            self.leads_ms.append(round(lead * 1000, 3))
        else:
            start = now
            self._run_start = now
            self.leads_ms.append(0.0)
            if self._in_reply and lead < 0:
                self.gaps.append(Gap(self._end, round(-lead * 1000, 3)))
        self._end = start + _FRAME_S
        self._in_reply = True
        self._queue.append(("audio", start, frame))

    def mark(self, name: str, now: float) -> None:
        """A `mark` arrived: it ends the reply before it and echoes once that has played."""
        self._in_reply = False
        self._queue.append(("mark", max(self._end, now), name))

    def clear(self, now: float) -> list[str]:
        """`clear`: drop unplayed audio; returns every pending mark (echo them at once)."""
        names = [str(item) for kind, _, item in self._queue if kind == "mark"]
        self._queue.clear()
        self._end = now
        self._in_reply = False
        self._run_start = None
        return names

    def advance(self, now: float) -> tuple[list[tuple[float, bytes]], list[str]]:
        """Let time run to `now`.

        Returns:
            (frames that started playing since the last call, as (play start s, frame), in
            order; marks now due for echo, in order). A mark is due when the audio before it
            has finished playing.
        """
        frames: list[tuple[float, bytes]] = []
        marks: list[str] = []
        while self._queue and self._queue[0][1] <= now:
            kind, at, item = self._queue.popleft()
            if kind == "audio":
                assert isinstance(item, bytes)
                frames.append((at, item))
            else:
                marks.append(str(item))
        return frames, marks

    def next_mark_due(self) -> float | None:
        """When the first pending mark falls due (s), None when no mark is pending: a
        driver can sleep until then instead of ticking every 20 ms."""
        for kind, at, _ in self._queue:
            if kind == "mark":
                return at
        return None

    def playing_since(self, now: float) -> float | None:
        """When the audio now playing started playing without a break (None = silent)."""
        if self._run_start is None or self._end <= now:
            return None
        return self._run_start

    @property
    def buffered_until(self) -> float:
        """When the audio received so far will have finished playing (s)."""
        return self._end
