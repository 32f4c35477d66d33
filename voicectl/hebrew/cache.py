"""Bounded caches for the pure functions of caller text (`normalize`, `variants`, ...).

One caller turn asks the same questions of the same words many times: every matcher
(intents, yes/no, goodbye, services, names) normalises the utterance and strips the
prefixes of its words again. Caching those pure functions makes the repeats free.

Their keys come from the network (a transcript, a word of it), and input from the network
is hostile, so every cache here is bounded twice: in entries (`maxsize`, least recently
used evicted first) and in the size of what it keeps - a string longer than `max_chars` is
computed but not cached. The memory one cache can hold is therefore about
``maxsize * max_chars`` characters, whatever callers say.

Functions of the code's own vocabulary (phrases written in the source) use a plain
`functools.lru_cache`; this module is for keys a caller chose.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["clear_caches", "text_cache"]

P = ParamSpec("P")
R = TypeVar("R")

_CACHES: list[Any] = []


def text_cache(maxsize: int, max_chars: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a pure function whose first argument is caller text with a bounded cache.

    Args:
        maxsize: entries kept at most (least recently used evicted first).
        max_chars: a first argument longer than this (or not exactly a `str`) is computed
            every time, never stored.

    The function's result must be immutable (a `str`, a tuple, a frozen object): it is
    shared by every caller that asks the same question. Thread-safe (`lru_cache`).
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        cached = functools.lru_cache(maxsize=maxsize)(fn)
        _CACHES.append(cached)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            text = args[0] if args else None
            if type(text) is str and len(text) <= max_chars and not kwargs:
                return cached(*args)
            return fn(*args, **kwargs)

        wrapper.cache_info = cached.cache_info  # type: ignore[attr-defined]
        wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return wrapper

    return decorate


def clear_caches() -> None:
    """Empty every cache of this module (benchmarks of a cold turn; tests)."""
    for cached in _CACHES:
        cached.cache_clear()
