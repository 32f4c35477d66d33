"""Thread pools by role: the blocking work a call needs, kept off the event loop and out of
each other's way.

`asyncio.to_thread` puts everything in one default pool of `min(32, cores + 4)` threads
(6 on this 2-core machine). With many calls, agent turns, TTS chunks and database reads
queue behind each other in it: issue 12 measured a 200-call server that greeted every
caller and then sent no reply audio at all. Here each role has its own pool, so a slow
model or a locked database holds only its own threads and the next TTS chunk is never
queued behind them (DESIGN.md: "a stalled dependency never stops audio").

Roles and sizes (threads; a pool starts its threads only as work arrives):

- `agent`: the agent's turn (an HTTP call to a model, or the offline agent). Mostly
  waiting on the network, so wide.
- `tts`: one synthesis step (`next()` on a TTS stream) and resampling. espeak-ng and numpy
  release the GIL while they compute; a few threads per core keep both cores busy.
- `db`: reads and writes on the call path (`store/*`), each a short transaction; as wide
  as SQLite's busy timeout makes sense (a writer waiting on the lock holds its thread).
- `control`: Twilio REST (hang-up, `<Gather>` redirect), bounded by its own timeout.
- `flows`: the after-call dispatcher's polls, never on the audio path; its threads'
  database writes give way to the call path's (`store.sqlite_writers.yield_to_call_path`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

Role = Literal["agent", "tts", "db", "control", "flows"]

#: Most threads per role.
POOL_THREADS: dict[str, int] = {"agent": 32, "tts": 8, "db": 8, "control": 8, "flows": 2}

T = TypeVar("T")

_pools: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def pool(role: Role) -> ThreadPoolExecutor:
    """This process's pool for `role`, created on first use.

    Raises:
        KeyError: an unknown role.
    """
    found = _pools.get(role)
    if found is not None:
        return found
    size = POOL_THREADS[role]
    with _lock:
        found = _pools.get(role)
        if found is None:
            found = _pools[role] = ThreadPoolExecutor(
                size,
                thread_name_prefix=f"voicectl-{role}",
                initializer=_yield_to_call_path if role == "flows" else None,
            )
        return found


def _yield_to_call_path() -> None:
    from voicectl.store.sqlite_writers import yield_to_call_path

    yield_to_call_path()


async def run(role: Role, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
    """Run `fn(*args, **kwargs)` in `role`'s pool and await its result - `asyncio.to_thread`
    with a pool of its own (the caller's context variables go with it).

    Raises whatever `fn` raises; cancelling the await does not stop a running `fn` (a
    thread cannot be interrupted), it only stops waiting for it.
    """
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(pool(role), call)
