"""`voicectl serve --workers N`: N server processes on one port, and their supervisor.

The supervisor (the `serve` process itself) binds the listening socket once and starts N
workers - each a complete `voicectl serve` (its own event loop, `Runtime`, `APP_START`,
uvicorn server with the bridge's limits from `telephony/twilio/server.py`) that accepts
connections on the inherited socket. The kernel hands each new connection to one of the
processes waiting in `accept` (a worker whose loop is free first takes it), and a worker
that dies loses no connection still queued on the socket (unlike one SO_REUSEPORT socket
per worker, whose queue dies with it).

No call state lives in one worker: `/voice` and `/media` of one call may land in
different workers (`telephony/twilio/security.py`, `store/streams.py`). The workers
share one stream key: the Twilio auth token or `VOICECTL_STREAM_SECRET`, else a random
secret this supervisor generates and hands them in their environment.

A worker that exits unexpectedly is reported (ERROR) and restarted after a back-off; its
calls are closed as "interrupted" by its replacement's start-up recovery. A worker that
fails at start-up (exit code 2: bad configuration or a missing extra) or keeps dying
within `QUICK_EXIT_S` of starting stops the whole server. SIGINT/SIGTERM stop every
worker with one SIGTERM each - each ends its live calls and saves their records as a
single `serve` does - and kill what is still running `STOP_GRACE_S` later. Workers run in
their own process group (a terminal's Ctrl-C reaches only the supervisor, which forwards
it once) and exit by themselves if the supervisor disappears.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from voicectl.logs import get_logger

_log = get_logger("supervisor")

#: A worker that exits sooner than this after starting counts as failing at start-up.
QUICK_EXIT_S = 10.0
#: Consecutive quick exits of one worker before the server gives up.
MAX_QUICK_EXITS = 5
#: Seconds between a worker's death and its restart, times its consecutive quick exits.
RESTART_BACKOFF_S = 1.0
#: Seconds the workers get to finish after SIGTERM before they are killed.
STOP_GRACE_S = 30.0
#: How often the supervisor looks at its workers (s).
POLL_S = 0.2
#: Environment variable telling a worker its index (1..N), for its logs.
WORKER_ENV = "VOICECTL_WORKER"
#: Environment variable naming the supervisor's pid (a worker exits when it is gone).
SUPERVISOR_ENV = "VOICECTL_SUPERVISOR_PID"
#: How a worker ends after our SIGTERM: uvicorn shuts down, then re-raises the signal.
CLEAN_EXITS = (0, -signal.SIGTERM, -signal.SIGINT)
#: Exit code of a worker that could not start (bad configuration): the whole server stops.
CONFIG_ERROR = 2


def listen_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on `host:port`, inheritable by the workers.

    Raises:
        OSError: the address is in use or not available.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


@dataclass
class _Worker:
    index: int
    proc: subprocess.Popen[bytes]
    started: float
    quick_exits: int = 0


class Supervisor:
    """Starts and watches N workers of `worker_args` on one listening socket.

    Args:
        workers: how many processes.
        worker_args: the `voicectl serve` options every worker gets (without `--workers`).
        sock: the listening socket (see `listen_socket`).
        stream_secret: shared key material when neither `TWILIO_AUTH_TOKEN` nor
            `VOICECTL_STREAM_SECRET` is set (None: the workers find it in their settings).
    """

    def __init__(
        self,
        workers: int,
        worker_args: list[str],
        sock: socket.socket,
        stream_secret: str | None = None,
    ) -> None:
        self.n = workers
        self.args = worker_args
        self.sock = sock
        self.env = dict(os.environ)
        self.env[SUPERVISOR_ENV] = str(os.getpid())
        if stream_secret is not None:
            self.env["VOICECTL_STREAM_SECRET"] = stream_secret
        self.workers: dict[int, _Worker] = {}
        self._stop = threading.Event()
        self.exit_code = 0

    def _spawn(self, index: int, quick_exits: int = 0) -> None:
        fd = self.sock.fileno()
        cmd = [sys.executable, "-m", "voicectl", "serve", *self.args, "--worker-fd", str(fd)]
        proc = subprocess.Popen(
            cmd,
            env={**self.env, WORKER_ENV: str(index)},
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
            process_group=0,
        )
        self.workers[index] = _Worker(index, proc, time.monotonic(), quick_exits)
        _log.info("worker %d started (pid %d)", index, proc.pid)

    def stop(self, *_: object) -> None:
        """Ask the supervisor to stop every worker (signal-handler safe)."""
        self._stop.set()

    def run(self) -> int:
        """Start the workers and watch them until stopped; returns the exit code."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.stop)
        host, port = self.sock.getsockname()[:2]
        _log.info("serving http://%s:%d with %d worker processes", host, port, self.n)
        for i in range(1, self.n + 1):
            self._spawn(i)
        try:
            while not self._stop.wait(POLL_S):
                self._reap()
        finally:
            self._stop_all()
        return self.exit_code

    def _reap(self) -> None:
        for index, w in list(self.workers.items()):
            code = w.proc.poll()
            if code is None or self._stop.is_set():
                continue
            lived = time.monotonic() - w.started
            how = f"signal {-code}" if code < 0 else f"code {code}"
            quick = w.quick_exits + 1 if lived < QUICK_EXIT_S else 0
            if code == CONFIG_ERROR and lived < QUICK_EXIT_S:
                _log.error("worker %d (pid %d) could not start; stopping", index, w.proc.pid)
                self.exit_code = CONFIG_ERROR
                self._stop.set()
                return
            if quick >= MAX_QUICK_EXITS:
                _log.error(
                    "worker %d (pid %d) exited with %s %d times in a row within %.0f s of "
                    "starting; stopping",
                    index, w.proc.pid, how, quick, QUICK_EXIT_S,
                )  # fmt: skip
                self.exit_code = 1
                self._stop.set()
                return
            delay = RESTART_BACKOFF_S * max(1, quick)
            _log.error(
                "worker %d (pid %d) exited with %s after %.0f s; restarting in %.0f s",
                index, w.proc.pid, how, lived, delay,
            )  # fmt: skip
            if self._stop.wait(delay):
                return
            self._spawn(index, quick)

    def _stop_all(self) -> None:
        alive = [w for w in self.workers.values() if w.proc.poll() is None]
        for w in alive:
            with contextlib.suppress(ProcessLookupError):
                w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for w in alive:
            try:
                code = w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _log.error("worker %d (pid %d) did not stop; killing it", w.index, w.proc.pid)
                w.proc.kill()
                code = w.proc.wait(5)
            if code not in CLEAN_EXITS:
                _log.warning("worker %d (pid %d) stopped with code %s", w.index, w.proc.pid, code)
                self.exit_code = self.exit_code or 1
        self.sock.close()
        _log.info("all %d workers stopped", len(self.workers))


def shared_stream_secret(auth_token: str | None, stream_secret: str | None) -> str | None:
    """The secret to hand the workers: None when their settings already have one."""
    return None if auth_token or stream_secret else secrets.token_hex(32)


def watch_supervisor() -> None:
    """`exit_with_parent` for the process named in `VOICECTL_SUPERVISOR_PID`, if set: a
    `serve --workers` supervisor for its workers, `bench --load` for the server it runs."""
    parent = os.environ.get(SUPERVISOR_ENV, "")
    if parent.isdigit():
        exit_with_parent(int(parent))


def exit_with_parent(parent: int) -> None:
    """SIGTERM this process once process `parent` is no longer its parent (it was killed
    without stopping its children, e.g. SIGKILL), checked once a second on a daemon
    thread. Used by `serve` workers and `bench --load` generator processes."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="voicectl-parent-watch", daemon=True).start()
