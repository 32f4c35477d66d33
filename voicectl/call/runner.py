"""`CallRunner`: drives one `CallSession` on an asyncio loop for any transport.

It owns the per-call tasks - the 20 ms pacer, the sender (a bounded queue, so a slow
socket never lets memory grow: seed 001 item 3 "non-blocking send queue"), and the reply
pipeline (agent, then TTS phrase by phrase, in worker threads so no call blocks the event
loop: DESIGN lessons, Pipecat #3092) - and turns the session's actions into transport and
call-control calls. It reads nothing from the session but the actions it returns.

The call's end is decided here, once (`finish`): whichever of `stop`, a dropped socket,
the bot's hang-up or a status callback comes first wins; later ones wait for it and change
nothing. A hand-off to a `<Gather>` closes the stream without ending the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np

from voicectl import executors
from voicectl.agent.base import Agent, AgentReply, Conversation, Message, ReplyStream
from voicectl.audio.resample import resample
from voicectl.booking.appointments import CONFIRM_RETRY_S
from voicectl.call.actions import (
    Action,
    AskPhoneByGather,
    CancelReply,
    CommitTurn,
    Hangup,
    RunTurn,
    SendClear,
    SendMark,
    SendMedia,
    Speak,
    TakeBack,
)
from voicectl.call.commit import CommitGate
from voicectl.call.session import CallSession
from voicectl.clock import Clock
from voicectl.logs import get_logger
from voicectl.pacing import FrameTicker
from voicectl.speech.tts.base import TTS
from voicectl.speech.tts.cache import PhraseCache

_log = get_logger("call")

#: Spoken when the reply pipeline itself fails (the agent never raises, TTS might).
FALLBACK_REPLY_HE = "סליחה, הייתה לי תקלה קטנה. אפשר לחזור על זה?"

#: `call.ended` causes (the shared contract; issue 9's flows read them).
ENDED_BY = ("stop", "disconnect", "bot_hangup", "status_callback", "startup_recovery")
#: `call.ended` outcomes.
OUTCOMES = ("completed", "busy", "failed", "no-answer", "canceled", "interrupted")

#: The longest the end of a call waits for its holds to be settled, seconds: a failing
#: confirmation is tried again for up to `CONFIRM_RETRY_S`, plus its last attempt's time.
SETTLE_WAIT_S = CONFIRM_RETRY_S + 5.0


class Transport(Protocol):
    """Where the call's outbound messages go (the Twilio WebSocket, a speaker, a test)."""

    async def send_media(self, payload: bytes) -> None: ...

    async def send_mark(self, name: str) -> None: ...

    async def send_clear(self) -> None: ...

    async def close(self) -> None: ...


class DirectTransport(Transport, Protocol):
    """A transport that can write synchronously, on the loop thread, in the pacer's own
    tick: no send queue and no sender task between the session and the socket (the
    Twilio bridge's direct lane, `telephony/twilio/media_socket.py`).

    `room()` is how many messages it takes now (0 while the socket's write buffer is
    above its high-water mark: frames then wait in the session, none is dropped);
    `write_now(items)` writes `("media", bytes) | ("mark", name) | ("clear", None)`
    items in order, in one socket write, or raises once the connection is gone;
    `backlog()` is how many messages already written are still waiting in the socket's
    write buffer (messages, estimated from its bytes) - the direct lane's send queue.
    """

    def room(self) -> int: ...

    def backlog(self) -> int: ...

    def write_now(self, items: list[tuple[str, Any]]) -> None: ...


class CallControl(Protocol):
    """What a telephony provider can do to the call itself (Twilio: REST `Calls`).

    Both methods return True on success, never raise, and bound their own wait.
    """

    async def hang_up(self) -> bool: ...

    async def gather_phone(self) -> bool: ...


