"""Helpers shared by the tests: free loopback ports, a `voicectl serve` subprocess that
is waited for on `/healthz`, polling for another thread or process, and racing threads.

Import as `from helpers import ...` (pytest puts `tests/` on the path).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from voicectl.bench.server import wait_healthy

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """`python -m voicectl serve --port <free port> *args` as a subprocess.

    Args:
        tmp: a folder for its output (`<name>.log`), and its working directory unless
            `cwd` is given.
        args: more `serve` options.
        env: variables added to this process's environment.
        cwd: its working directory.
        name: the log file's name.
        stdout: where its output goes instead of the log file (e.g. `subprocess.PIPE`,
            read with `communicate`).

    Use as a context manager (stopped on exit) or call `stop` / `kill`.
    """

    def __init__(
        self,
        tmp: Path,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        name: str = "serve",
        stdout: int | IO[Any] | None = None,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicectl", "serve", "--port", str(self.port), *args],
            cwd=cwd or tmp,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self.log.open("wb") if stdout is None else stdout,
            stderr=subprocess.STDOUT,
        )

    @property
    def media(self) -> str:
        """The `ws://` URL of its `/media`."""
        return self.base.replace("http://", "ws://") + "/media"

    def output(self) -> str:
        """What it has written to its log file so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_healthy(self, timeout_s: float = 90.0) -> ServeProcess:
        """Return once `/healthz` answers 200 (`voicectl.bench.server.wait_healthy`).

        Raises:
            RuntimeError: the process exited, or did not answer within `timeout_s`.
        """
        wait_healthy(self.base, self.proc, self.log, timeout_s)
        return self

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM (a clean shutdown), then its exit code; SIGKILL if it does not end."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)

    def kill(self) -> int:
        """SIGKILL (a crash), then its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=20)

    def communicate(self, timeout_s: float = 60.0) -> str:
        """Stop it (SIGTERM) and return what it wrote to `stdout=subprocess.PIPE`."""
        if self.proc.poll() is None:
            self.proc.terminate()
        out, _ = self.proc.communicate(timeout=timeout_s)
        return out.decode(errors="replace") if isinstance(out, bytes) else out or ""

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop()


def simulate_url(
    media: str, scenario: Path, out: Path, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """`voicectl simulate --url <media> <scenario> --json <out>` against a running server,
    with `env` over ours but without `VOICECTL_DATABASE` (the server's, not the
    simulator's); its output captured as text (at most 240 s)."""
    sim_env = {k: v for k, v in {**os.environ, **env}.items() if k != "VOICECTL_DATABASE"}
    return subprocess.run(
        [sys.executable, "-m", "voicectl", "simulate", "--url", media, str(scenario),
         "--json", str(out)],
        capture_output=True, text=True, timeout=240, cwd=cwd, env=sim_env,
    )  # fmt: skip


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
