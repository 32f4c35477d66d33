"""Helpers shared by the tests: racing threads (more to come in this module).

Import as `from helpers import race` (pytest puts `tests/` on the path).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def race(n: int, fn: Callable[[int], T], timeout_s: float = 120.0) -> list[T]:
    """Run `fn(0)` .. `fn(n - 1)` in `n` threads released at once (a barrier); return
    their results (in finishing order). An exception in any thread is re-raised here
    after all have finished, so a racer that fails fails the test.

    Raises:
        TimeoutError: a thread still runs after `timeout_s` seconds.
    """
    barrier = threading.Barrier(n)
    out: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            r = fn(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            with lock:
                errors.append(exc)
            return
        with lock:
            out.append(r)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
        if t.is_alive():
            raise TimeoutError(f"a racing thread still runs after {timeout_s} s")
    if errors:
        raise errors[0]
    return out


def eventually(pred: Callable[[], object], timeout_s: float = 15.0, every_s: float = 0.05) -> bool:
    """Poll `pred()` until it is true (returns True) or `timeout_s` passes (False).

    For waiting on another thread or process - never a timed assertion: the timeout only
    bounds a test that would otherwise hang."""
    deadline = time.monotonic() + timeout_s
    while True:
        if pred():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(every_s)
