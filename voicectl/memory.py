"""A long-running server's memory upkeep: resident memory kept flat (issue 6: RSS growth
<= 5 % over a 1,000-call soak), and garbage-collector pauses kept short (issue 12).

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

The cyclic garbage collector is the third: a full (generation-2) collection walks every
container object the process holds, and a server holds about a hundred thousand from
start-up alone (modules, the Hebrew tables, compiled statements). Measured at 200 calls
on two workers (docs/benchmarks.md, "Issue 12: garbage-collector pauses and SQLite
writers"), one full collection stopped a worker's event loop for 104-110 ms - longer than
the playback lead - and the caller heard a gap. `freeze_startup_heap` moves everything
alive after start-up into the collector's permanent generation (`gc.freeze`, Python docs
"gc"), so later collections walk only what calls hold.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import time

__all__ = [
    "ARENA_MAX",
    "TRIM_EVERY_S",
    "GcPauses",
    "Trimmer",
    "freeze_startup_heap",
    "limit_arenas",
    "trim",
]

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


def freeze_startup_heap() -> int:
    """Collect once, then exclude every object alive now from later collections
    (`gc.collect()` + `gc.freeze()`; see the module docstring), once per process: call it
    when start-up is over (modules imported, tables loaded, warm-up done), before traffic.
    Frozen objects are never collected as garbage - what start-up state is for; a later
    call (a test process that starts many servers) freezes nothing more, so nothing a
    call allocated is ever frozen. Returns how many objects are frozen
    (`gc.get_freeze_count()`)."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.collect()
        gc.freeze()
    return gc.get_freeze_count()


_heap_frozen = False


class GcPauses:
    """Full (generation-2) collections of this process, for `/metrics`: how many, and the
    time they stopped every thread (s). One per process (`GcPauses.install()`); it times
    collections with `gc.callbacks` (Python docs "gc"), ~1 µs per collection."""

    _installed: GcPauses | None = None

    def __init__(self) -> None:
        self.count = 0
        self.total_s = 0.0
        self.max_s = 0.0
        self._t0 = 0.0

    @classmethod
    def install(cls) -> GcPauses:
        """This process's monitor, registered with the collector on first use."""
        if cls._installed is None:
            cls._installed = cls()
            gc.callbacks.append(cls._installed._callback)
        return cls._installed

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        pause = time.perf_counter() - self._t0
        self.count += 1
        self.total_s += pause
        self.max_s = max(self.max_s, pause)

    def prometheus_lines(self) -> list[str]:
        """The pauses and the frozen start-up heap in Prometheus text format."""
        return [
            "# HELP voicectl_gc_full_collections_total Full garbage collections.",
            "# TYPE voicectl_gc_full_collections_total counter",
            f"voicectl_gc_full_collections_total {self.count}",
            "# HELP voicectl_gc_full_collection_seconds_total Time full collections stopped "
            "the process.",
            "# TYPE voicectl_gc_full_collection_seconds_total counter",
            f"voicectl_gc_full_collection_seconds_total {self.total_s:.6f}",
            "# HELP voicectl_gc_full_collection_max_seconds The longest full collection.",
            "# TYPE voicectl_gc_full_collection_max_seconds gauge",
            f"voicectl_gc_full_collection_max_seconds {self.max_s:.6f}",
            "# HELP voicectl_gc_frozen_objects Objects of the start-up heap that collections "
            "skip (gc.freeze).",
            "# TYPE voicectl_gc_frozen_objects gauge",
            f"voicectl_gc_frozen_objects {gc.get_freeze_count()}",
        ]


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
