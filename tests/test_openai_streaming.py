"""Streaming replies (issue 8 "Streaming"): the OpenAI agent, through the real `openai`
client against the loopback fake's Server-Sent Events, drives a real `CallSession` +
`CallRunner` - the caller hears the first sentence while the model still writes the rest.

The fake holds its stream after the first sentence until an event the test sets from the
transport (the first audio frame sent, or the barge-in's `clear`), so every assertion is
about the order of events, never about how long anything took.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
from fakes.openai_server import FakeOpenAI
from test_call_session import QUIET, TONE, EnergyVAD

from voicectl.agent.base import Conversation, ReplyStream, TurnInput
from voicectl.agent.openai import HOLDING_PHRASE_HE, OpenAIAgent
from voicectl.booking.phone import normalize_phone
from voicectl.call.runner import CallRunner
from voicectl.call.session import CallSession
from voicectl.clock import MonotonicClock
from voicectl.config import Settings
from voicectl.speech.phrases import SentenceSplitter
from voicectl.speech.stt.script import ScriptSTTStream

NOW = datetime.fromisoformat("2026-11-19T10:00:00+02:00")
FIRST = "שלום, הגעתם לספא דמו."
REST = "איך אפשר לעזור לך היום? אפשר לקבוע תור."
GREETING = f"{FIRST} {REST}"


class ToneTTS:
    """A voice that says 150 ms of tone per word and records what it was asked to say."""

    name = "tone"
    sample_rate = 8000

    def __init__(self, events: list[tuple[str, Any]]) -> None:
        self.events = events

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.events.append(("tts", text))
        yield np.full(1200 * len(text.split()), 3000, np.int16)

    def warmup(self) -> None:
        pass


class Wire:
    """The transport: records what was sent, in order, and signals the first frame and
    the first `clear` to the fake model's hold."""

    def __init__(self, events: list[tuple[str, Any]]) -> None:
        self.events = events
        self.first_media = threading.Event()
        self.cleared = threading.Event()

    async def send_media(self, payload: bytes) -> None:
        self.events.append(("media", None))
        self.first_media.set()

    async def send_mark(self, name: str) -> None:
        self.events.append(("mark", name))

    async def send_clear(self) -> None:
        self.events.append(("clear", None))
        self.cleared.set()

    async def close(self) -> None:
        pass


class LiveCall:
    """One call: the real session and runner, the OpenAI agent on the fake, a tone voice."""

    def __init__(self, fake: FakeOpenAI, script: list[str] | None = None) -> None:
        settings = Settings(
            agent="openai",
            openai_base_url=fake.base_url,
            openai_api_key="sk-test",
            openai_model="gpt-test",
            openai_timeout_ms=5000,
        )
        self.events: list[tuple[str, Any]] = []
        self.wire = Wire(self.events)
        self.session = CallSession(
            clock=MonotonicClock(),
            settings=settings,
            vad=EnergyVAD(),
            open_stt=lambda cb: ScriptSTTStream(script or [], cb),
            normalize_phone=normalize_phone,
            call_sid="CAstream",
            stream_sid="MZstream",
            business_id="demo-spa",
        )
        self.conv = Conversation("CAstream", "demo-spa", NOW, caller=self.session)
        self.done: asyncio.Queue[int] = asyncio.Queue()
        self.runner = CallRunner(
            session=self.session,
            transport=self.wire,
            agent=OpenAIAgent(settings),
            tts=ToneTTS(self.events),
            tools=None,
            conversation=self.conv,
            business_now=lambda: NOW,
            on_turn=lambda _r, index: self.done.put_nowait(index),
        )
        self.ts = 0

    async def turn_done(self) -> int:
        return await asyncio.wait_for(self.done.get(), 20)

    async def speak(self, payload: bytes, frames: int) -> None:
        """The caller's audio, one 20 ms frame at a time, as the bridge feeds it."""
        for _ in range(frames):
            self.runner.dispatch(self.session.media(payload, self.ts))
            self.ts += 20
            await asyncio.sleep(0.02)

    async def mark_sent(self, name: str) -> None:
        """Wait (at most 20 s) until the pacer has sent mark `name`."""
        for _ in range(1000):
            if ("mark", name) in self.events:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"mark {name} never sent: {self.events[-5:]}")

    def said(self) -> list[str]:
        return [text for kind, text in self.events if kind == "tts"]


