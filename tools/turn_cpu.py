"""CPU per caller turn of the two things a call's worker threads do (issue 12): the
offline agent's turn and the call-record save. Both run beside the event loop and take
the GIL from it, so their CPU delays every call's audio.

    python tools/turn_cpu.py                      # all three parts, 5 rounds
    python tools/turn_cpu.py --rounds 9 --only nlu,record

Parts (each printed as CPU µs per item, `time.process_time`; median and min over rounds):

- `nlu`: `voicectl.agent.nlu.analyze` on every caller utterance of scenarios/*.yaml
  (with the scenario's business services): the NLU alone, pure.
- `agent`: `OfflineAgent.respond` on every scenario as a call - the greeting, then each
  `say` (and a `dtmf` step as the typed number) in order - with the real `BookingTools`
  on a fresh copy of a seeded SQLite file per call: the whole turn, booking tools
  included (their database work too).
- `record`: `voicectl.store.records.save_call` of a realistic call as `RecordWriter` saves
  it - at the start, after each of `--turns` turns (each with its marks, tools and three
  log lines), at the end - on a real SQLite file; per save.

Results computed from the caller's text are never reused across turns here (the same
utterances repeat every round; a real caller's do not): any cache of
`voicectl.hebrew.cache` is emptied before each turn. Run it under the shared
lock (`flock /work/wt/heavy.lock python tools/turn_cpu.py`); compare two trees by running
each one's copy of this file in turn (ratios, not absolute numbers, on a shared box).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicectl.agent import nlu  # noqa: E402
from voicectl.agent.base import Conversation, TurnInput  # noqa: E402
from voicectl.agent.offline import OfflineAgent  # noqa: E402
from voicectl.booking.phone import normalize_phone  # noqa: E402
from voicectl.booking.policy import get_business_policy, seed_policies  # noqa: E402
from voicectl.booking.tools import BookingTools  # noqa: E402
from voicectl.sim.scenario import DtmfStep, SayStep, Scenario, load_scenario  # noqa: E402
from voicectl.store import records  # noqa: E402
from voicectl.store.db import Database  # noqa: E402

PARTS = ("nlu", "agent", "record")

#: What each part computed (analyses, replies and tool calls, the records as stored), for
#: `--digest`: two trees that behave alike print the same digests.
outputs: list[str] = []


def _forget_caller_text() -> None:
    """Empty the caches keyed by caller text, if this tree has any (a cold turn)."""
    try:
        cache = importlib.import_module("voicectl.hebrew.cache")
    except ImportError:  # a tree from before the caches
        return
    cache.clear_caches()


def _scenarios(pattern: str) -> list[Scenario]:
    return [load_scenario(p) for p in sorted((ROOT / "scenarios").glob(pattern))]


def _turns(sc: Scenario) -> list[TurnInput]:
    """The caller's turns of a scenario: each `say`, and each `dtmf` as the number typed."""
    out: list[TurnInput] = []
    for step in sc.steps:
        if isinstance(step, SayStep):
            out.append(TurnInput("speech", step.say))
        elif isinstance(step, DtmfStep):
            phone = normalize_phone(step.dtmf.rsplit("*", 1)[-1].rstrip("#"))
            out.append(TurnInput("dtmf_phone", phone) if phone else TurnInput("dtmf_invalid"))
    return out


def _rounds(rounds: int, one_round: Callable[[], tuple[float, int]]) -> dict[str, float]:
    """Run `one_round` (-> CPU seconds, items) `rounds` times; µs per item."""
    per_item: list[float] = []
    items = 0
    for _ in range(rounds):
        outputs.clear()  # the digest is of the last round
        cpu_s, items = one_round()
        per_item.append(cpu_s * 1e6 / max(items, 1))
    digest = hashlib.sha256("\n".join(outputs).encode()).hexdigest()[:12]
    return {
        "median_us": statistics.median(per_item),
        "min_us": min(per_item),
        "items": items,
        "digest": digest,
    }


