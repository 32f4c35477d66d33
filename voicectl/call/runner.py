"""`CallRunner`: drives one `CallSession` on an asyncio loop for any transport.

It owns the three per-call tasks - the 20 ms pacer, the sender (a bounded queue, so a slow
socket never lets memory grow: seed 001 item 3 "non-blocking send queue"), and the reply
pipeline (agent, then TTS, in worker threads so no call blocks the event loop: DESIGN
lessons, Pipecat #3092) - and turns the session's actions into transport calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from voicectl.agent.base import Agent, AgentReply, Conversation, Message
from voicectl.audio.frames import FRAME_MS
from voicectl.audio.resample import resample
from voicectl.call.actions import Action, Hangup, RunTurn, SendClear, SendMark, SendMedia
from voicectl.call.session import CallSession
from voicectl.clock import Clock
from voicectl.logs import get_logger
from voicectl.speech.tts.base import TTS

_log = get_logger("call")

#: Spoken when the reply pipeline itself fails (the agent never raises, TTS might).
FALLBACK_REPLY_HE = "סליחה, הייתה לי תקלה קטנה. אפשר לחזור על זה?"


class Transport(Protocol):
    """Where the call's outbound messages go (the Twilio WebSocket, a speaker, a test)."""

    async def send_media(self, payload: bytes) -> None: ...

    async def send_mark(self, name: str) -> None: ...

    async def send_clear(self) -> None: ...

    async def close(self) -> None: ...


class BusinessClock:
    """The business's wall clock for one call: `start` plus elapsed monotonic time.

    Simulations start it at the scenario's `now`; real calls at the real time.
    """

    def __init__(self, start: datetime, clock: Clock) -> None:
        self._start = start
        self._t0 = clock.now_ms()
        self._clock = clock

    def __call__(self) -> datetime:
        return self._start + timedelta(milliseconds=self._clock.now_ms() - self._t0)


