"""`python -m voicectl.hebrew.when`: resolve a phrase, or time the resolver over the corpus."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from voicectl.hebrew.when.resolve import resolve_when
from voicectl.hebrew.when.result import HoursOn

__all__ = ["HOURS_FIXTURES", "all_day_hours", "bench", "main", "spa_hours"]

_CORPUS = Path(__file__).resolve().parents[3] / "tests" / "data" / "hebrew_time_corpus.yaml"


def spa_hours(d: dt.date) -> list[tuple[dt.time, dt.time]]:
    """The demo spa's hours (Sun-Thu 09:00-20:00, Fri 09:00-14:00, Sat closed)."""
    wd = d.weekday()
    if wd == 5:
        return []
    if wd == 4:
        return [(dt.time(9), dt.time(14))]
    return [(dt.time(9), dt.time(20))]


def all_day_hours(d: dt.date) -> list[tuple[dt.time, dt.time]]:
    """A 24/7 business: the whole day every day."""
    return [(dt.time(0), dt.time(0))]


HOURS_FIXTURES: dict[str, HoursOn | None] = {"spa": spa_hours, "none": None, "24_7": all_day_hours}


def bench(path: Path = _CORPUS, repeat: int = 20) -> dict[str, float]:
    """Time `resolve_when` over the corpus.

    Args:
        path: corpus YAML (list of {text, now, hours}).
        repeat: passes over the corpus; the best pass is reported.

    Returns:
        ``{"phrases": n, "us_per_phrase": best µs, "us_per_phrase_median": median µs}``.
    """
    import statistics
    import time as _time

    import yaml

    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = [
        (e["text"], dt.datetime.fromisoformat(e["now"]), HOURS_FIXTURES[e.get("hours", "none")])
        for e in entries
    ]
    for text, now, h in items:  # warm caches
        resolve_when(text, now, h)
    passes = []
    for _ in range(repeat):
        t0 = _time.perf_counter()
        for text, now, h in items:
            resolve_when(text, now, h)
        passes.append((_time.perf_counter() - t0) / len(items) * 1e6)
    return {
        "phrases": float(len(items)),
        "us_per_phrase": min(passes),
        "us_per_phrase_median": statistics.median(passes),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m voicectl.hebrew.when",
        description="Resolve Hebrew date/time phrases.",
    )
    ap.add_argument("text", nargs="?", help="an utterance to resolve")
    ap.add_argument("--now", help="ISO datetime with offset (default: now, Asia/Jerusalem)")
    ap.add_argument("--hours", choices=sorted(HOURS_FIXTURES), default="spa")
    ap.add_argument("--bench", action="store_true", help="time the resolver over the corpus")
    ap.add_argument("--corpus", type=Path, default=_CORPUS)
    args = ap.parse_args(argv)
    if args.bench:
        r = bench(args.corpus)
        print(
            f"hebrew.when: {int(r['phrases'])} phrases, {r['us_per_phrase']:.1f} µs/phrase "
            f"(best of 20 passes; median {r['us_per_phrase_median']:.1f} µs)"
        )
        return 0
    if not args.text:
        ap.print_help()
        return 2
    if args.now:
        now = dt.datetime.fromisoformat(args.now)
    else:
        from zoneinfo import ZoneInfo

        now = dt.datetime.now(ZoneInfo("Asia/Jerusalem"))
    print(resolve_when(args.text, now, HOURS_FIXTURES[args.hours]))
    return 0