def bench_nlu(scenarios: list[Scenario], rounds: int) -> dict[str, float]:
    """`analyze` on every utterance of `scenarios`."""
    work = []
    for sc in scenarios:
        services = get_business_policy(sc.business, overrides=sc.policy).services
        work += [(t.text, services) for t in _turns(sc) if t.kind == "speech"]

    def one_round() -> tuple[float, int]:
        cpu = 0.0
        for text, services in work:
            _forget_caller_text()
            t0 = time.process_time()
            u = nlu.analyze(text, services)
            cpu += time.process_time() - t0
            outputs.append(repr(u))
        return cpu, len(work)

    one_round()  # warm-up: imports, module-level tables, regex compilation
    return _rounds(rounds, one_round)


def bench_agent(scenarios: list[Scenario], rounds: int, tmp: Path) -> dict[str, float]:
    """`OfflineAgent.respond` on every scenario played as a call, each on a fresh copy of a
    seeded database - through one engine, as a server has one (SQLAlchemy compiles each
    statement once per engine)."""
    template, path = tmp / "seeded.db", tmp / "agent.db"
    seeded = Database(template)
    seed_policies(seeded)
    seeded.dispose()
    shutil.copy(template, path)
    db = Database(path)
    agent = OfflineAgent()
    calls = [(sc, _turns(sc)) for sc in scenarios]
    counter = iter(range(10**9))

    def one_call(sc: Scenario, turns: list[TurnInput]) -> tuple[float, int]:
        db.dispose()  # closes the connections; the engine and its compiled statements stay
        for f in tmp.glob("agent.db*"):
            f.unlink()
        shutil.copy(template, path)
        call_sid = f"CAbench{next(counter)}"
        now = sc.now
        caller = None if sc.caller.is_anonymous else sc.caller.number
        session = type("Caller", (), {"caller_number": caller})()
        tools = BookingTools(
            db,
            sc.business,
            lambda: now,
            call_sid=call_sid,
            policy_overrides=sc.policy or None,
            session=session,
        )
        conv = Conversation(call_sid=call_sid, business_id=sc.business, now=now, caller=session)
        cpu = 0.0
        for turn in [TurnInput("greeting"), *turns]:
            if turn.kind == "dtmf_phone":  # the call session stores the number first
                session.caller_number = turn.text
            _forget_caller_text()
            t0 = time.process_time()
            reply = agent.respond(turn, conv, tools)
            cpu += time.process_time() - t0
            conv.turn_index += 1
            outputs.append(repr((reply.text, [(c.name, c.args) for c in reply.tool_calls])))
        return cpu, len(turns) + 1

    def one_round() -> tuple[float, int]:
        cpu, items = 0.0, 0
        for sc, turns in calls:
            c, k = one_call(sc, turns)
            cpu, items = cpu + c, items + k
        return cpu, items

    try:
        one_round()
        return _rounds(rounds, one_round)
    finally:
        db.dispose()


def _call_turns(n: int) -> list[dict[str, Any]]:
    """`CallSession.record()["turns"]` of a call of `n` caller turns (plus the greeting)."""
    marks = {
        "stt_final_ms": 262.0,
        "agent_ms": 4.1,
        "tool_ms": 3.2,
        "tts_first_chunk_ms": 38.5,
        "first_audio_ms": 311.4,
        "v2v_ms": 318.9,
        "reply_ms": 2380.0,
        "mark_echo_ms": 2412.6,
    }
    out = [
        {
            "index": 0,
            "kind": "greeting",
            "user_text": "",
            "bot_text": "שלום, הגעתם לספא דמו. אני העוזרת הדיגיטלית. איך אפשר לעזור?",
            "marks": dict(marks),
            "barged_in": False,
            "superseded": False,
            "tools": [],
        }
    ]
    for i in range(1, n + 1):
        out.append(
            {
                "index": i,
                "kind": "speech",
                "user_text": f"תקבע לי מחר ב-12 שוודי, השם דני ({i})",
                "bot_text": "מצאתי תור מחר, יום שני, ב-12:00, עיסוי שוודי, שעה. לקבוע על שם דני?",
                "marks": {k: v + i for k, v in marks.items()},
                "barged_in": False,
                "superseded": False,
                "tools": ["find_slots ok", "create_appointment ok"][: 1 + i % 2],
            }
        )
    return out


