"""Logging never blocks the server: a stderr nobody reads (a full pipe) must not freeze the
event loop (issue 6 soak: the server stopped inside `logging` after ~64 KB of log)."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import httpx
from helpers import ServeProcess

from voicectl import logs


def test_a_server_whose_stderr_is_never_read_keeps_answering(tmp_path: Path) -> None:
    # stdout and stderr go to a pipe this test never reads until the end: its 64 KB buffer
    # fills after a few hundred requests' log lines.
    srv = ServeProcess(
        tmp_path, env={"VOICECTL_DATABASE": str(tmp_path / "log.db")}, stdout=subprocess.PIPE
    )
    base = srv.base
    try:
        srv.wait_healthy()
        answered = 0
        with httpx.Client(base_url=base, timeout=10) as client:
            for k in range(1500):  # ~1500 x 2 log lines of ~100 bytes: ~300 KB of log
                form = {"CallSid": f"CA{k:032d}", "From": "+972501234567", "To": "+97231234567"}
                if client.post("/voice", data=form).status_code == 200:
                    answered += 1
            assert client.get("/healthz").status_code == 200
        assert answered == 1500
    finally:
        out = srv.communicate()
    assert "incoming call" in out  # the lines that fitted were written, in order


def test_a_full_log_queue_drops_and_counts_instead_of_waiting() -> None:
    import queue

    q: queue.Queue[logging.LogRecord] = queue.Queue(2)
    handler = logs._DroppingQueueHandler(q)
    log = logging.getLogger("voicectl.test.dropping")
    log.propagate = False
    log.addHandler(handler)
    try:
        for k in range(5):
            log.warning("line %d", k)  # never blocks, never raises
        assert handler.dropped == 3
        q.get_nowait(), q.get_nowait()
        log.warning("after")
        note, after = q.get_nowait(), q.get_nowait()
        assert "3 log line(s) dropped" in note.getMessage()
        assert after.getMessage() == "after"
    finally:
        log.removeHandler(handler)
