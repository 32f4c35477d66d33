"""Injected clocks, so the call core never reads the wall clock itself (DESIGN.md: conventions).

`Clock.now_ms()` is monotonic milliseconds (float); only differences are meaningful.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of monotonic time in milliseconds."""

    def now_ms(self) -> float:
        """Return monotonic time in ms (arbitrary origin)."""
        ...


class MonotonicClock:
    """The real clock: `time.monotonic()` in ms."""

    def now_ms(self) -> float:
        return time.monotonic() * 1000.0


class FakeClock:
    """A clock tests move by hand: `advance(ms)`; starts at `start_ms`."""

    def __init__(self, start_ms: float = 0.0) -> None:
        self._now = float(start_ms)

    def now_ms(self) -> float:
        return self._now

    def advance(self, ms: float) -> None:
        """Move time forward by `ms` milliseconds (must be >= 0)."""
        if ms < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += ms