def relay(when: threading.Event, then: threading.Event) -> None:
    """Set `then` once `when` is set (at most 10 s later)."""
    threading.Thread(target=lambda: when.wait(10) and then.set(), daemon=True).start()


def _index(events: list[tuple[str, Any]], kind: str) -> int:
    return next(i for i, (k, _) in enumerate(events) if k == kind)


def test_the_first_sentence_is_heard_while_the_rest_still_streams() -> None:
    async def go(fake: FakeOpenAI, hold: threading.Event) -> LiveCall:
        call = LiveCall(fake)
        relay(call.wire.first_media, hold)  # the rest streams once the first frame went out
        call.runner.start(call.session.begin())
        assert await call.turn_done() == 0
        await call.mark_sent("turn-0")
        await call.runner.finish()
        return call

    hold = threading.Event()
    item = {"content": GREETING, "hold_after_words": len(FIRST.split()), "hold": hold}
    with FakeOpenAI([item]) as fake:
        call = asyncio.run(go(fake, hold))
    # The first sentence's audio left before the model finished: the hold was released by
    # that audio (it would have waited 10 s in vain otherwise).
    assert fake.holds == [True]
    assert fake.requests[0]["stream"] is True
    turn = call.session.turns[0]
    assert turn.times.first_frame is not None and turn.times.first_frame < fake.stream_done_ms[0]
    # AI_LATENCY_MS ends at the first sentence, not at the end of the stream.
    assert turn.times.reply_text is not None and turn.times.reply_text < fake.stream_done_ms[0]
    assert "AI_LATENCY_MS" in call.session.turn_marks(turn)
    # Every sentence was spoken, in order, each phrase followed by its mark, then the turn's.
    assert call.said() == ["שלום,", "הגעתם לספא דמו.", "איך אפשר לעזור לך היום?", "אפשר לקבוע תור."]
    marks = [name for kind, name in call.events if kind == "mark"]
    assert marks == ["turn-0.0", "turn-0.1", "turn-0.2", "turn-0.3", "turn-0"]
    # The history holds the full reply, and the session's record too.
    assert [(m.role, m.content) for m in call.conv.history] == [("assistant", GREETING)]
    assert turn.bot_text == GREETING


def test_barge_in_during_the_stream_cancels_the_rest_and_the_call_goes_on() -> None:
    async def go(fake: FakeOpenAI, hold: threading.Event) -> LiveCall:
        call = LiveCall(fake, script=["רציתי לקבוע תור"])
        relay(call.wire.cleared, hold)  # the rest streams only after the barge-in's clear
        call.runner.start(call.session.begin())
        # The caller talks over the first sentence while the model is still writing.
        await asyncio.to_thread(call.wire.first_media.wait, 10)
        await call.speak(TONE, 25)
        await call.speak(QUIET, 15)
        assert await call.turn_done() == 0
        assert await call.turn_done() == 1
        await call.mark_sent("turn-1")
        await call.runner.finish()
        return call

    hold = threading.Event()
    script = [
        {"content": GREETING, "hold_after_words": len(FIRST.split()), "hold": hold},
        {"content": "בשמחה. לאיזה יום?"},
    ]
    with FakeOpenAI(script) as fake:
        call = asyncio.run(go(fake, hold))
    assert fake.holds == [True]
    greeting, answer = call.session.turns
    assert greeting.barged_in
    # Nothing of the rest of the stream was synthesized or sent after the clear.
    clear = _index(call.events, "clear")
    assert not any(text in REST for text in call.said())
    assert ("mark", "turn-0") not in call.events
    assert all(not (k == "mark" and str(v).startswith("turn-0")) for k, v in call.events[clear:])
    # The history holds what the caller heard of the greeting (at most its first
    # sentence: here little or nothing, the caller spoke at once), flagged interrupted;
    # the next turn was answered and spoken.
    first = call.conv.history[0]
    assert first.role == "assistant" and first.interrupted
    assert FIRST.startswith(first.content)
    assert [m.content for m in call.conv.history[1:]] == ["רציתי לקבוע תור", "בשמחה. לאיזה יום?"]
    assert call.said()[-2:] == ["בשמחה.", "לאיזה יום?"]
    assert answer.times.reply_text is not None and "AI_LATENCY_MS" in call.session.turn_marks(
        answer
    )


