"""Held reservations through the real call: session, runner, `CommitGate`, offline agent,
`BookingTools` and SQLite. A speculative turn's booking is held at once (the reply says
the time at the floor), becomes the booking when the turn commits - by the window passing
or by a `stop` - and is released when the caller goes on, before the re-run books.

The session is driven by fake stream time, so the turn's commit point is exactly where the
test puts it; the waits below only bound how long the test waits for worker threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import select
from test_call_session import (
    FIRST_HALF,
    NOW,
    QUIET,
    TONE,
    EnergyVAD,
    PartsSTT,
    SilentTTS,
    Transport,
    _until,
)

from voicectl.agent.base import Conversation
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
from voicectl.store.booking import EventRow
from voicectl.store.db import Database

SUNDAY_10 = "2026-11-22T10:00:00+02:00"


class Harness:
    """One call: session on a fake clock, the real runner, a shared gate and tools."""

    def __init__(self, tmp_path: Path, parts: list[str]) -> None:
        self.settings = Settings(
            database=f"sqlite:///{tmp_path / 'calls.db'}",
            vad_hangover_ms=120,
            turn_resume_window_ms=260,
        )
        self.db = Database(self.settings.database)
        seed_policies(self.db, self.settings.policies_file)
        self.clock = FakeClock(1000)
        self.lines: list[str] = []
        self.session = CallSession(
            clock=self.clock,
            settings=self.settings,
            vad=EnergyVAD(),
            open_stt=lambda cb: PartsSTT(parts, cb),
            normalize_phone=normalize_phone,
            call_sid="CA1",
            stream_sid="MZ1",
            business_id="demo-spa",
            caller_number="+972521230102",
            log=lambda level, msg: self.lines.append(f"{level} {msg}"),
        )
        self.gate = CommitGate()
        self.tools = BookingTools(
            self.db, "demo-spa", lambda: NOW, call_sid="CA1", session=self.session,
            commit_gate=self.gate,
        )  # fmt: skip
        self.conv = Conversation("CA1", "demo-spa", NOW, caller=self.session)
        self.ts = 0
        self.at_end: list[dict] = []  # what on_end saw in the database
        self.runner: CallRunner

    def frames(self, payload: bytes, n: int) -> None:
        for _ in range(n):
            self.clock.advance(20)
            self.runner.dispatch(self.session.media(payload, self.ts))
            self.ts += 20

    def creates(self) -> list[tuple[bool, str | None]]:
        return [(t.ok, t.error) for t in self.tools.traces if t.tool == "create_appointment"]

    def events(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(EventRow.type).order_by(EventRow.id)))

    def run(self, drive: Callable[[Harness], Awaitable[None]]) -> None:
        async def on_end(_r: CallRunner, _ending: object) -> None:
            self.at_end.extend(list_appointments(self.db, "demo-spa", "CA1"))

        async def go() -> None:
            self.runner = CallRunner(
                session=self.session,
                transport=Transport(),
                agent=Providers(self.settings).agent,
                tts=SilentTTS(),  # type: ignore[arg-type]
                tools=self.tools,
                conversation=self.conv,
                business_now=lambda: NOW,
                commit_gate=self.gate,
                on_end=on_end,
            )
            self.runner.start(self.session.begin())
            await _until(lambda: bool(self.session.turns[0].bot_text), "the greeting")
            await drive(self)

        asyncio.run(go())


def test_a_committed_speculative_booking_is_held_at_once_then_booked_once(tmp_path: Path) -> None:
    h = Harness(tmp_path, [FIRST_HALF])

    async def drive(h: Harness) -> None:
        h.frames(TONE, 30)
        h.frames(QUIET, 7)  # 140 ms: the tentative end; the turn runs speculatively
        assert h.session.turns[1].speculative
        await _until(lambda: bool(h.session.turns[1].bot_text), "the reply")
        # The reply (with the time) is out before the commit point: the booking is a hold.
        assert "10:00" in h.session.turns[1].bot_text
        assert h.creates() == [(True, None)]
        assert [a["status"] for a in list_appointments(h.db, "demo-spa")] == ["held"]
        assert h.events() == []
        h.frames(QUIET, 10)  # the window passes in silence: committed
        await _until(lambda: h.gate.pending() == 0, "the confirmation")
        await h.runner.finish("test", ended_by="stop")

    h.run(drive)
    [appt] = list_appointments(h.db, "demo-spa")
    assert (appt["start_iso"], appt["status"], appt["call_sid"]) == (SUNDAY_10, "booked", "CA1")
    assert appt["lead_id"] is not None
    assert h.events() == ["appointment.created"]


def test_a_taken_back_hold_is_released_before_the_rerun_books_the_same_slot(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, [FIRST_HALF, "תודה"])
    # The release is held up until the re-run has started, so only the gate's ordering
    # (not the release being quick) can let the re-run find the slot free.
    release, go_on = h.tools.release_holds, threading.Event()

    def slow_release(ids: list[int]) -> None:
        go_on.wait(20)
        release(ids)

    h.tools.release_holds = slow_release  # type: ignore[method-assign]

    async def drive(h: Harness) -> None:
        h.frames(TONE, 30)
        h.frames(QUIET, 7)
        await _until(lambda: h.creates() == [(True, None)], "the hold")
        reads = sum(t.tool == "find_slots" for t in h.tools.traces)
        h.frames(TONE, 15)  # the caller goes on 140 ms after the end: taken back
        h.frames(QUIET, 20)  # the real end; the window passes: the whole turn commits
        await _until(lambda: len(h.session.turns) == 3, "the re-run")
        await asyncio.sleep(0.2)  # room for a wrong gate to let the re-run read early
        assert sum(t.tool == "find_slots" for t in h.tools.traces) == reads
        go_on.set()
        await _until(lambda: len(h.session.turns) == 3 and bool(h.session.turns[2].bot_text),
                     "the re-run's reply")  # fmt: skip
        await _until(lambda: h.gate.pending() == 0, "the confirmation")
        await h.runner.finish("test", ended_by="stop")

    h.run(drive)
    # The re-run asked for the slot its own first half held, and got it: the release came
    # first (the gate orders it), so there is one booking and one event.
    assert h.creates() == [(True, None), (True, None)], h.tools.traces
    [appt] = list_appointments(h.db, "demo-spa")
    assert (appt["start_iso"], appt["status"]) == (SUNDAY_10, "booked")
    assert h.events() == ["appointment.created"]
    assert [t["index"] for t in h.session.record()["taken_back"]] == [1]


def test_a_stop_inside_the_window_confirms_the_hold_before_the_call_is_saved(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, [FIRST_HALF])

    async def drive(h: Harness) -> None:
        h.frames(TONE, 30)
        h.frames(QUIET, 7)
        await _until(lambda: h.creates() == [(True, None)], "the hold")
        assert h.session.turns[1].speculative  # the window has not passed
        await h.runner.finish("caller hung up", ended_by="stop")

    h.run(drive)
    assert [(a["start_iso"], a["status"]) for a in h.at_end] == [(SUNDAY_10, "booked")]
    assert h.events() == ["appointment.created"]
