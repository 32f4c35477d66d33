"""The server under load: a `voicectl serve` subprocess, and what /proc says about it.

`bench --load` never runs the server in the load generator's process: the in-process
default starts ``python -m voicectl.cli serve`` (with ``--workers N`` when asked) on a free
loopback port with a fresh SQLite file, simulator parameters accepted
(`VOICECTL_ACCEPT_SIM_PARAMS=true`: the offline recogniser reads each utterance's
transcript from them), and reads CPU time and memory from ``/proc`` (Linux), summed over
the server's process tree (the supervisor and its workers). Event-loop lag comes from the
servers' own ``/metrics`` histograms (`voicectl.loop_lag`): each worker has its own, told
apart by `voicectl_process_pid`, and the worst worker's p99 is reported.
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
from voicectl.supervisor import SUPERVISOR_ENV

__all__ = [
    "ProcSample",
    "ServeProcess",
    "lag_buckets",
    "lag_p99_ms",
    "proc_sample",
    "scrape_lag",
    "tree_sample",
    "worst_lag_p99_ms",
]


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


def descendants(pid: int) -> list[int]:
    """The live descendants of `pid` (children, their children, ...), from ``/proc``."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent_of[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    found, frontier = [], [pid]
    while frontier:
        kids = [c for c, p in parent_of.items() if p in frontier]
        found += kids
        frontier = kids
    return found


def tree_sample(pid: int) -> ProcSample | None:
    """`proc_sample` summed over `pid` and its descendants (a `serve --workers N`
    supervisor and its workers); None when `pid` is unavailable. The peak is the sum of
    each process's own peak: an upper bound of the tree's peak at any one moment."""
    own = proc_sample(pid)
    if own is None:
        return None
    samples = [own, *(s for c in descendants(pid) if (s := proc_sample(c)) is not None)]
    return ProcSample(
        sum(s.cpu_s for s in samples),
        sum(s.rss_bytes for s in samples),
        sum(s.peak_rss_bytes for s in samples),
    )


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


#: The gauge naming the process that answered a /metrics scrape (`serve --workers`).
PID_METRIC = "voicectl_process_pid"


def scrape_lag(http_base: str, processes: int = 1, tries: int = 40) -> dict[int, list]:
    """Event-loop lag buckets per server process: pid -> `lag_buckets`. Scrapes /metrics
    on new connections until `processes` distinct pids have answered (the workers of one
    port take connections in turn) or `tries` scrapes; pid 0 for a server without the
    pid gauge. Unreachable: {}."""
    out: dict[int, list] = {}
    for _ in range(max(1, tries)):
        try:
            text = httpx.get(f"{http_base}/metrics", timeout=5).text
        except httpx.HTTPError:
            break
        m = re.search(rf"^{PID_METRIC} (\d+)", text, re.M)
        out.setdefault(int(m.group(1)) if m else 0, lag_buckets(text))
        if len(out) >= processes or not m:
            break
    return out


def worst_lag_p99_ms(before: dict[int, list], after: dict[int, list]) -> float | None:
    """The largest per-process p99 lag (ms) between two `scrape_lag`s; None if unknown."""
    p99s = [lag_p99_ms(before.get(pid, []), buckets) for pid, buckets in after.items()]
    known = [p for p in p99s if p is not None]
    return max(known) if known else None


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


def wait_healthy(
    http_base: str, proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 60.0
) -> None:
    """Return once the `voicectl serve` child `proc` answers `GET {http_base}/healthz`
    with 200 (asked every 0.1 s, 1 s per try).

    Raises:
        RuntimeError: it exited first (the message ends with the tail of `log_path`, its
            output), or did not answer within `timeout_s` seconds.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(_exited(proc, log_path))
        try:
            if httpx.get(f"{http_base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"voicectl serve did not answer /healthz within {timeout_s:.0f} s")
        time.sleep(0.1)


def _exited(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    """What an exited server said: its exit code and the last 3000 characters of its log."""
    tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
    return f"voicectl serve exited with {proc.returncode}: {tail}"


class ServeProcess:
    """`voicectl serve` in a child process; a context manager.

    Args:
        extra_env: environment for the server on top of ours (e.g. latency settings).
        workers: server processes (`serve --workers`; 1 = one plain process).

    Attributes:
        http_base: ``http://127.0.0.1:<port>`` once started.
        pid: the server's process id.
    """

    def __init__(self, extra_env: dict[str, str] | None = None, workers: int = 1) -> None:
        self.extra_env = extra_env or {}
        self.workers = workers
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
            SUPERVISOR_ENV: str(os.getpid()),  # the server goes if this process is killed
            **self.extra_env,
        }
        db = Path(self._tmp.name) / "load.db"
        cmd = [sys.executable, "-m", "voicectl.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--db", str(db)]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        self._log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.pid = self._proc.pid
        self.http_base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(self.http_base, self._proc, self.log_path)
        except RuntimeError:
            self.__exit__(None, None, None)
            raise
        return self

    def exit_report(self) -> str | None:
        """None while the server runs; once it has exited on its own, its exit code and
        the end of its log (which goes with the temporary folder at `__exit__`)."""
        if self._proc is None or self._proc.poll() is None:
            return None
        self._log.flush()
        return _exited(self._proc, self.log_path)

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