def test_a_stream_cut_after_the_first_sentence_keeps_what_was_said() -> None:
    async def go(fake: FakeOpenAI) -> LiveCall:
        call = LiveCall(fake)
        call.runner.start(call.session.begin())
        assert await call.turn_done() == 0
        await call.mark_sent("turn-0")
        await call.runner.finish()
        return call

    with FakeOpenAI([{"content": GREETING, "cut_after_words": len(FIRST.split())}]) as fake:
        call = asyncio.run(go(fake))
    assert call.said() == ["שלום,", "הגעתם לספא דמו."]
    assert [(m.role, m.content) for m in call.conv.history] == [("assistant", FIRST)]
    assert ("mark", "turn-0") in call.events  # the reply ended cleanly, its mark sent
    assert not call.session.errors


def test_a_stream_that_fails_before_any_sentence_falls_back_with_the_holding_phrase() -> None:
    with FakeOpenAI([{"content": GREETING, "cut_after_words": 2}]) as fake:
        agent = OpenAIAgent(
            Settings(agent="openai", openai_base_url=fake.base_url, openai_api_key="sk-test")
        )
        conv = Conversation("CAs", "demo-spa", NOW)
        sentences: list[str] = []
        reply = agent.respond_stream(
            TurnInput("greeting"), conv, None, ReplyStream(sentences.append)
        )
    assert sentences == []  # "שלום, הגעתם" never ended a sentence
    assert reply.text.startswith(HOLDING_PHRASE_HE) and len(reply.text) > len(HOLDING_PHRASE_HE)
    assert conv.history[-1].content == reply.text


def test_a_tool_round_then_a_streamed_answer() -> None:
    script = [
        {"tool_calls": [{"name": "end_call", "arguments": {}}]},
        {"content": "תודה שהתקשרת. להתראות!"},
    ]
    with FakeOpenAI(script) as fake:
        agent = OpenAIAgent(
            Settings(agent="openai", openai_base_url=fake.base_url, openai_api_key="sk-test")
        )
        conv = Conversation("CAs", "demo-spa", NOW)
        sentences: list[str] = []
        reply = agent.respond_stream(
            TurnInput("speech", "זהו, תודה"), conv, None, ReplyStream(sentences.append)
        )
    assert all(body["stream"] is True for body in fake.requests)
    assert sentences == ["תודה שהתקשרת.", "להתראות!"]
    assert reply.text == "תודה שהתקשרת. להתראות!" and reply.end_call
    assert [c.name for c in reply.tool_calls] == ["end_call"]
    assert conv.history[-1].content == reply.text


def test_sentences_are_cut_on_sentence_marks_never_inside_times_or_numbers() -> None:
    splitter = SentenceSplitter()
    out: list[str] = []
    for delta in ["יש תור מחר בשעה 12", ":30", " או 3", ".5 שעות אחר כך. ", "מתאים", "?\nתודה"]:
        out += splitter.feed(delta)
    assert out == ["יש תור מחר בשעה 12:30 או 3.5 שעות אחר כך.", "מתאים?"]
    assert splitter.flush() == ["תודה"]
