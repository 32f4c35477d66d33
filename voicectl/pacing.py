"""`FrameTicker`: one 20 ms timer per event loop for everything that moves audio frames.

A phone call moves a 20 ms frame each way 50 times a second. Giving every call a task
that sleeps 20 ms costs, at 200 calls, 10,000 timer wake-ups a second (a future, a timer
handle, a task step each): after the socket work, the largest per-frame cost of a loaded
server (docs/benchmarks.md "Where the time per frame goes"). Here one `call_at` timer per
loop calls every registered callback in turn on the 20 ms grid of the loop's clock. The
server's call pacer (`voicectl.call.runner`) and the Twilio emulator's caller audio
(`voicectl.sim.emulator`) both tick from it.

A tick that comes late runs at once (the next one stays on the grid, so a short stall is
caught up tick by tick); a loop that stalled more than `REANCHOR_S` re-anchors the grid
instead of bursting. A callback that raises is dropped from the ticker and logged; the
others go on.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

from voicectl.audio.frames import FRAME_MS
from voicectl.logs import get_logger

__all__ = ["REANCHOR_S", "FrameTicker"]

_log = get_logger("pacing")

#: A tick later than this (s) re-anchors the grid: no burst of catch-up ticks.
REANCHOR_S = 0.2


class FrameTicker:
    """Calls each registered callback every `period_s` on one loop (see the module
    docstring). Get the loop's ticker with `FrameTicker.of(loop)`.

    Attributes:
        due: the loop time (s) the running tick was scheduled for; a callback can measure
            its own lateness against it.
    """

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FrameTicker] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, period_s: float = FRAME_MS / 1000) -> None:
        # No reference to the loop is kept: the registry's weak key must be able to die.
        self._period = period_s
        self._callbacks: dict[Callable[[], None], None] = {}  # an insertion-ordered set
        self._handle: asyncio.Handle | None = None  # the next tick, None while ticking
        self._ticking = False
        self.due = 0.0

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> FrameTicker:
        """The ticker of `loop`, created on first use."""
        ticker = cls._by_loop.get(loop)
        if ticker is None:
            ticker = cls._by_loop[loop] = cls()
        return ticker

    def __len__(self) -> int:
        return len(self._callbacks)

    def add(self, callback: Callable[[], None]) -> None:
        """Call `callback()` from the next tick on (the timer starts with the first one).
        Call it on the ticker's loop."""
        self._callbacks[callback] = None
        if self._handle is None and not self._ticking:
            loop = asyncio.get_running_loop()
            self.due = loop.time()
            self._handle = loop.call_soon(self._run)

    def remove(self, callback: Callable[[], None]) -> None:
        """Stop calling `callback` (idempotent); the timer stops with the last one."""
        self._callbacks.pop(callback, None)
        if not self._callbacks and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        self._handle, self._ticking = None, True
        try:
            for callback in list(self._callbacks):
                try:
                    callback()
                except Exception:  # one call's bug must not stop the others' audio
                    self._callbacks.pop(callback, None)
                    _log.exception("a 20 ms callback failed; it is no longer ticked")
        finally:
            self._ticking = False
        if not self._callbacks:
            return
        loop = asyncio.get_running_loop()
        self.due += self._period
        now = loop.time()
        if now - self.due > REANCHOR_S:  # a stalled loop: re-anchor, don't burst
            self.due = now
        self._handle = loop.call_at(self.due, self._run)
