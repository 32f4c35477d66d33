"""Speculative endpointing through the real runner, agent, tools and SQLite: a turn the
caller's resumption takes back never books, and the conversation forgets it.

The session is driven frame by frame with a fake clock (as in test_call_session.py); the
runner, the offline agent, `BookingTools` and the database are the real ones. The waits
below only bound how long the test waits for worker threads; nothing is timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from voicectl.agent.base import Conversation
from voicectl.audio.g711 import ulaw_encode
from voicectl.booking.appointments import list_appointments
from voicectl.booking.phone import normalize_phone
from voicectl.booking.policy import seed_policies
from voicectl.booking.tools import BookingTools
from voicectl.call.commit import CommitGate
from voicectl.call.runner import CallRunner
from voicectl.call.session import CallSession
from voicectl.clock import FakeClock
from voicectl.config import Settings
from voicectl.providers import Providers
from voicectl.speech.stt.base import STTResult
from voicectl.store.db import Database

TONE = ulaw_encode((np.sin(np.arange(160) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16))
QUIET = b"\xff" * 160
FIRST_HALF = "אפשר שוודי ביום ראשון בעשר בבוקר, השם דני"
REST = "לא, ביום שני"
NOW = datetime(2026, 11, 19, 10, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))  # Thursday


class EnergyVAD:
    name = "energy"

    def is_speech(self, frame: np.ndarray) -> bool:
        return float(np.abs(frame.astype(np.int32)).mean()) > 500

    def reset(self) -> None:
        pass


class PartsSTT:
    """A recogniser that hears each VAD part as its own words (as a real one does): the
    final of a part is what was said in it, and after `utterance_resume` the final is
    the words of every part of the utterance (the `STTStream` contract)."""

    def __init__(self, parts: list[str], on_result: Callable[[STTResult], None]) -> None:
        self._parts = list(parts)
        self._said: list[str] = []
        self._on_result = on_result

    def utterance_start(self, ts_ms: int) -> None:
        self._said = []

    def utterance_resume(self, ts_ms: int) -> None:
        pass  # the words so far stay: the next final is the whole

    def feed(self, pcm: np.ndarray, ts_ms: int) -> None:
        pass

    def utterance_end(self, ts_ms: int, discarded: bool) -> None:
        if not discarded:
            self._said.append(self._parts.pop(0))
            self._on_result(STTResult(", ".join(self._said), is_final=True))

    def close(self) -> None:
        pass


class Transport:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_media(self, payload: bytes) -> None:
        self.sent.append("media")

    async def send_mark(self, name: str) -> None:
        self.sent.append(f"mark {name}")

    async def send_clear(self) -> None:
        self.sent.append("clear")

    async def close(self) -> None: ...


class SilentTTS:
    name, sample_rate = "stub", 8000

    def synthesize(self, text: str):  # type: ignore[no-untyped-def]
        yield np.full(1600, 1000, np.int16)


async def _until(cond: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


def test_a_resumed_utterance_never_books_from_its_first_half(tmp_path: Path) -> None:
    settings = Settings(
        database=f"sqlite:///{tmp_path / 'calls.db'}",
        vad_hangover_ms=120,
        turn_resume_window_ms=260,
    )
    db = Database(settings.database)
    seed_policies(db, settings.policies_file)
    clock = FakeClock(1000)
    lines: list[str] = []
    session = CallSession(
        clock=clock,
        settings=settings,
        vad=EnergyVAD(),
        open_stt=lambda cb: PartsSTT([FIRST_HALF, REST], cb),
        normalize_phone=normalize_phone,
        call_sid="CA1",
        stream_sid="MZ1",
        business_id="demo-spa",
        caller_number="+972521230102",
        log=lambda level, msg: lines.append(f"{level} {msg}"),
    )
    gate = CommitGate()
    tools = BookingTools(
        db, "demo-spa", lambda: NOW, call_sid="CA1", session=session, write_gate=gate.may_write
    )
    conv = Conversation("CA1", "demo-spa", NOW, caller=session)
    ts = 0

    async def go() -> None:
        nonlocal ts
        runner = CallRunner(
            session=session,
            transport=Transport(),
            agent=Providers(settings).agent,
            tts=SilentTTS(),  # type: ignore[arg-type]
            tools=tools,
            conversation=conv,
            business_now=lambda: NOW,
            commit_gate=gate,
        )
        runner.start(session.begin())

        def frames(payload: bytes, n: int) -> None:
            nonlocal ts
            for _ in range(n):
                clock.advance(20)
                runner.dispatch(session.media(payload, ts))
                ts += 20

        await _until(lambda: bool(session.turns[0].bot_text), "the greeting")
        frames(TONE, 30)
        frames(QUIET, 7)  # 140 ms: the tentative end; the first half's turn runs
        assert len(session.turns) == 2 and session.turns[1].speculative
        # It finds the slot at once (reading may run early), then waits to book.
        await _until(lambda: any(t.tool == "find_slots" for t in tools.traces), "find_slots")
        await asyncio.sleep(0.05)
        assert not [t for t in tools.traces if t.tool == "create_appointment"]
        frames(TONE, 15)  # the caller goes on 140 ms after the end: taken back
        await _until(lambda: any(t.tool == "create_appointment" for t in tools.traces), "refusal")
        frames(QUIET, 20)  # the real end; the window passes: the whole turn commits
        await _until(lambda: len(session.turns) == 3 and bool(session.turns[2].bot_text), "reply")
        await runner.finish("test", ended_by="stop")

    asyncio.run(go())
    booked = list_appointments(db, "demo-spa", "CA1")
    # One booking, from the whole utterance (Monday), none from its first half (Sunday).
    assert [a["start_iso"] for a in booked] == ["2026-11-23T10:00:00+02:00"], booked
    creates = [(t.ok, t.error) for t in tools.traces if t.tool == "create_appointment"]
    assert creates == [(False, "taken_back"), (True, None)]
    # The conversation is as if the first half's turn never happened.
    users = [m.content for m in conv.history if m.role == "user"]
    assert users == [f"{FIRST_HALF}, {REST}"], conv.history
    assert not any("ראשון ב-10:00" in m.content for m in conv.history if m.role == "assistant")
    rec = session.record()
    assert [t["user_text"] for t in rec["turns"] if t["kind"] == "speech"] == [users[0]]
    assert [t["index"] for t in rec["taken_back"]] == [1]
    assert sum("taken back" in line for line in lines) == 1


def test_the_gate_holds_a_write_until_the_commit_and_refuses_a_taken_back_turn() -> None:
    gate = CommitGate(max_wait_s=5.0)
    gate.begin(1, speculative=False)
    assert gate.may_write("create_appointment")  # a turn that was never speculative
    gate.commit(3)  # decided before its turn runs
    gate.begin(3, speculative=True)
    assert gate.may_write("create_appointment")
    gate.begin(4, speculative=True)
    gate.take_back(4)
    assert not gate.may_write("create_appointment")
    gate = CommitGate(max_wait_s=0.01)
    gate.begin(5, speculative=True)
    assert not gate.may_write("create_appointment")  # never decided: deny by default
