"""Median and worst latency marks per scenario, from `voicectl simulate --json` files.

    python -m voicectl.sim.figures run1.json run2.json ... [--marks TURN_LATENCY_MS V2V_MS]

Prints a Markdown table (the form `docs/benchmarks.md` keeps). Greeting turns are left
out: they have no caller utterance to measure from.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def collect(files: list[Path], marks: list[str]) -> dict[str, dict[str, list[float]]]:
    """scenario -> mark -> values (ms) over every caller turn in every file."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for f in files:
        for result in json.loads(f.read_text(encoding="utf-8")):
            for turn in result["turns"]:
                if turn["kind"] == "greeting":
                    continue
                for mark in marks:
                    if mark in turn["marks"]:
                        out[result["scenario"]][mark].append(float(turn["marks"][mark]))
    return out


def table(data: dict[str, dict[str, list[float]]], marks: list[str]) -> str:
    """A Markdown table: scenario, turns measured, then median / worst per mark."""
    head = "| scenario | turns | " + " | ".join(f"{m} median | worst" for m in marks) + " |"
    rows = [head, "|" + "---|" * (2 + 2 * len(marks))]
    for name, by_mark in data.items():
        n = max((len(v) for v in by_mark.values()), default=0)
        cells = []
        for m in marks:
            v = by_mark.get(m) or []
            cells += [f"{statistics.median(v):.0f}", f"{max(v):.0f}"] if v else ["-", "-"]
        rows.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--marks", nargs="+", default=["TURN_LATENCY_MS", "V2V_MS"])
    args = parser.parse_args(argv)
    print(table(collect(args.files, args.marks), args.marks))


if __name__ == "__main__":
    main()