def _log_lines(n: int) -> list[tuple[str, str]]:
    lines = [("INFO", "call started: caller +97250****567, business demo-spa")]
    for i in range(1, n + 1):
        lines += [
            ("INFO", f"turn {i}: caller said 'תקבע לי מחר ב-12 שוודי, השם דני' (stt 262 ms)"),
            ("INFO", 'tool find_slots {"date": "2026-11-23", "service": "swedish"} -> ok 3.1 ms'),
            ("INFO", f"turn {i}: reply 71 chars, first audio 311 ms, v2v 319 ms"),
        ]
    return lines


def bench_record(rounds: int, calls: int, n_turns: int, tmp: Path) -> dict[str, float]:
    """`save_call` of `calls` calls per round, each saved `n_turns + 2` times."""
    db = Database(tmp / "records.db")
    counter = iter(range(10**9))
    turns, log = _call_turns(n_turns), _log_lines(n_turns)
    metrics = {"v2v_p95_ms": 318.9, "stt_final_p95_ms": 262.0, "gaps": 0.0}

    def snaps(call_sid: str) -> list[records.CallSnapshot]:
        def snap(k: int, **kw: Any) -> records.CallSnapshot:
            return records.CallSnapshot(
                call_sid=call_sid,
                stream_sid="MZ" + call_sid[2:],
                business_id="demo-spa",
                caller_number="+972501234567",
                turns=[dict(t) for t in turns[: k + 1]],
                log_lines=log[: 1 + 3 * k],
                metrics=dict(metrics),
                **kw,
            )

        start = snap(0, owner="bench:1:0", from_number="+972501234567", started=True)
        return [start, *(snap(k) for k in range(1, n_turns + 1)), snap(n_turns, ended=True)]

    def one_round() -> tuple[float, int]:
        cpu, items = 0.0, 0
        for _ in range(calls):
            call_sid = f"CAbench{next(counter):08d}"
            for s in snaps(call_sid):
                t0 = time.process_time()
                records.save_call(db, s)
                cpu += time.process_time() - t0
                items += 1
            rec = records.load_record(db, call_sid) or {}
            outputs.append(repr([rec.get(k) for k in ("status", "turns", "log", "metrics")]))
        return cpu, items

    try:
        one_round()
        r = _rounds(rounds, one_round)
    finally:
        db.dispose()
    return r


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints one line per part."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated: nlu,agent,record")
    ap.add_argument("--scenarios", default="*.yaml", help="glob under scenarios/")
    ap.add_argument("--calls", type=int, default=20, help="record: calls per round")
    ap.add_argument("--turns", type=int, default=10, help="record: caller turns per call")
    ap.add_argument(
        "--digest", action="store_true", help="print a digest of what each part computed"
    )
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    scenarios = _scenarios(args.scenarios)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for part in parts:
            if part == "nlu":
                r, what = bench_nlu(scenarios, args.rounds), "utterance (analyze)"
            elif part == "agent":
                r, what = bench_agent(scenarios, args.rounds, tmp), "turn (respond + tools)"
            elif part == "record":
                r = bench_record(args.rounds, args.calls, args.turns, tmp)
                what = f"save (save_call, {args.turns}-turn call)"
            else:
                ap.error(f"unknown part {part!r} (one of {', '.join(PARTS)})")
            print(
                f"{part:<7} {r['median_us']:9.1f} µs CPU per {what}   "
                f"(min {r['min_us']:.1f}, {r['items']} per round, {args.rounds} rounds)"
                + (f"   digest {r['digest']}" if args.digest else "")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
