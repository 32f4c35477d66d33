"""The server under load: a `voicectl serve` subprocess, and what /proc says about it.

`bench --load` never runs the server in the load generator's process: the in-process
default starts ``python -m voicectl.cli serve`` on a free loopback port with a fresh SQLite
file, simulator parameters accepted (`VOICECTL_ACCEPT_SIM_PARAMS=true`: the offline
recogniser reads each utterance's transcript from them), and reads its CPU time and peak
memory from ``/proc/<pid>`` (Linux). Event-loop lag comes from the server's own
``/metrics`` histogram (`voicectl.loop_lag`).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from voicectl.loop_lag import METRIC, histogram_quantile

__all__ = ["ProcSample", "ServeProcess", "lag_buckets", "lag_p99_ms", "proc_sample"]


@dataclass(frozen=True, slots=True)
class ProcSample:
    """CPU seconds used so far (user + system), resident and peak resident memory (bytes)."""

    cpu_s: float
    rss_bytes: int
    peak_rss_bytes: int


def proc_sample(pid: int) -> ProcSample | None:
    """Read ``/proc/<pid>/stat`` and ``/proc/<pid>/status``; None when unavailable.

    Source: proc(5) - stat fields 14/15 are utime/stime in clock ticks; status ``VmRSS``
    and ``VmHWM`` (peak resident set) are in kB.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)

    def kb(name: str) -> int:
        m = re.search(rf"^{name}:\s+(\d+) kB", status, re.M)
        return int(m.group(1)) * 1024 if m else 0

    return ProcSample(cpu, kb("VmRSS"), kb("VmHWM"))


def lag_buckets(metrics_text: str) -> list[tuple[float, float]]:
    """The event-loop lag histogram's cumulative buckets from a /metrics page."""
    out = []
    for m in re.finditer(rf'^{METRIC}_bucket{{le="([^"]+)"}} (\S+)$', metrics_text, re.M):
        out.append((float(m.group(1)), float(m.group(2))))
    return out


def lag_p99_ms(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> float | None:
    """p99 event-loop lag (ms) between two scrapes of the histogram; None if unknown."""
    if not after or len(before) not in (0, len(after)):
        return None
    base = dict(before)
    diff = [(b, c - base.get(b, 0.0)) for b, c in after]
    q = histogram_quantile(0.99, diff)
    return None if q is None else q * 1000


def free_port(lo: int = 19000, hi: int = 19100) -> int:
    """A free loopback TCP port, preferring `lo`..`hi` (issue 10's range), else any."""
    for port in range(lo, hi):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """`voicectl serve` in a child process; a context manager.

    Args:
        extra_env: environment for the server on top of ours (e.g. latency settings).

    Attributes:
        http_base: ``http://127.0.0.1:<port>`` once started.
        pid: the server's process id.
    """

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        self.extra_env = extra_env or {}
        self.http_base = ""
        self.pid = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="voicectl-load-")
        self.log_path = Path(self._tmp.name) / "serve.log"

    def __enter__(self) -> ServeProcess:
        port = free_port()
        env = {
            **os.environ,
            "VOICECTL_ACCEPT_SIM_PARAMS": "true",
            "VOICECTL_LOG_LEVEL": "WARNING",
            **self.extra_env,
        }
        db = Path(self._tmp.name) / "load.db"
        cmd = [sys.executable, "-m", "voicectl.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--db", str(db)]
        self._log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.pid = self._proc.pid
        self.http_base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if self._proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-800:]
                raise RuntimeError(f"voicectl serve exited with {self._proc.returncode}: {tail}")
            try:
                if httpx.get(f"{self.http_base}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("voicectl serve did not answer /healthz within 60 s")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if getattr(self, "_log", None) is not None:
            self._log.close()
        self._tmp.cleanup()
