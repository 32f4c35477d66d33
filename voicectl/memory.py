"""Keeping a long-running server's resident memory flat (issue 6: RSS growth <= 5 % over a
1,000-call soak).

Python frees what a call allocated, but glibc's `malloc` keeps freed memory in the process:
each thread that allocates gets an arena of its own (up to 8 per core), and a freed hole in
the middle of a heap is not given back to the kernel. A server that handles calls on role
thread pools (`voicectl.executors`) and now and then a hostile 1 MB message therefore grows
by steps that never come back, although tracemalloc shows no Python object left behind
(docs/benchmarks.md, "Robustness"). Two glibc controls fix that:

- `limit_arenas`: `mallopt(M_ARENA_MAX, n)` - the same knob as the `MALLOC_ARENA_MAX`
  environment variable (glibc `mallopt(3)`), set at start-up unless that variable is set.
- `Trimmer`: `malloc_trim(0)` now and then, off the event loop - gives free pages at the
  top of each heap and, since glibc 2.8, free whole pages inside it back to the kernel
  (glibc `malloc_trim(3)`).

Both are no-ops where the C library is not glibc (musl, macOS).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import time

__all__ = ["ARENA_MAX", "TRIM_EVERY_S", "Trimmer", "limit_arenas", "trim"]

_log = logging.getLogger(__name__)

#: Arenas for the whole process. The event loop and the role pools' threads (mostly waiting
#: on espeak-ng, SQLite or the network, which hold no arena lock meanwhile) share them;
#: 2 is what Heroku and many Python/Ruby servers run with.
ARENA_MAX = 2

#: Seconds between two trims (a trim walks the heaps: ~1 ms per 100 MB here).
TRIM_EVERY_S = 30.0

_M_ARENA_MAX = -8  # glibc malloc.h


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def limit_arenas(n: int = ARENA_MAX) -> bool:
    """Cap glibc's malloc arenas at `n` for threads started from now on.

    An operator's `MALLOC_ARENA_MAX` wins (glibc read it at start-up); then nothing is
    changed. Returns True when the cap was set here.
    """
    if _LIBC is None or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(_LIBC.mallopt(_M_ARENA_MAX, n))


def trim() -> bool:
    """`malloc_trim(0)`: give free heap memory back to the kernel. Blocking (a few ms for
    a few hundred MB of heap); ctypes releases the GIL meanwhile. Returns True when memory
    was released."""
    return _LIBC is not None and bool(_LIBC.malloc_trim(0))


class Trimmer:
    """Trims every `every_s` seconds in a thread, as an asyncio task (`run`).

    Args:
        every_s: seconds between trims.
    """

    def __init__(self, every_s: float = TRIM_EVERY_S) -> None:
        self.every_s = every_s
        self.trims = 0
        self.busy_s = 0.0  # time spent trimming, for /metrics-free diagnosis in tests

    async def run(self) -> None:
        """Trim until cancelled; a failed trim is logged and tried again next time."""
        if _LIBC is None:
            return
        from voicectl import executors

        while True:
            await asyncio.sleep(self.every_s)
            t0 = time.perf_counter()
            try:
                await executors.run("flows", trim)
            except Exception as exc:  # noqa: BLE001 - memory upkeep never ends the server
                _log.warning("malloc_trim failed: %r", exc)
                continue
            self.trims += 1
            self.busy_s += time.perf_counter() - t0