class CallRunner:
    """Runs one call until `finish()`.

    Args:
        session: the call's state machine.
        transport: outbound side.
        agent, tts: the process-wide providers (created once).
        tools: this call's `BookingTools`.
        conversation: this call's memory.
        business_now: the business clock.
        on_end: awaited once when the call is over (persist the record, flows).
        on_turn: called on the loop thread when a turn's reply is done (or dropped), with
            the turn index - e.g. to save the call so far. Must not block.
    """

    def __init__(
        self,
        *,
        session: CallSession,
        transport: Transport,
        agent: Agent,
        tts: TTS,
        tools: Any,
        conversation: Conversation,
        business_now: Callable[[], datetime],
        on_end: Callable[[CallRunner], Awaitable[None]] | None = None,
        on_turn: Callable[[CallRunner, int], None] | None = None,
    ) -> None:
        self.session = session
        self.transport = transport
        self.agent = agent
        self.tts = tts
        self.tools = tools
        self.conversation = conversation
        self.business_now = business_now
        self._on_end = on_end
        self._on_turn = on_turn
        max_frames = session.settings.send_queue_max_frames
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=max_frames)
        self._turn_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._finished = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the pacer and sender, and the greeting."""
        self._spawn(self._pacer())
        self._spawn(self._sender())
        self.dispatch(self.session.begin())

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.session.log("ERROR", f"internal task failed: {exc!r}")

    async def finish(self, reason: str = "caller hung up") -> None:
        """End the call (idempotent): stop the session, cancel tasks, run `on_end`."""
        if self._finished.is_set():
            return
        self._finished.set()
        self.session.stop(reason)
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._on_end is not None:
            await self._on_end(self)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    # ------------------------------------------------------------------ actions
    def dispatch(self, actions: list[Action]) -> None:
        """Carry out the session's actions (call on the loop thread)."""
        for action in actions:
            if isinstance(action, SendMedia):
                self._enqueue(("media", action.payload))
            elif isinstance(action, SendMark):
                self._enqueue(("mark", action.name))
            elif isinstance(action, SendClear):
                # Drop every frame not yet written to the socket, in this same tick.
                while not self._queue.empty():
                    self._queue.get_nowait()
                self._enqueue(("clear", None))
            elif isinstance(action, RunTurn):
                self._spawn(self._run_turn(action))
            elif isinstance(action, Hangup):
                self._spawn(self._hangup(action.reason))

    def _enqueue(self, item: tuple[str, Any]) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            # tick() is given the room left, so only marks/clear can land here.
            self.session.metrics["SEND_QUEUE_FULL"] += 1
            self.session.log("WARNING", "Send queue full: dropped an outbound message")
            return
        self.session.note_queue_depth(self._queue.qsize())

    async def _sender(self) -> None:
        while True:
            kind, value = await self._queue.get()
            try:
                if kind == "media":
                    await self.transport.send_media(value)
                elif kind == "mark":
                    await self.transport.send_mark(value)
                else:
                    await self.transport.send_clear()
            except Exception as exc:  # the socket went away: the call is over
                self.session.log(
                    "INFO", f"transport closed while sending: {exc.__class__.__name__}"
                )
                self._spawn(self.finish("connection lost"))
                return

    async def _pacer(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while not self.session.ended:
            room = self._queue.maxsize - self._queue.qsize()
            self.dispatch(self.session.tick(room))
            next_tick += FRAME_MS / 1000
            delay = next_tick - loop.time()
            if delay < -0.2:  # fell far behind (a stalled loop): re-anchor, don't burst
                next_tick = loop.time()
                delay = 0
            await asyncio.sleep(max(delay, 0))

    async def _hangup(self, reason: str) -> None:
        # Let the sender flush what is queued (the goodbye's mark already echoed).
        await asyncio.sleep(0.05)
        await self.finish(reason)
        with contextlib.suppress(Exception):
            await self.transport.close()

    # ------------------------------------------------------------------ turns
    async def _run_turn(self, action: RunTurn) -> None:
        """Agent then TTS for one turn, off the loop; turns of a call run in order."""
        async with self._turn_lock:
            session, index = self.session, action.turn_index
            if session.ended or session.turns[index].superseded:
                return
            conv = self.conversation
            conv.now = self.business_now()
            conv.caller_number = session.caller_number
            conv.turn_index = index
            n_traces = len(getattr(self.tools, "traces", []))
            try:
                reply: AgentReply = await asyncio.to_thread(
                    self.agent.respond, action.turn, conv, self.tools
                )
            except Exception as exc:  # the Agent contract forbids this; stay on the call
                session.log("ERROR", f"agent raised: {exc!r}")
                reply = AgentReply(FALLBACK_REPLY_HE)
                conv.history.append(Message("assistant", reply.text))
            tool_ms: dict[str, float] = {}
            labels: list[str] = []
            for trace in getattr(self.tools, "traces", [])[n_traces:]:
                tool_ms[trace.mark] = tool_ms.get(trace.mark, 0.0) + trace.latency_ms
                outcome = "ok" if trace.ok else f"error={trace.error}"
                labels.append(f"{trace.tool} {outcome}")
                args = json.dumps(trace.args, ensure_ascii=False)  # phones already masked
                session.log(
                    "INFO", f"tool {trace.tool} {args} -> {outcome} {trace.latency_ms:.1f} ms"
                )
            session.reply_text(index, reply, tool_ms, labels)
            if not (session.turns[index].superseded or session.ended):
                try:
                    await self._speak(index, reply.text)
                except Exception as exc:
                    session.log("ERROR", f"TTS failed: {exc!r}")
            session.reply_done(index)
            self._turn_done(index)

    def _turn_done(self, index: int) -> None:
        if self._on_turn is None:
            return
        try:
            self._on_turn(self, index)
        except Exception as exc:  # saving progress must never break the call
            self.session.log("WARNING", f"turn hook failed: {exc!r}")

    async def _speak(self, index: int, text: str) -> None:
        if not text.strip():
            return
        chunks = iter(self.tts.synthesize(text))
        rate = self.tts.sample_rate
        while True:
            chunk = await asyncio.to_thread(next, chunks, None)
            if chunk is None:
                return
            turn = self.session.turns[index]
            if turn.superseded or turn.barged_in or self.session.ended:
                return
            pcm = await asyncio.to_thread(resample, chunk, rate, 8000) if rate != 8000 else chunk
            self.session.reply_audio(index, pcm)
