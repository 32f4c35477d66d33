"""Benchmark the VADs + Endpointer on synthetic Hebrew speech with known boundaries.

Run ``python -m voicectl.audio.vad_bench`` (``--help`` for options). It synthesizes a
call-like stream with espeak-ng (:mod:`voicectl.audio.synth`): booking phrases in three
voice/rate variants separated by 400-900 ms of silence, with short clicks in between,
puts it through a phone line (white noise floor + G.711 μ-law round trip), feeds it
frame by frame to an :class:`~voicectl.audio.endpointing.Endpointer` with each VAD, and
reports start/end error against the truth and CPU time per 20 ms frame. Results go to
``docs/vad.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from voicectl.audio.endpointing import Endpointer, SpeechEnd, SpeechEvent, SpeechStart, resumes
from voicectl.audio.frames import FRAME_MS, pcm_frames
from voicectl.audio.synth import Part, Segment, click, compose, phone_line, speak
from voicectl.audio.vad import VAD
from voicectl.config import Settings

PHRASES: tuple[str, ...] = (
    "שלום אני רוצה לקבוע תור",
    "מחר בשתים עשרה בצהריים",
    "עיסוי שוודי בבקשה",
    "השם שלי דני כהן",
    "כן זה מתאים לי",
    "לא תודה",
    "אפשר ביום שלישי בבוקר",
    "מה השעות הפנויות ביום חמישי",
    "אני צריך לבטל את התור שלי",
    "תודה רבה להתראות",
    "רקמות עמוק לשעה",
    "בשלוש וחצי אחר הצהריים",
    "כן",
)
VOICES: tuple[tuple[int, int], ...] = ((160, 45), (175, 55), (195, 65))
"""(rate_wpm, pitch) variants: every phrase is spoken once in each."""

CONFIGS: tuple[tuple[str, dict[str, float]], ...] = (
    ("webrtc", {"aggressiveness": 0}),
    ("webrtc", {"aggressiveness": 1}),
    ("webrtc", {"aggressiveness": 2}),
    ("webrtc", {"aggressiveness": 3}),
    ("silero", {"threshold": 0.5}),
    ("silero", {"threshold": 0.3}),
)
"""(VAD name, VAD arguments) for the comparison table."""


def build_corpus(seed: int = 0) -> tuple[npt.NDArray[np.int16], list[Segment]]:
    """Return the clean 8 kHz test stream and its ground-truth segments.

    Args:
        seed: RNG seed for the gap lengths and click placement.

    Returns:
        ``(pcm, segments)`` as from :func:`voicectl.audio.synth.compose`.
    """
    rng = np.random.default_rng(seed)
    parts: list[Part] = [1000]
    for rate, pitch in VOICES:
        for i, text in enumerate(PHRASES):
            parts.append((text, speak(text, rate_wpm=rate, pitch=pitch)))
            parts.append(int(rng.integers(400, 901)))
            if i % 4 == 3:
                parts.append(("click", click(float(rng.choice([40.0, 60.0, 80.0])))))
                parts.append(int(rng.integers(500, 901)))
    return compose(parts)


@dataclass
class Result:
    """Scores of one VAD configuration (times in ms)."""

    label: str
    n_truth: int
    hits: int
    split: int
    merged_split: int  # phrases that are more than one COMMITTED utterance (resume window)
    missed: int
    false_utts: int
    clicks_rejected: int
    n_clicks: int
    start_err: list[int]
    end_err: list[int]
    endpoint_delay: list[int]
    us_per_frame: float


def _match(
    events: Sequence[SpeechEnd], truth: Sequence[Segment], clicks: Sequence[Segment]
) -> tuple[int, int, int, int, int, list[int], list[int], list[int]]:
    """Assign each kept utterance to the truth phrase it overlaps most (or is nearest
    to, within 300 ms); score the first/last utterance of every phrase."""
    kept = [e for e in events if not e.discarded]
    owner: dict[int, list[SpeechEnd]] = {}
    false_utts = 0
    for e in kept:
        best, best_score = -1, -300.0
        for j, seg in enumerate(truth):
            # overlap in ms (negative = distance between the two intervals)
            score = min(e.speech_end_ms, seg.end_ms) - max(e.speech_start_ms, seg.start_ms)
            if score > best_score:
                best, best_score = j, score
        if best < 0:
            false_utts += 1
        else:
            owner.setdefault(best, []).append(e)
    hits = split = missed = 0
    start_err: list[int] = []
    end_err: list[int] = []
    delay: list[int] = []
    for j, seg in enumerate(truth):
        mine = owner.get(j, [])
        if not mine:
            missed += 1
            continue
        hits += 1
        split += len(mine) > 1
        start_err.append(round(mine[0].speech_start_ms - seg.start_ms))
        end_err.append(round(mine[-1].speech_end_ms - seg.end_ms))
        delay.append(round(mine[-1].endpoint_ms - seg.end_ms))
    rejected = 0
    for c in clicks:
        overlapping = [
            e for e in kept if e.speech_start_ms < c.end_ms + 100 and e.speech_end_ms > c.start_ms
        ]
        rejected += not overlapping
    return hits, split, missed, false_utts, rejected, start_err, end_err, delay


def run_config(
    name: str,
    kw: dict[str, float],
    frames: npt.NDArray[np.int16],
    truth: Sequence[Segment],
    clicks: Sequence[Segment],
    hangover_ms: int,
    min_utt_ms: int,
    resume_window_ms: int = 0,
) -> Result:
    """Run one VAD configuration over ``frames`` and score it against the truth;
    ``merged_split`` counts the phrases that stay split once utterances resumed within
    ``resume_window_ms`` are merged (speculative endpointing; 0 = no merging)."""
    ep = Endpointer(_make_vad(name, kw), hangover_ms=hangover_ms, min_utt_ms=min_utt_ms)
    events: list[SpeechEvent] = []
    t0 = time.process_time_ns()
    for i, frame in enumerate(frames):
        events += ep.push(frame, i * FRAME_MS)
    cpu_ns = time.process_time_ns() - t0
    events += ep.flush()
    ends = [e for e in events if isinstance(e, SpeechEnd)]
    hits, split, missed, false_utts, rejected, s_err, e_err, delay = _match(ends, truth, clicks)
    merged = _match(committed(events, resume_window_ms), truth, clicks)[1]
    label = name + "(" + ", ".join(f"{k}={v}" for k, v in kw.items()) + ")"
    return Result(
        label,
        len(truth),
        hits,
        split,
        merged,
        missed,
        false_utts,
        rejected,
        len(clicks),
        s_err,
        e_err,
        delay,
        cpu_ns / 1000 / len(frames),
    )


def committed(events: Sequence[SpeechEvent], resume_window_ms: int) -> list[SpeechEnd]:
    """The utterances a call commits: kept ones, where speech that starts within
    ``resume_window_ms`` of a kept end continues it (``resumes``, the rule the call
    session applies; its rest is kept even if short). Each merged utterance runs from
    its first part's start to its last part's end; ``endpoint_ms`` is the last part's
    (tentative) decision, when the reply to the whole starts."""
    out: list[SpeechEnd] = []
    resuming = False
    for ev in events:
        if isinstance(ev, SpeechStart):
            last = out[-1] if out else None
            resuming = last is not None and resumes(last.speech_end_ms, ev.ts_ms, resume_window_ms)
        elif resuming:
            first = out.pop()
            out.append(
                SpeechEnd(
                    speech_start_ms=first.speech_start_ms,
                    speech_end_ms=ev.speech_end_ms,
                    endpoint_ms=ev.endpoint_ms,
                    voiced_ms=first.voiced_ms + ev.voiced_ms,
                    discarded=False,
                )
            )
            resuming = False
        elif not ev.discarded:
            out.append(ev)
    return out


def _make_vad(name: str, kw: dict[str, float]) -> VAD:
    """A VAD through the provider registry (the way the server picks one)."""
    from voicectl.providers import load_class, spec_for

    return cast(VAD, load_class(spec_for("vad", name))(**kw))


FRAME_KINDS: tuple[str, ...] = ("digital silence", "line noise -60 dBFS", "speech")


def frame_cost_us(name: str = "webrtc", repeat: int = 5) -> dict[str, float]:
    """CPU per 20 ms frame of ``Endpointer.push`` (VAD + energy + decision), µs.

    Each kind of frame is fed as a stream of 1,000 frames (``FRAME_KINDS``: all-zero
    frames as from μ-law ``0xFF``, white noise at -60 dBFS, the corpus's first speech);
    the figure is the best of ``repeat`` runs (``time.process_time``), so other load on
    the machine inflates it least.

    Returns:
        ``{kind: µs per frame}``.
    """
    clean, segments = build_corpus(0)
    first = next(s for s in segments if s.kind == "speech")
    speech = pcm_frames(clean[int(first.start_ms * 8) : int(first.end_ms * 8)])
    noise = phone_line(np.zeros(160 * 1000, np.int16), noise_dbfs=-60.0, seed=0)
    streams = {
        FRAME_KINDS[0]: np.zeros((1000, 160), np.int16),
        FRAME_KINDS[1]: pcm_frames(noise),
        FRAME_KINDS[2]: speech[np.arange(1000) % len(speech)],
    }
    out: dict[str, float] = {}
    for kind, frames in streams.items():
        best = float("inf")
        for _ in range(repeat):
            ep = Endpointer(_make_vad(name, {}))
            t0 = time.process_time_ns()
            for i, frame in enumerate(frames):
                ep.push(frame, i * FRAME_MS)
            best = min(best, (time.process_time_ns() - t0) / 1000 / len(frames))
        out[kind] = best
    return out


def _stats(xs: Sequence[int]) -> str:
    if not xs:
        return "-"
    a = np.abs(np.asarray(xs))
    return (
        f"{statistics.mean(xs):+.0f} / {np.percentile(a, 50):.0f} / "
        f"{np.percentile(a, 90):.0f} / {a.max():.0f}"
    )


SWEEP_HANGOVERS_MS: tuple[int, ...] = (80, 100, 120, 140, 160, 180, 200, 220, 240, 260, 280)
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "audio"
"""The committed caller recordings (a source checkout only)."""


def fixture_splits(
    hangover_ms: int, min_utt_ms: int = 200, resume_window_ms: int = 0
) -> tuple[list[str], int]:
    """Which committed caller fixtures (``fixtures/audio/*.wav``, μ-law, one utterance
    each as recorded) come out as more than one (committed: see :func:`committed`)
    utterance at this hangover and resume window.

    Each is fed as the server hears it (μ-law decoded, 20 ms frames, then 1 s of line
    silence) to ``Endpointer(WebRtcVAD(2), hangover_ms, min_utt_ms)``.

    Returns:
        ``(stems of the split fixtures, number of fixtures)``; ``([], 0)`` without a
        source checkout.
    """
    from voicectl.audio.frames import split_frames
    from voicectl.audio.g711 import ulaw_decode
    from voicectl.audio.vad import WebRtcVAD
    from voicectl.audio.wav import read_ulaw

    paths = sorted(FIXTURES.glob("*.wav"))
    split: list[str] = []
    for path in paths:
        ep = Endpointer(WebRtcVAD(2), hangover_ms=hangover_ms, min_utt_ms=min_utt_ms)
        ulaw = read_ulaw(path) + b"\xff" * 8000
        events = [
            e
            for i, frame in enumerate(split_frames(ulaw))
            for e in ep.push(ulaw_decode(frame), i * FRAME_MS)
        ]
        if len(committed(events, resume_window_ms)) > 1:
            split.append(path.stem)
    return split, len(paths)


def _sweep(
    clean: npt.NDArray[np.int16],
    truth: Sequence[Segment],
    clicks: Sequence[Segment],
    noises: Sequence[float],
    args: argparse.Namespace,
) -> int:
    lines = {n: pcm_frames(phone_line(clean, noise_dbfs=n, seed=args.seed)) for n in noises}
    head = " | ".join(f"split / merged / delay {n:.0f} dBFS" for n in noises)
    window = args.resume_window_ms
    print(f"webrtc mode 2, min_utt {args.min_utt_ms} ms; split of {len(truth)} phrases; ")
    print(f"merged = still split with a {window} ms resume window (committed utterances);")
    print("delay = decision - true end of speech, mean / p90 ms; fixtures: split / merged\n")
    print(f"| hangover_ms | {head} | fixtures split / merged |")
    print("|---" * (len(noises) + 2) + "|")
    named: dict[tuple[str, ...], int] = {}
    for hangover in SWEEP_HANGOVERS_MS:
        cells = []
        for n in noises:
            r = run_config(
                "webrtc",
                {"aggressiveness": 2},
                lines[n],
                truth,
                clicks,
                hangover,
                args.min_utt_ms,
                window,
            )
            d = np.asarray(r.endpoint_delay)
            cells.append(
                f"{r.split} / {r.merged_split} / {d.mean():.0f} / {np.percentile(d, 90):.0f}"
            )
        split, n_fix = fixture_splits(hangover, args.min_utt_ms)
        merged, _ = fixture_splits(hangover, args.min_utt_ms, window)
        named.setdefault(tuple(split), hangover)
        fix = f"{len(split)} / {len(merged)} of {n_fix}"
        print(f"| {hangover} | " + " | ".join(cells) + f" | {fix} |", flush=True)
    print("\nfixtures split, from the hangover on which the list holds:")
    for split_names, hangover in named.items():
        print(f"- {hangover} ms: {', '.join(split_names) or 'none'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints a Markdown table. Returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m voicectl.audio.vad_bench")
    parser.add_argument(
        "--noise-dbfs",
        type=float,
        action="append",
        help="noise floor(s) in dBFS (default: -60 and -45)",
    )
    parser.add_argument("--hangover-ms", type=int, default=120)
    parser.add_argument(
        "--resume-window-ms",
        type=int,
        default=Settings().turn_resume_window_ms,
        help="speculative endpointing: speech this soon after a kept end continues it; "
        "the 'merged' columns count phrases still split (default: the setting's default)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="instead: webrtc mode 2 at hangover 80-280 ms (splits vs endpoint delay, on "
        "the corpus and the committed caller fixtures)",
    )
    parser.add_argument(
        "--frame-cost",
        action="store_true",
        help="instead: CPU µs per frame of Endpointer.push by kind of frame",
    )
    parser.add_argument("--min-utt-ms", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--vad",
        action="append",
        choices=["webrtc", "silero"],
        help="only these VADs (default: all)",
    )
    args = parser.parse_args(argv)
    if args.frame_cost:
        print("| VAD | " + " | ".join(FRAME_KINDS) + " |")
        print("|---" * (len(FRAME_KINDS) + 1) + "|")
        for name in args.vad or ["webrtc"]:
            cost = frame_cost_us(name)
            print(f"| {name} | " + " | ".join(f"{cost[k]:.1f}" for k in FRAME_KINDS) + " |")
        return 0

    clean, segments = build_corpus(args.seed)
    truth = [s for s in segments if s.kind == "speech"]
    clicks = [s for s in segments if s.kind == "click"]
    if args.sweep:
        return _sweep(clean, truth, clicks, args.noise_dbfs or [-60.0, -45.0], args)
    print(
        f"corpus: {len(truth)} phrases, {len(clicks)} clicks, {len(clean) / 8000:.1f} s; "
        f"hangover {args.hangover_ms} ms, resume window {args.resume_window_ms} ms, "
        f"min_utt {args.min_utt_ms} ms"
    )
    print(
        "errors in ms: signed mean / median |err| / p90 |err| / max |err|; "
        "endpoint delay = decision time - true end of speech\n"
    )
    print(
        "| noise | VAD | found | split | merged | missed | false | clicks rejected | "
        "start err | end err | endpoint delay | CPU µs/frame |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for noise in args.noise_dbfs or [-60.0, -45.0]:
        frames = pcm_frames(phone_line(clean, noise_dbfs=noise, seed=args.seed))
        for name, kw in CONFIGS:
            if args.vad and name not in args.vad:
                continue
            r = run_config(
                name,
                kw,
                frames,
                truth,
                clicks,
                args.hangover_ms,
                args.min_utt_ms,
                args.resume_window_ms,
            )
            print(
                f"| {noise:.0f} dBFS | {r.label} | {r.hits}/{r.n_truth} | {r.split} | "
                f"{r.merged_split} | "
                f"{r.missed} | {r.false_utts} | {r.clicks_rejected}/{r.n_clicks} | "
                f"{_stats(r.start_err)} | {_stats(r.end_err)} | {_stats(r.endpoint_delay)} | "
                f"{r.us_per_frame:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
