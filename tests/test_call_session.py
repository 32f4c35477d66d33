"""The call state machine, driven frame by frame with a fake clock (no sockets, no sleeps);
at the end, speculative endpointing through the real runner, agent, tools and SQLite.

Caller audio is real G.711 (a tone encoded by the real codec); the VAD is a plain energy
detector so each test controls exactly which frames are speech - the real VADs are tested
on real speech in test_audio_vad.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from voicectl.agent.base import AgentReply, Conversation, TurnInput
from voicectl.audio.g711 import ulaw_encode
from voicectl.booking.appointments import list_appointments
from voicectl.booking.phone import normalize_phone
from voicectl.booking.policy import seed_policies
from voicectl.booking.tools import BookingTools
from voicectl.call.actions import (
    AskPhoneByGather,
    CancelReply,
    CommitTurn,
    RunTurn,
    SendClear,
    SendMark,
    SendMedia,
    Speak,
    TakeBack,
)
from voicectl.call.commit import CommitGate
from voicectl.call.runner import CallRunner
from voicectl.call.session import CallSession, CallState
from voicectl.clock import FakeClock
from voicectl.config import Settings
from voicectl.providers import Providers
from voicectl.speech.stt.base import STTResult
from voicectl.speech.stt.script import ScriptSTTStream
from voicectl.store.db import Database


class EnergyVAD:
    name = "energy"

    def is_speech(self, frame: np.ndarray) -> bool:
        return float(np.abs(frame.astype(np.int32)).mean()) > 500

    def reset(self) -> None:
        pass


TONE = ulaw_encode((np.sin(np.arange(160) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16))
QUIET = b"\xff" * 160


class Call:
    """A session plus a fake Twilio: a stream clock and a log of what was sent."""

    def __init__(self, script: list[str] | None = None, **knobs: object) -> None:
        self.clock = FakeClock(1000)
        self.settings = Settings(**{"vad_hangover_ms": 160, "min_utt_sec": 0.2, **knobs})
        self.lines: list[str] = []
        self.session = CallSession(
            clock=self.clock,
            settings=self.settings,
            vad=EnergyVAD(),
            open_stt=lambda cb: ScriptSTTStream(script or [], cb),
            normalize_phone=normalize_phone,
            call_sid="CA1",
            stream_sid="MZ1",
            business_id="demo-spa",
            log=lambda level, msg: self.lines.append(f"{level} {msg}"),
        )
        self.ts = 0
        self.sent: list[object] = []
        self.turns: list[RunTurn] = []

    def handle(self, actions: list[object]) -> None:
        for a in actions:
            if isinstance(a, RunTurn):
                self.turns.append(a)
            else:
                self.sent.append(a)

    def frame(self, payload: bytes, n: int = 1, tick: bool = True) -> None:
        for _ in range(n):
            self.clock.advance(20)
            self.handle(self.session.media(payload, self.ts))
            self.ts += 20
            if tick:
                self.handle(self.session.tick())

    def reply(self, index: int, text: str, seconds: float, **kw: object) -> None:
        self.session.reply_text(index, AgentReply(text, **kw), {})
        self.session.reply_audio(index, np.full(int(8000 * seconds), 3000, np.int16))
        self.session.reply_done(index)

    def media_sent(self) -> list[bytes]:
        return [a.payload for a in self.sent if isinstance(a, SendMedia)]


def test_greeting_is_paced_and_ends_with_a_mark() -> None:
    call = Call()
    call.handle(call.session.begin())
    assert call.turns[0].turn.kind == "greeting"
    call.reply(0, "שלום", seconds=1.0)
    call.handle(call.session.tick())
    # Never more than the playback lead (100 ms) + one frame ahead of real time.
    assert len(call.media_sent()) <= 6
    call.frame(QUIET, 60)
    frames = call.media_sent()
    assert len(frames) == 50 and all(len(f) == 160 for f in frames)
    assert SendMark("turn-0") in call.sent
    assert call.sent.index(SendMark("turn-0")) == len(call.sent) - 1
    assert call.session.state is CallState.SPEAKING  # sent is not heard
    call.session.mark("turn-0")
    assert call.session.state is CallState.LISTENING


def test_a_jittered_pacer_still_sends_one_frame_per_tick() -> None:
    """Ticks that come up to 9 ms late (and the next one early, as a pacer anchored on a
    20 ms grid does) send one frame each: no two-frame burst followed by a 40 ms hole."""
    call = Call()
    call.handle(call.session.begin())
    call.reply(0, "שלום", seconds=3.0)
    call.handle(call.session.tick())  # the initial lead
    call.sent.clear()
    per_tick, at = [], 0.0
    for k in range(1, 101):
        due = 20 * k + (9 if k % 2 else 0)  # every other tick 9 ms late on its 20 ms grid
        call.clock.advance(due - at)
        at = due
        before = len(call.media_sent())
        call.handle(call.session.tick())
        per_tick.append(len(call.media_sent()) - before)
    assert per_tick == [1] * 100


def test_utterance_becomes_a_turn_with_the_script_text_and_marks() -> None:
    call = Call(script=["תקבע לי מחר ב-12"])
    call.handle(call.session.begin())
    call.reply(0, "שלום", seconds=0.2)
    call.frame(QUIET, 20)
    call.session.mark("turn-0")
    call.frame(TONE, 40)  # 800 ms of speech
    assert len(call.turns) == 1
    call.frame(QUIET, 10)  # 200 ms of silence > 160 ms hangover
    assert [t.turn.kind for t in call.turns] == ["greeting", "speech"]
    assert call.turns[1].turn.text == "תקבע לי מחר ב-12"
    call.reply(1, "קבעתי", seconds=0.4)
    call.frame(QUIET, 30)
    marks = call.session.turn_marks(call.session.turns[1])
    assert 150 <= marks["STT_FINAL_MS"] <= 200  # the hangover, on the stream clock
    assert marks["STT_FIRST_PARTIAL_MS"] >= 200  # first partial after MIN_UTT voiced
    assert marks["TURN_LATENCY_MS"] >= marks["STT_FINAL_MS"]
    assert marks["TOTAL_MS"] >= marks["TURN_LATENCY_MS"]


def test_short_noise_is_not_a_turn() -> None:
    call = Call(script=["x"])
    call.handle(call.session.begin())
    call.frame(TONE, 5)  # 100 ms < MIN_UTT_SEC
    call.frame(QUIET, 20)
    assert [t.turn.kind for t in call.turns] == ["greeting"]


def test_barge_in_sends_clear_and_drops_every_queued_frame() -> None:
    call = Call(script=["רגע, בעצם"])
    call.handle(call.session.begin())
    call.reply(0, "ארוך", seconds=5.0)
    call.frame(QUIET, 10)
    before = len(call.media_sent())
    call.frame(TONE, 8)  # 160 ms voiced > 120 ms barge-in threshold
    assert SendClear() in call.sent
    after_clear = call.sent[call.sent.index(SendClear()) + 1 :]
    call.frame(TONE, 10)
    assert not [a for a in after_clear if isinstance(a, SendMedia)]
    assert len(call.media_sent()) < before + 12
    assert call.session.turns[0].barged_in
    assert any("barge-in" in line for line in call.lines)


def test_no_barge_in_while_waiting_for_dtmf() -> None:
    call = Call()
    call.handle(call.session.begin())
    call.reply(0, "הקלידו את המספר וסיימו בסולמית", seconds=3.0, wants_dtmf=True)
    assert call.session.waiting_for_dtmf
    call.frame(QUIET, 5)
    call.frame(TONE, 20)
    assert SendClear() not in call.sent


@pytest.mark.parametrize(
    ("keys", "kind", "number"),
    [
        ("0501234567#", "dtmf_phone", "+972501234567"),
        ("0509*0501234567#", "dtmf_phone", "+972501234567"),  # * clears the buffer
        ("1234#", "dtmf_invalid", None),
    ],
)
def test_dtmf_capture(keys: str, kind: str, number: str | None) -> None:
    call = Call()
    call.handle(call.session.begin())
    call.reply(0, "הקלידו את המספר וסיימו בסולמית", seconds=0.5, wants_dtmf=True)
    call.frame(QUIET, 40)
    call.session.mark("turn-0")
    assert call.session.state is CallState.WAITING_FOR_DTMF
    for key in keys:
        call.handle(call.session.dtmf(key))
    assert call.turns[-1].turn.kind == kind
    assert call.session.caller_number == number
    if number:
        masked = number[:6] + "****" + number[-3:]
        assert f"INFO DTMF phone captured: {masked}, waiting_for_dtmf=false" in call.lines
        assert not any(number in line for line in call.lines)  # never the full number
        assert not call.session.waiting_for_dtmf
    else:
        assert not any("DTMF phone captured" in line for line in call.lines)


def test_a_full_send_queue_is_counted_and_loses_no_audio() -> None:
    call = Call()
    call.handle(call.session.begin())
    call.reply(0, "x", seconds=1.0)
    for _ in range(20):
        call.clock.advance(20)
        call.handle(call.session.tick(room=0))
    assert call.session.metrics["SEND_QUEUE_FULL"] > 0
    assert not call.media_sent()
    call.frame(QUIET, 60)
    assert len(call.media_sent()) == 50  # nothing dropped: sent once room came back


def test_goodbye_hangs_up_after_the_last_mark() -> None:
    call = Call()
    call.handle(call.session.begin())
    call.reply(0, "להתראות", seconds=0.3, end_call=True)
    call.frame(QUIET, 30)
    actions = call.session.mark("turn-0")
    assert [type(a).__name__ for a in actions] == ["Hangup"]
    assert call.session.ended


def test_silence_gets_a_nudge_turn() -> None:
    call = Call(silence_timeout_ms=2000)
    call.handle(call.session.begin())
    call.reply(0, "שלום", seconds=0.2)
    call.frame(QUIET, 20)
    call.session.mark("turn-0")
    call.frame(QUIET, 110)
    assert [t.turn.kind for t in call.turns] == ["greeting", "silence"]


def test_answering_a_dtmf_prompt_by_voice_turns_barge_in_back_on() -> None:
    call = Call(script=["לא תודה"])
    call.handle(call.session.begin())
    call.reply(0, "הקלידו את המספר וסיימו בסולמית", seconds=0.3, wants_dtmf=True)
    call.frame(QUIET, 30)
    call.session.mark("turn-0")
    call.frame(TONE, 20)
    call.frame(QUIET, 15)
    assert call.turns[-1].turn.kind == "speech"
    call.reply(1, "בסדר, מה עוד?", seconds=5.0)
    assert not call.session.waiting_for_dtmf
    call.frame(QUIET, 10)
    call.frame(TONE, 10)  # talking over the reply now stops it
    assert SendClear() in call.sent


def test_marks_respect_the_send_queue_room_and_are_never_lost() -> None:
    call = Call()
    call.handle(call.session.begin())
    call.reply(0, "שלום", seconds=0.1)
    for _ in range(20):
        call.clock.advance(20)
        actions = call.session.tick(room=1)
        assert len(actions) <= 1
        call.handle(actions)
    assert SendMark("turn-0") in call.sent
    call.session.mark("turn-0")
    assert call.session.state is CallState.LISTENING


def test_after_a_barge_in_the_goodbye_still_hangs_up() -> None:
    call = Call(script=["רגע", "ביי"])
    call.handle(call.session.begin())
    call.reply(0, "ארוך", seconds=3.0)
    call.frame(QUIET, 10)
    call.handle(call.session.tick())
    call.frame(TONE, 15)  # barge-in while turn-0's mark is pending
    assert SendClear() in call.sent
    call.frame(QUIET, 15)
    call.reply(1, "להתראות", seconds=0.2, end_call=True)
    call.frame(QUIET, 20)
    assert [type(a).__name__ for a in call.session.mark("turn-1")] == ["Hangup"]


def test_a_reply_with_no_audio_does_not_leave_the_call_thinking() -> None:
    call = Call(script=["משהו"])
    call.handle(call.session.begin())
    call.reply(0, "שלום", seconds=0.1)
    call.frame(QUIET, 10)
    call.session.mark("turn-0")
    call.frame(TONE, 20)
    call.frame(QUIET, 15)
    call.session.reply_text(1, AgentReply(""), {})
    call.session.reply_done(1)
    call.frame(QUIET, 2)
    call.session.mark("turn-1")
    assert call.session.state is CallState.LISTENING


def test_a_discarded_cough_re_arms_barge_in() -> None:
    call = Call(silence_timeout_ms=1000)
    call.handle(call.session.begin())
    call.reply(0, "ארוך", seconds=6.0)
    call.frame(QUIET, 10)
    call.frame(TONE, 8)  # 160 ms: stops the bot, but shorter than MIN_UTT_SEC
    call.frame(QUIET, 80)  # then silence long enough for a nudge turn
    assert call.sent.count(SendClear()) == 1
    assert call.turns[-1].turn.kind == "silence"
    call.reply(call.turns[-1].turn_index, "אתם עדיין שם? יש לי עוד הרבה לומר", seconds=5.0)
    call.frame(QUIET, 10)
    call.frame(TONE, 10)  # the next reply can be interrupted too
    assert call.sent.count(SendClear()) == 2


def test_first_partial_mark_is_never_negative() -> None:
    call = Call(script=["ארוך מאוד כאן", "שני"], min_utt_sec=0.5)
    call.handle(call.session.begin())
    call.reply(0, "שלום", seconds=0.1)
    call.frame(QUIET, 10)
    call.session.mark("turn-0")
    call.frame(TONE, 15)  # 300 ms: a partial, then discarded (< 500 ms)
    call.frame(QUIET, 30)
    call.frame(TONE, 40)
    call.frame(QUIET, 15)
    turn = call.session.turns[-1]
    assert turn.kind == "speech"
    assert call.session.turn_marks(turn)["STT_FIRST_PARTIAL_MS"] >= 0


def test_a_frame_that_is_not_20_ms_is_refused_without_harm() -> None:
    call = Call()
    call.handle(call.session.begin())
    with pytest.raises(ValueError, match="160 bytes"):
        call.session.media(b"\xff" * 100, 0)
    call.frame(QUIET, 3)


def test_a_sentence_pause_inside_one_utterance_makes_one_turn() -> None:
    from voicectl.speech.stt.script import ScriptLine

    call = Call()
    call.session._stt = ScriptSTTStream(
        [ScriptLine("שלום. אני רוצה תור", 1700)], call.session._stt_results.append
    )
    call.handle(call.session.begin())
    call.reply(0, "שלום", seconds=0.1)
    call.frame(QUIET, 10)
    call.session.mark("turn-0")
    call.frame(TONE, 40)
    call.frame(QUIET, 15)  # 300 ms pause: the VAD ends a segment
    call.frame(TONE, 45)
    call.frame(QUIET, 15)
    speech = [t for t in call.turns if t.turn.kind == "speech"]
    assert [t.turn.text for t in speech] == ["שלום. אני רוצה תור"]
    marks = call.session.turn_marks(call.session.turns[-1])
    assert marks["STT_FIRST_PARTIAL_MS"] < 400  # measured from the first segment's start


# -- issue 7: every input returns its actions; barge-in keeps what was heard; DTMF limits


def _speak_phrases(call: Call, index: int, text: str, seconds_per_phrase: float, **kw: object):
    """Feed a reply the way the runner does: `Speak` -> audio + mark per phrase -> done."""
    actions = call.session.reply_text(index, AgentReply(text, **kw), {})
    speak = [a for a in actions if isinstance(a, Speak)]
    assert speak, actions
    for k, _ in enumerate(speak[0].phrases):
        pcm = np.full(int(8000 * seconds_per_phrase), 3000, np.int16)
        assert call.session.reply_audio(index, pcm, k) == []
        assert call.session.phrase_done(index, k) == []
    assert call.session.reply_done(index) == []
    return speak[0]


def _echo_marks_sent(call: Call) -> None:
    """Twilio echoes every mark it was sent (the audio before it has played)."""
    for a in [a for a in call.sent if isinstance(a, SendMark)]:
        call.handle(call.session.mark(a.name))


def test_reply_text_answers_with_speak_phrases_and_each_phrase_gets_a_mark() -> None:
    call = Call()
    call.handle(call.session.begin())
    speak = _speak_phrases(call, 0, "שלום, הגעתם לספא. איך אפשר לעזור?", 0.2)
    assert speak.phrases == ("שלום,", "הגעתם לספא.", "איך אפשר לעזור?")
    call.frame(QUIET, 60)
    marks = [a.name for a in call.sent if isinstance(a, SendMark)]
    assert marks == ["turn-0.0", "turn-0.1", "turn-0.2", "turn-0"]


def test_barge_in_cancels_the_reply_and_keeps_only_what_was_heard() -> None:
    call = Call(script=["רגע"])
    call.handle(call.session.begin())
    _speak_phrases(call, 0, "משפט ראשון קצר. ועכשיו משפט שני ארוך עם הרבה מילים בתוכו.", 1.0)
    call.frame(QUIET, 60)  # 1.2 s: phrase 0 played (its mark echoed), phrase 1 under way
    call.handle(call.session.mark("turn-0.0"))
    call.frame(QUIET, 10)
    call.sent.clear()
    cancel: list[CancelReply] = []
    for _ in range(10):
        call.clock.advance(20)
        actions = call.session.media(TONE, call.ts)
        call.ts += 20
        cancel += [a for a in actions if isinstance(a, CancelReply)]
        call.handle(actions)
    assert SendClear() in call.sent
    assert len(cancel) == 1 and cancel[0].turn_index == 0
    heard = cancel[0].heard or ""
    assert heard.startswith("משפט ראשון קצר.")
    rest = heard[len("משפט ראשון קצר.") :].split()
    # About 0.4 s of the 1 s second phrase had played: some of its words, not all.
    assert 0 < len(rest) < len("ועכשיו משפט שני ארוך עם הרבה מילים בתוכו.".split())
    assert call.session.turns[0].barged_in


def test_a_newer_caller_turn_cancels_the_reply_still_being_produced() -> None:
    call = Call(script=["אחת", "שתיים"])
    call.handle(call.session.begin())
    call.reply(0, "שלום", seconds=0.1)
    call.frame(QUIET, 10)
    _echo_marks_sent(call)
    call.frame(TONE, 20)
    call.frame(QUIET, 15)  # turn 1 starts; its reply never comes
    call.sent.clear()
    call.frame(TONE, 20)
    actions: list[object] = []
    for _ in range(15):
        call.clock.advance(20)
        actions += call.session.media(QUIET, call.ts)
        call.ts += 20
    assert CancelReply(1, "") in actions
    assert [a.turn_index for a in actions if isinstance(a, RunTurn)] == [2]


def _dtmf_prompt(call: Call, index: int = 0) -> None:
    call.reply(index, "הקלידו את המספר וסיימו בסולמית", seconds=0.3, wants_dtmf=True)
    call.frame(QUIET, 30)
    _echo_marks_sent(call)
    assert call.session.state is CallState.WAITING_FOR_DTMF


def test_dtmf_inter_digit_timeout_reprompts_once_then_goes_on_without_a_phone() -> None:
    call = Call(dtmf_interdigit_timeout_ms=6000)
    call.handle(call.session.begin())
    _dtmf_prompt(call)
    for key in "050":
        call.handle(call.session.dtmf(key))
    call.frame(QUIET, 290)  # 5.8 s: not yet
    assert [t.turn.kind for t in call.turns] == ["greeting"]
    call.frame(QUIET, 15)
    assert call.turns[-1].turn.kind == "dtmf_timeout"
    assert any("re-prompt" in line for line in call.lines)
    _dtmf_prompt(call, call.turns[-1].turn_index)
    for key in "05":  # the buffer was cleared: these start a new number
        call.handle(call.session.dtmf(key))
    call.frame(QUIET, 305)
    assert call.turns[-1].turn.kind == "dtmf_skipped"
    assert not call.session.waiting_for_dtmf
    assert call.session.caller_number is None


def test_dtmf_inter_digit_timeout_is_configurable() -> None:
    call = Call(dtmf_interdigit_timeout_ms=2000)
    call.handle(call.session.begin())
    _dtmf_prompt(call)
    call.handle(call.session.dtmf("0"))
    call.frame(QUIET, 105)
    assert call.turns[-1].turn.kind == "dtmf_timeout"


def test_more_than_15_digits_asks_again_with_the_buffer_cleared() -> None:
    call = Call()
    call.handle(call.session.begin())
    _dtmf_prompt(call)
    for key in "0501234567890123":  # 16 digits: no E.164 number is that long
        call.handle(call.session.dtmf(key))
    assert call.turns[-1].turn.kind == "dtmf_invalid"
    assert any("more than 15 digits" in line for line in call.lines)
    for key in "0501234567#":  # a fresh buffer: the next number is read whole
        call.handle(call.session.dtmf(key))
    assert call.session.caller_number == "+972501234567"


def test_gather_mode_moves_the_call_once_the_prompt_has_played() -> None:
    call = Call(dtmf_mode="gather")
    call.handle(call.session.begin())
    call.reply(0, "הקלידו את המספר וסיימו בסולמית", seconds=0.3, wants_dtmf=True)
    call.frame(QUIET, 30)
    actions: list[object] = []
    for a in [a for a in call.sent if isinstance(a, SendMark)]:
        actions += call.session.mark(a.name)
    assert actions == [AskPhoneByGather(0)]
    assert not call.session.ended  # the call goes on in the Gather


def test_a_resumed_stream_continues_the_numbering_without_a_greeting() -> None:
    call = Call()
    call.session.first_turn = 4
    actions = call.session.begin(resume=TurnInput("dtmf_phone", "+972501234567"))
    assert actions == [RunTurn(4, TurnInput("dtmf_phone", "+972501234567"))]
    call.reply(4, "תודה, המספר נשמר.", seconds=0.2)
    call.frame(QUIET, 20)
    assert SendMark("turn-4") in call.sent
    assert call.session.record()["turns"][0]["index"] == 4


def test_stop_ends_the_stream_once() -> None:
    call = Call()
    call.handle(call.session.begin())
    assert call.session.stop("caller hung up") == [CancelReply(0)]
    assert call.session.stop("again") == []
    assert call.session.end_reason == "caller hung up"


# -- end of turn: an unfinished sentence is not ended by a pause (issue 11) --------------


def _pause_call(extra_ms: int, line: str) -> Call:
    call = Call(script=[line], end_of_turn_extra_ms=extra_ms)
    call.handle(call.session.begin())
    call.reply(0, "שלום", seconds=0.2)
    call.frame(QUIET, 20)
    call.session.mark("turn-0")
    return call


@pytest.mark.parametrize("extra_ms", [600, 0])
def test_a_pause_after_a_dangling_word_is_not_the_end_of_the_turn(extra_ms: int) -> None:
    """A real recogniser's final comes at each endpoint (no script length here): with the
    end-of-turn wait the pause after "ביום" does not end the turn; without it, it does."""
    call = _pause_call(extra_ms, "יש לכם מקום ביום… שלישי בשתיים?")
    call.frame(TONE, 60)  # "יש לכם מקום ביום" (1.2 s)
    call.frame(QUIET, 25)  # a 500 ms pause: more than the 160 ms hangover
    answered_at_pause = len(call.turns) > 1
    call.frame(TONE, 50)  # "שלישי בשתיים?"
    call.frame(QUIET, 50)  # the end: 1 s of silence
    if extra_ms:
        assert not answered_at_pause
        assert [t.turn.text for t in call.turns[1:]] == ["יש לכם מקום ביום שלישי בשתיים?"]
    else:
        assert answered_at_pause  # the behaviour the extension removes


def test_a_complete_sentence_ends_after_the_normal_hangover() -> None:
    """No transcript-driven wait for a finished sentence: the turn starts 160 ms after the
    speech, as without the extension (V2V does not grow)."""
    call = _pause_call(600, "יש לכם מקום מחר בשתיים?")
    call.frame(TONE, 60)
    call.frame(QUIET, 10)  # 200 ms > the 160 ms hangover
    assert [t.turn.text for t in call.turns[1:]] == ["יש לכם מקום מחר בשתיים?"]


# -- speculative endpointing (issue 12, "Voice-to-voice floor"): reply at the short
# hangover, take the turn back if the caller goes on within the resume window


def _listening(call: Call) -> None:
    call.handle(call.session.begin())
    call.reply(0, "שלום", seconds=0.1)
    call.frame(QUIET, 10)
    _echo_marks_sent(call)


def test_a_clause_pause_at_hangover_120_gives_one_committed_turn_with_the_whole_text() -> None:
    whole = "אפשר שוודי ביום ראשון בעשר, לא, ביום שני"
    call = Call(script=[whole], vad_hangover_ms=120, turn_resume_window_ms=260)
    _listening(call)
    call.frame(TONE, 30)  # 600 ms of speech
    start_of_speech = call.clock.now_ms() - 600
    call.frame(QUIET, 7)  # 140 ms: past the 120 ms hangover, inside the resume window
    speculative = [t for t in call.turns if t.turn.kind == "speech"]
    assert len(speculative) == 1 and speculative[0].speculative  # the reply starts now
    first = speculative[0].turn_index
    call.reply(first, "קבעתי לכם ביום ראשון", seconds=1.0)
    call.frame(QUIET, 1)  # 160 ms pause in all; the early reply's first frames go out
    assert call.media_sent()
    call.sent.clear()
    call.frame(TONE, 20)  # the caller goes on
    assert SendClear() in call.sent  # the caller heard at most a few tens of ms of it
    assert TakeBack(first) in call.sent
    assert not [a for a in call.sent if isinstance(a, CancelReply)]  # not a barge-in
    assert not any("barge-in" in line for line in call.lines)
    end_of_speech = call.clock.now_ms()
    call.frame(QUIET, 20)  # 400 ms: the real end, and the resume window passes
    speech = [t for t in call.turns if t.turn.kind == "speech"]
    assert [t.turn.text for t in speech] == [whole, whole]  # the script's line, whole
    merged = speech[1]
    assert merged.turn_index == first + 1 and merged.speculative
    assert CommitTurn(merged.turn_index) in call.sent
    assert CommitTurn(first) not in call.sent
    # The record: one caller turn with the whole text; the taken-back one apart.
    rec = call.session.record()
    assert [t["user_text"] for t in rec["turns"] if t["kind"] == "speech"] == [whole]
    assert [t["index"] for t in rec["taken_back"]] == [first]
    assert sum("taken back" in line for line in call.lines) == 1
    assert any(f"INFO turn {first} taken back" in line for line in call.lines)
    # Its marks are measured from the real end of the whole utterance.
    times = call.session.turns[-1].times
    assert times.anchor is not None and abs(times.anchor - end_of_speech) <= 20
    assert times.speech_start is not None and abs(times.speech_start - start_of_speech) <= 20
    call.reply(merged.turn_index, "קבעתי לכם ביום שני", seconds=0.3)
    call.frame(QUIET, 30)
    marks = call.session.turn_marks(call.session.turns[-1])
    assert marks["STT_FINAL_MS"] < 160
    assert marks["STT_FIRST_PARTIAL_MS"] < 400  # the first part's partial, not the rest's


def test_a_real_end_gets_its_turn_at_the_short_hangover_and_commits_after_the_window() -> None:
    call = Call(script=["תקבע לי מחר ב-12"], vad_hangover_ms=120, turn_resume_window_ms=260)
    _listening(call)
    call.frame(TONE, 30)
    end = call.clock.now_ms()
    at = None
    for _ in range(20):
        call.frame(QUIET, 1)
        if at is None and len(call.turns) == 2:
            at = call.clock.now_ms()
            assert call.turns[1].speculative
            assert not [a for a in call.sent if isinstance(a, CommitTurn)]
    assert at is not None and 120 <= at - end <= 140  # the hangover, not the window
    assert call.sent.count(CommitTurn(1)) == 1
    assert not [a for a in call.sent if isinstance(a, TakeBack)]
    assert not call.session.record()["taken_back"]


def test_a_pause_longer_than_the_window_is_two_turns() -> None:
    call = Call(script=["אחת", "שתיים"], vad_hangover_ms=120, turn_resume_window_ms=260)
    _listening(call)
    call.frame(TONE, 20)
    call.frame(QUIET, 15)  # 300 ms > the window: committed
    assert CommitTurn(1) in call.sent
    call.frame(TONE, 20)
    call.frame(QUIET, 15)
    assert [t.turn.text for t in call.turns[1:]] == ["אחת", "שתיים"]
    assert not [a for a in call.sent if isinstance(a, TakeBack)]


def test_a_window_no_longer_than_the_hangover_turns_speculation_off() -> None:
    call = Call(script=["אחת"], vad_hangover_ms=260, turn_resume_window_ms=260)
    _listening(call)
    call.frame(TONE, 20)
    call.frame(QUIET, 20)
    assert [t.speculative for t in call.turns] == [False, False]
    assert not [a for a in call.sent if isinstance(a, CommitTurn | TakeBack)]


def test_a_short_rest_of_a_resumed_utterance_is_not_discarded() -> None:
    """The rest after the pause ("... בשתיים") may be shorter than MIN_UTT: it is part
    of a kept utterance, so the whole still becomes the turn."""
    call = Call(script=["מחר בשתיים"], vad_hangover_ms=120, turn_resume_window_ms=260)
    _listening(call)
    call.frame(TONE, 20)
    call.frame(QUIET, 8)
    assert len(call.turns) == 2
    call.frame(TONE, 5)  # 100 ms < MIN_UTT_SEC
    call.frame(QUIET, 20)
    assert TakeBack(1) in call.sent
    assert [t.turn.text for t in call.turns[1:]] == ["מחר בשתיים", "מחר בשתיים"]
    assert CommitTurn(2) in call.sent


def test_barge_in_over_a_committed_reply_still_cuts_it_into_the_history() -> None:
    call = Call(script=["אחת", "רגע"], vad_hangover_ms=120, turn_resume_window_ms=260)
    _listening(call)
    call.frame(TONE, 20)
    call.frame(QUIET, 15)  # committed
    call.reply(1, "תשובה ארוכה מאוד עם הרבה מילים", seconds=5.0)
    call.frame(QUIET, 20)
    call.sent.clear()
    call.frame(TONE, 10)  # 1.3 s after the end: a barge-in, not a resumption
    assert SendClear() in call.sent
    assert [a.turn_index for a in call.sent if isinstance(a, CancelReply)] == [1]
    assert not [a for a in call.sent if isinstance(a, TakeBack)]
    assert call.session.turns[1].barged_in and not call.session.turns[1].taken_back


def test_a_stop_inside_the_window_commits_the_speculative_turn() -> None:
    call = Call(script=["אחת"], vad_hangover_ms=120, turn_resume_window_ms=260)
    _listening(call)
    call.frame(TONE, 20)
    call.frame(QUIET, 7)
    assert call.turns[1].speculative
    assert CommitTurn(1) in call.session.stop()


# -- speculative endpointing through the real runner, offline agent, `BookingTools` and
# SQLite: a turn the caller's resumption takes back never books (its hold is released),
# and the conversation forgets it (more on holds: tests/test_call_holds.py). The waits
# below only bound how long the test waits for worker threads.

FIRST_HALF = "אפשר שוודי ביום ראשון בעשר בבוקר, השם דני"
REST = "לא, ביום שני"
NOW = datetime(2026, 11, 19, 10, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))  # Thursday


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
        db, "demo-spa", lambda: NOW, call_sid="CA1", session=session, commit_gate=gate
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
        # It finds the slot and holds it at once (a hold is not a booking).
        await _until(lambda: any(t.tool == "create_appointment" for t in tools.traces), "hold")
        assert [a["status"] for a in list_appointments(db, "demo-spa", "CA1")] == ["held"]
        frames(TONE, 15)  # the caller goes on 140 ms after the end: taken back
        frames(QUIET, 20)  # the real end; the window passes: the whole turn commits
        await _until(lambda: len(session.turns) == 3 and bool(session.turns[2].bot_text), "reply")
        await _until(lambda: gate.pending() == 0, "the holds settled")
        await runner.finish("test", ended_by="stop")

    asyncio.run(go())
    booked = list_appointments(db, "demo-spa", "CA1")
    # One booking, from the whole utterance (Monday), none from its first half (Sunday).
    assert [a["start_iso"] for a in booked] == ["2026-11-23T10:00:00+02:00"], booked
    creates = [(t.ok, t.error) for t in tools.traces if t.tool == "create_appointment"]
    assert creates == [(True, None), (True, None)]  # the first half's hold, released
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
