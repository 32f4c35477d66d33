"""What a bench run ran on, so two runs can be compared (JSON ``context``)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicectl import __version__
from voicectl.config import Settings

__all__ = ["LATENCY_SETTINGS", "git_commit", "run_context"]

#: Settings that change what the latency marks measure (config.py names).
LATENCY_SETTINGS = (
    "vad",
    "vad_aggressiveness",
    "vad_hangover_ms",
    "turn_resume_window_ms",
    "min_utt_sec",
    "stt_partial_debounce_ms",
    "stt_timeout_ms",
    "barge_in_min_ms",
    "playback_lead_ms",
    "send_queue_max_frames",
)


def git_commit(start: Path | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the checkout holding the package, or None
    when it is not in a git checkout (an installed wheel) or git is missing."""
    where = start or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": bool(dirty)} if sha else None


def run_context(settings: Settings, **run: Any) -> dict[str, Any]:
    """The run's context: version, commit, providers, latency settings, machine, `run`.

    Args:
        settings: the settings the server ran with (in-process) or the client's.
        run: bench options to record (repeat, concurrency, url, ...).
    """
    return {
        "voicectl": __version__,
        "git": git_commit(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "providers": {"agent": settings.agent, "tts": settings.tts, "stt": settings.stt},
        "settings": {k: getattr(settings, k) for k in LATENCY_SETTINGS},
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
        },
        "run": run,
    }
