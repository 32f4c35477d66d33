"""Role thread pools: a stalled role never holds up another role's work (issue 12: at 200
calls agent turns and TTS waited behind each other in one shared pool)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from voicectl import executors


@pytest.mark.parametrize("stalled", ["agent", "db"])
def test_a_stalled_role_does_not_delay_tts(stalled: str) -> None:
    release = threading.Event()

    async def main() -> str:
        # Every thread of the stalled role blocks, plus a queue of work behind them -
        # more than asyncio's default pool (cores + 4) could ever run.
        blocked = [
            asyncio.ensure_future(executors.run(stalled, release.wait, 30))
            for _ in range(executors.POOL_THREADS[stalled] + 8)
        ]
        try:
            return await asyncio.wait_for(
                executors.run("tts", lambda: threading.current_thread().name), 10
            )
        finally:
            release.set()
            await asyncio.gather(*blocked)

    name = asyncio.run(main())
    assert name.startswith("voicectl-tts")


def test_run_passes_arguments_and_raises_what_the_function_raises() -> None:
    async def main() -> None:
        assert await executors.run("db", divmod, 7, 2) == (3, 1)
        with pytest.raises(ZeroDivisionError):
            await executors.run("db", divmod, 1, 0)

    asyncio.run(main())


def test_unknown_role_is_refused() -> None:
    with pytest.raises(KeyError):
        executors.pool("gpu")  # type: ignore[arg-type]