@dataclass(frozen=True)
class Ending:
    """How this stream ended. `ended_by` is None when the call goes on without it (moved
    to a `<Gather>`); otherwise one of `ENDED_BY`, with `outcome` one of `OUTCOMES`."""

    reason: str
    ended_by: str | None
    outcome: str = "completed"


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
    """Runs one call's stream until `finish()`.

    Args:
        session: the call's state machine.
        transport: outbound side.
        agent, tts: the process-wide providers (created once).
        tools: this call's `BookingTools`.
        conversation: this call's memory.
        business_now: the business clock.
        send_queue_max_frames: bound of the outbound queue (messages). A
            `DirectTransport` has no queue: it is written in the tick instead.
        control: hang-up / Gather through the provider (None: closing the stream is all).
        on_end: awaited once when the stream is over, with the `Ending`.
        on_turn: called on the loop thread when a turn's reply is done (spoken, or text
            only), with the turn index - e.g. to save the call so far. Must not block.
        commit_gate: the gate this call's side-effecting tools ask before writing (the
            same one given to its `BookingTools`); the runner tells it which turns are
            speculative, committed or taken back, and has the holds it returns confirmed
            (`tools.confirm_holds`) or released (`tools.release_holds`) in the `db` pool.
            None = a gate of its own (unused by tools that were not given it).
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
        send_queue_max_frames: int = 50,
        control: CallControl | None = None,
        on_end: Callable[[CallRunner, Ending], Awaitable[None]] | None = None,
        on_turn: Callable[[CallRunner, int], None] | None = None,
        commit_gate: CommitGate | None = None,
    ) -> None:
        self.session = session
        self.transport = transport
        self.agent = agent
        self.tts = tts
        self.tools = tools
        self.conversation = conversation
        self.business_now = business_now
        self.control = control
        self._on_end = on_end
        self._on_turn = on_turn
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=send_queue_max_frames)
        direct = callable(getattr(transport, "write_now", None))
        self._direct: DirectTransport | None = transport if direct else None  # type: ignore[assignment]
        self._turn_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._speaking: dict[int, asyncio.Task[Any]] = {}
        # turn -> its phrases waiting for synthesis, (index, text); None ends the reply
        self._to_speak: dict[int, asyncio.Queue[tuple[int, str] | None]] = {}
        self._cancelled: dict[int, str | None] = {}  # turn -> heard text (None: keep)
        self._replies: dict[int, Message] = {}  # turn -> its assistant message
        self.gate = commit_gate or CommitGate()
        # speculative turn -> the conversation before it, for a `TakeBack`
        self._before: dict[int, _Before] = {}
        self._taken_back: set[int] = set()
        # confirmations / releases of holds in flight: never cancelled, awaited at the end
        self._settling: set[asyncio.Task[Any]] = set()
        self._handoff = False  # a <Gather> hand-off is under way: the stop it causes
        self._hanging_up = False
        self._finishing = False
        self._finished = asyncio.Event()
        self._ticker: FrameTicker | None = None
        self.ending: Ending | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, actions: list[Action]) -> None:
        """Start pacing (the loop's `FrameTicker`) and the sender, and carry out the
        session's `begin()` actions."""
        self._ticker = FrameTicker.of(asyncio.get_running_loop())
        self._ticker.add(self._tick)
        if self._direct is None:
            self._spawn(self._sender())
        self.dispatch(actions)

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

    async def finish(
        self, reason: str = "caller hung up", ended_by: str | None = "stop", outcome: str = ""
    ) -> Ending:
        """End this stream (idempotent): the first call decides the `Ending`; later calls
        wait until it is fully handled (record saved, `call.ended` written) and return it.

        Args:
            reason: for the call log.
            ended_by: a `call.ended` cause, or None = the call continues elsewhere.
            outcome: a `call.ended` outcome ("" = "completed").
        """
        if self._finishing:
            await self._finished.wait()
            assert self.ending is not None
            return self.ending
        self._finishing = True
        if self._handoff and ended_by in ("stop", "disconnect"):
            ended_by, reason = None, f"{reason} (moved to <Gather>)"
        elif self._hanging_up and ended_by in ("stop", "disconnect"):
            ended_by, reason = "bot_hangup", f"{reason} (after the bot hung up)"
        self.ending = Ending(reason, ended_by, outcome or "completed")
        # Shielded: the caller being cancelled (e.g. its socket handler) must not lose the
        # record or the `call.ended` row.
        closing = asyncio.ensure_future(self._close(self.ending))
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            closing.add_done_callback(lambda _: self._finished.set())
            raise
        return self.ending

    async def _close(self, ending: Ending) -> None:
        try:
            if self._ticker is not None:
                self._ticker.remove(self._tick)
            self.dispatch(self.session.stop(ending.reason))
            # A `stop` commits the last speculative turn: its holds become bookings
            # before the record and `call.ended` are written (bounded, as below).
            if self._settling:
                await asyncio.wait(set(self._settling), timeout=SETTLE_WAIT_S)
            if self.gate.pending():  # a hold being written as the call stopped
                await executors.run("db", self.gate.wait_idle, SETTLE_WAIT_S)
            current = asyncio.current_task()
            tasks = [t for t in list(self._tasks) if t is not current]
            for task in tasks:
                task.cancel()
            if tasks:
                # Bounded: a task may swallow its cancellation (asyncio.wait_for returns a
                # result that raced the cancel) - it must not hold the call's end.
                await asyncio.wait(tasks, timeout=2.0)
            # Close the stream (e.g. a status callback ends a live call) without waiting on
            # the peer's close handshake before the record is saved.
            closer = asyncio.ensure_future(self.transport.close())
            closer.add_done_callback(lambda t: t.cancelled() or t.exception())
            if self._on_end is not None:
                await self._on_end(self, ending)
            await asyncio.wait({closer}, timeout=1.0)
        finally:
            self._finished.set()

    @property
    def finished(self) -> bool:
        """True once `finish` has started (the stream is over)."""
        return self._finishing

    # ------------------------------------------------------------------ actions
    def dispatch(self, actions: list[Action]) -> None:
        """Carry out the session's actions (call on the loop thread). With a
        `DirectTransport` the messages among them are written before this returns, in
        one write."""
        out: list[tuple[str, Any]] = []
        for action in actions:
            if isinstance(action, SendMedia):
                out.append(("media", action.payload))
            elif isinstance(action, SendMark):
                out.append(("mark", action.name))
            elif isinstance(action, SendClear):
                # Drop every frame not yet written to the socket, in this same tick.
                out.clear()
                while not self._queue.empty():
                    self._queue.get_nowait()
                out.append(("clear", None))
            elif isinstance(action, RunTurn):
                self._spawn(self._run_turn(action))
            elif isinstance(action, Speak):
                self._queue_speech(action)
            elif isinstance(action, CancelReply):
                self._cancel(action)
            elif isinstance(action, CommitTurn):
                self._commit(action.turn_index)
            elif isinstance(action, TakeBack):
                self._take_back(action.turn_index)
            elif isinstance(action, Hangup):
                # Decided now, in this tick: a `stop` processed before the hang-up task runs
                # (a caller hanging up on "goodbye") is still the bot's ending.
                self._hanging_up = True
                self._spawn(self._hangup(action))
            elif isinstance(action, AskPhoneByGather):
                self._spawn(self._gather(action))
        if out:
            self._send(out)

    def _cancel(self, action: CancelReply) -> None:
        self._cancelled[action.turn_index] = action.heard
        task = self._speaking.pop(action.turn_index, None)
        self._to_speak.pop(action.turn_index, None)
        if task is not None:
            task.cancel()  # synthesis in flight is abandoned now, not at the next phrase
        msg = self._replies.get(action.turn_index)
        if msg is not None and action.heard is not None:
            self.conversation.cut_reply(msg, action.heard)

    def _commit(self, index: int) -> None:
        """Speculative turn `index` is real: it can no longer be undone, and its holds
        become bookings (off the loop)."""
        self._before.pop(index, None)
        self._settle(self.gate.commit(index), confirm=True)

    def _take_back(self, index: int) -> None:
        """Undo speculative turn `index`: its reply stops, its writes are refused, its
        holds are released (off the loop; the next turn's writes wait for that in the
        gate), and once its agent has returned, the conversation is as it was before it."""
        self._settle(self.gate.take_back(index), confirm=False)
        self._taken_back.add(index)
        self._cancel(CancelReply(index))
        before = self._before.get(index)
        if before is not None and before.agent_done:
            self._roll_back(index)

    def _settle(self, holds: list[int], *, confirm: bool) -> None:
        """Confirm or release `holds` in the `db` pool; the tools tell the gate when done.
        A confirmation that fails is tried again and then recorded on the call by the
        tools (`BookingTools.confirm_holds`); here it is also logged on the call."""
        if not holds:
            return
        name = "confirm_holds" if confirm else "release_holds"
        fn = getattr(self.tools, name, None)
        if fn is None:  # tools that never hold cannot have holds: nothing to do
            self.gate.settled(holds)
            return

        async def settle() -> None:
            try:
                results = await executors.run("db", fn, holds)
            except Exception as exc:  # the tools never raise; a dead pool might
                self.gate.settled(holds)
                self.session.log("ERROR", f"holds {holds} not settled: {exc!r}")
                return
            for res in results or []:
                if not res.get("ok"):
                    self.session.log("ERROR", f"held booking not confirmed: {res}")

        task = asyncio.ensure_future(settle())
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    def _roll_back(self, index: int) -> None:
        before = self._before.pop(index, None)
        if before is None:
            return
        conv = self.conversation
        del conv.history[before.history_len :]
        conv.state.clear()
        conv.state.update(before.state)
        self._replies.pop(index, None)

    def _send(self, items: list[tuple[str, Any]]) -> None:
        """Write `items` now (a `DirectTransport`) or queue them for the sender."""
        if self._direct is None:
            for item in items:
                self._enqueue(item)
            return
        if self._finishing:
            return  # the stream is over: nothing more goes out (as the sender is cancelled)
        # The backlog as a send queue would hold it after this enqueue: what earlier
        # writes left unsent in the socket's buffer, plus this tick's messages.
        try:
            depth = self._direct.backlog() + len(items)
            self._direct.write_now(items)
        except Exception as exc:  # the socket went away: the call is over
            self._transport_lost(exc)
            return
        self.dispatch(self.session.queue_depth(depth))

    def _transport_lost(self, exc: BaseException) -> None:
        if self._finishing:
            return
        self.session.log("INFO", f"transport closed while sending: {exc.__class__.__name__}")
        self._spawn(self.finish("connection lost", ended_by="disconnect"))

    def _room(self) -> int:
        """How many messages can go out now."""
        if self._direct is not None:
            return self._direct.room()
        return self._queue.maxsize - self._queue.qsize()

    def _enqueue(self, item: tuple[str, Any]) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            # tick() is given the room left, so only marks/clear can land here.
            self.dispatch(self.session.queue_full())
            return
        self.dispatch(self.session.queue_depth(self._queue.qsize()))

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
                self._transport_lost(exc)
                return

    def _tick(self) -> None:
        """One 20 ms step of this call's pacing (called by the loop's `FrameTicker`). A
        failure stops this call's pacing only, and is logged on the call."""
        assert self._ticker is not None
        if self._finishing:
            self._ticker.remove(self._tick)
            return
        try:
            self.dispatch(self.session.tick(self._room()))
        except Exception as exc:
            self._ticker.remove(self._tick)
            self.session.log("ERROR", f"internal task failed: pacing: {exc!r}")

    async def _flush(self, timeout_s: float = 1.0) -> None:
        """Give the sender a moment to write what is queued (the goodbye's mark echoed)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self._queue.empty() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.02)

    async def _hangup(self, action: Hangup) -> None:
        await self._flush()
        if self.control is not None:
            await self.control.hang_up()  # logs its own failure; the socket closes anyway
        if not self._finishing:
            await self.finish(action.reason, ended_by=action.ended_by)

    async def _gather(self, action: AskPhoneByGather) -> None:
        await self._flush()
        self._handoff = True
        ok = self.control is not None and await self.control.gather_phone()
        if self._finishing:
            return  # the stream already ended (Twilio's `stop` came before our answer)
        if not ok:
            self._handoff = False
            self.session.log(
                "WARNING", "could not move the call to <Gather>; keys are read on the stream"
            )
            self.dispatch(self.session.gather_failed())
            return
        await self.finish("moved to <Gather> for the phone number", ended_by=None)

    # ------------------------------------------------------------------ turns
    async def _run_turn(self, action: RunTurn) -> None:
        """Agent then TTS for one turn, off the loop; turns of a call run in order."""
        async with self._turn_lock:
            index = action.turn_index
            if index in self._cancelled or self._finishing:
                return
            conv = self.conversation
            conv.now = self.business_now()
            conv.turn_index = index
            n_traces = len(getattr(self.tools, "traces", []))
            n_history = len(conv.history)
            if action.speculative:
                self._before[index] = _Before(n_history, copy.deepcopy(conv.state))
            self.gate.begin(index, action.speculative)
            try:
                reply: AgentReply = await self._respond(index, action)
            except Exception as exc:  # the Agent contract forbids this; stay on the call
                self.session.log("ERROR", f"agent raised: {exc!r}")
                reply = AgentReply(FALLBACK_REPLY_HE)
                conv.history.append(Message("assistant", reply.text))
            before = self._before.get(index)
            if before is not None:
                before.agent_done = True
            if index in self._taken_back:
                self._roll_back(index)  # as if it never happened (the log says why)
                self.session.reply_text(index, reply, {}, [])
                return
            mine = [m for m in conv.history[n_history:] if m.role == "assistant"]
            if mine:
                self._replies[index] = mine[-1]
                if self._cancelled.get(index) is not None:
                    conv.cut_reply(mine[-1], self._cancelled[index] or "")
            tool_ms: dict[str, float] = {}
            labels: list[str] = []
            for trace in getattr(self.tools, "traces", [])[n_traces:]:
                tool_ms[trace.mark] = tool_ms.get(trace.mark, 0.0) + trace.latency_ms
                outcome = "ok" if trace.ok else f"error={trace.error}"
                labels.append(f"{trace.tool} {outcome}")
                args = json.dumps(trace.args, ensure_ascii=False)  # phones already masked
                self.session.log(
                    "INFO", f"tool {trace.tool} {args} -> {outcome} {trace.latency_ms:.1f} ms"
                )
            self.dispatch(self.session.reply_text(index, reply, tool_ms, labels))
            speaking = self._speaking.get(index)
            if speaking is not None:
                # Keep the call's replies in order: the next turn waits for this audio.
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(speaking)
            self._turn_done(index)

    async def _respond(self, index: int, action: RunTurn) -> AgentReply:
        """The agent's reply, in a worker thread. A streaming agent's sentences are fed to
        the session as each one is ready (`reply_phrase`), so the first is spoken while the
        model writes the rest; a cancelled turn tells the agent to stop reading."""
        respond_stream = getattr(self.agent, "respond_stream", None)
        if respond_stream is None:
            return await executors.run(
                "agent", self.agent.respond, action.turn, self.conversation, self.tools
            )
        loop = asyncio.get_running_loop()

        def emit(sentence: str) -> None:  # on the agent's thread
            with contextlib.suppress(RuntimeError):  # the loop is gone: the call is over
                loop.call_soon_threadsafe(self._sentence, index, sentence)

        stream = ReplyStream(emit, lambda: index in self._cancelled or self._finishing)
        return await executors.run(
            "agent", respond_stream, action.turn, self.conversation, self.tools, stream
        )

    def _sentence(self, index: int, sentence: str) -> None:
        if not self._finishing:
            self.dispatch(self.session.reply_phrase(index, sentence))

    def _turn_done(self, index: int) -> None:
        if self._on_turn is None or self._finishing:
            return
        try:
            self._on_turn(self, index)
        except Exception as exc:  # saving progress must never break the call
            self.session.log("WARNING", f"turn hook failed: {exc!r}")

    def _queue_speech(self, action: Speak) -> None:
        """Queue `action`'s phrases behind the ones of its turn already queued; the first
        `Speak` of a turn starts the task that synthesizes them in order."""
        index = action.turn_index
        if index in self._cancelled:
            return
        pending = self._to_speak.get(index)
        if pending is None:
            # Unbounded, but one reply's phrases: the agent's output is capped.
            pending = self._to_speak[index] = asyncio.Queue()
            self._speaking[index] = self._spawn(self._speak(index, pending))
        for k, phrase in enumerate(action.phrases, action.first):
            pending.put_nowait((k, phrase))
        if action.last:
            pending.put_nowait(None)

    async def _speak(self, index: int, pending: asyncio.Queue[tuple[int, str] | None]) -> None:
        session = self.session
        rate = self.tts.sample_rate
        failed = False
        try:
            while (item := await pending.get()) is not None:
                k, phrase = item
                if failed:
                    continue  # the voice failed: let the rest of the reply go unsaid
                try:
                    known = self.tts.cached(phrase) if isinstance(self.tts, PhraseCache) else None
                    if known is not None:  # in memory: no synthesis, no thread hop
                        for chunk in known:
                            self.dispatch(session.reply_audio(index, chunk, k))
                            await asyncio.sleep(0)  # a long phrase does not hold the loop
                    else:
                        chunks = iter(self.tts.synthesize(phrase))
                        # One thread hop per chunk: synthesis and resampling together.
                        while (
                            chunk := await executors.run("tts", _next_8k, chunks, rate)
                        ) is not None:
                            self.dispatch(session.reply_audio(index, chunk, k))
                except Exception as exc:
                    session.log("ERROR", f"TTS failed: {exc!r}")
                    failed = True
                    continue
                self.dispatch(session.phrase_done(index, k))
        finally:
            if self._speaking.get(index) is asyncio.current_task():
                del self._speaking[index]
            if self._to_speak.get(index) is pending:
                del self._to_speak[index]
        self.dispatch(session.reply_done(index))


@dataclass
class _Before:
    """The conversation before a speculative turn: history length and agent state."""

    history_len: int
    state: dict[str, Any]
    agent_done: bool = False


def _next_8k(chunks: Iterator[np.ndarray], rate: int) -> np.ndarray | None:
    """The next TTS chunk resampled from `rate` Hz to 8 kHz int16 (None when the phrase
    is over); runs in the TTS pool."""
    chunk = next(chunks, None)
    if chunk is None or rate == 8000:
        return chunk
    return resample(chunk, rate, 8000)
