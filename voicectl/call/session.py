"""`CallSession`: one phone call (one media stream of it) as a sans-I/O state machine.

Events in (all stamped by the injected clock): `begin`, `media`, `dtmf`, `mark`, `stop`,
`tick` (every ~20 ms), the reply pipeline's `reply_phrase` / `reply_text` / `reply_audio` /
`phrase_done` / `reply_done` / `reply_failed`, and the adapter's `queue_depth` /
`queue_full`. Every input returns the actions it causes (`voicectl.call.actions`):
`SendMedia`, `SendMark`, `SendClear`, `RunTurn`, `Speak`, `CancelReply`,
`AskPhoneByGather`, `Hangup`. The session owns no socket and reads no wall clock, and its
driver reads nothing but those actions (the h11/wsproto pattern), so the Twilio bridge,
the simulator and tests drive the very same code.

States (DESIGN.md): GREETING -> LISTENING <-> THINKING -> SPEAKING -> LISTENING |
WAITING_FOR_DTMF -> ... -> ENDED. Rules it enforces:
- barge-in (caller speech over bot audio) sends `clear` and drops every queued frame in the
  same tick (DESIGN lessons: Pipecat #3077, Vocode #477), cancels the reply being produced
  and cuts the reply to what was heard (phrases whose marks were echoed, plus the played
  part of the current phrase); it is OFF while `waiting_for_dtmf` (seed 000 item 2);
- outbound audio is paced: 20 ms frames, `playback_lead_ms` ahead of the modelled playback
  position (seed 001 item 3, seed 002 E.1); a frame goes out once the lead has fallen half
  a frame below it, so a tick up to 10 ms early or late still sends exactly one frame (a
  threshold at the lead itself made a late tick send two frames and the next one none:
  40 ms between frames at the caller's side);
- "played" is known only from echoed marks (DESIGN lessons: Pipecat #5662): a mark
  `turn-<n>.<k>` follows every phrase, `turn-<n>` the whole reply;
- DTMF: an inter-digit timeout clears the buffer and re-prompts once, then the call goes
  on without a phone; more than 15 digits or digits that do not normalise ask once more;
- speculative endpointing (docs/vad.md): an utterance ends *tentatively* at the hangover
  and its turn runs at once (`RunTurn(speculative=True)`), so the reply starts at the
  floor. Speech that starts again within `turn_resume_window_ms` of its end continues the
  utterance (`voicectl.audio.endpointing.resumes`): the turn is taken back (`TakeBack`:
  its audio cleared, the conversation rolled back as if it never happened - not cut into
  the history as a barge-in is), the recogniser is told to go on (`utterance_resume`),
  and ONE turn runs on the whole utterance, its marks measured from the end of the
  whole. Once the window has passed in silence the turn is committed (`CommitTurn`):
  only then may it run a side-effecting tool (the runner's `CommitGate`).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicectl.agent.base import AgentReply, TurnInput
from voicectl.audio.endpointing import Endpointer, SpeechEnd, SpeechStart, resumes
from voicectl.audio.frames import FRAME_BYTES, FRAME_MS, FRAME_SAMPLES
from voicectl.audio.g711 import ulaw_decode, ulaw_encode
from voicectl.audio.vad import VAD
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
from voicectl.call.dtmf import DtmfCollector
from voicectl.call.marks import TurnTimes
from voicectl.clock import Clock
from voicectl.config import Settings
from voicectl.hebrew.endofturn import looks_unfinished
from voicectl.logs import get_logger
from voicectl.speech.phrases import split_phrases
from voicectl.speech.stt.base import STTResult, STTStream

_log = get_logger("call")

MARK_PREFIX = "turn-"


class CallState(enum.Enum):
    """Where the call is (DESIGN.md: states of a call)."""

    GREETING = "GREETING"
    LISTENING = "LISTENING"
    THINKING = "THINKING"
    SPEAKING = "SPEAKING"
    WAITING_FOR_DTMF = "WAITING_FOR_DTMF"
    ENDED = "ENDED"


@dataclass
class Phrase:
    """One synthesized phrase of a reply: its text, audio queued (ms), and whether its
    mark came back (the caller heard all of it)."""

    text: str
    audio_ms: float = 0.0
    heard: bool = False


@dataclass
class Turn:
    """One exchange: what started it, what the bot answered, and its timings."""

    index: int
    kind: str
    user_text: str = ""
    bot_text: str = ""
    times: TurnTimes = field(default_factory=TurnTimes)
    barged_in: bool = False
    superseded: bool = False
    wants_dtmf: bool = False
    end_call: bool = False
    tool_ms: dict[str, float] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)
    audio_done: bool = False
    phrases: list[Phrase] = field(default_factory=list)
    heard_text: str | None = None  # set when the reply was cut by a barge-in
    streamed: bool = False  # the reply came sentence by sentence (`reply_phrase`)
    speculative: bool = False  # its utterance's resume window has not passed yet
    taken_back: bool = False  # the caller went on: this turn never happened

    @property
    def cancelled(self) -> bool:
        return self.superseded or self.barged_in or self.taken_back


@dataclass
class _TentativeEnd:
    """A kept utterance whose resume window has not passed: `speech_end_ms` (stream ms)
    and its clock time, the window (ms), and the speculative turn it started, if any
    (with `waiting_for_dtmf` as it was before that turn, restored if it is taken back)."""

    speech_end_ms: int
    end_clock: float | None
    window_ms: int
    turn: int | None = None
    waiting_for_dtmf: bool = False
    first_partial: float | None = None  # of the utterance so far (clock ms)


def mark_name(turn_index: int, phrase: int | None = None) -> str:
    """The mark after a turn's last frame (`turn-<index>`) or after one of its phrases
    (`turn-<index>.<phrase>`)."""
    base = f"{MARK_PREFIX}{turn_index}"
    return base if phrase is None else f"{base}.{phrase}"


def turn_of_mark(name: str) -> int | None:
    """Inverse of `mark_name` for whole-turn marks; None for phrase marks and for marks
    this project did not send."""
    if name.startswith(MARK_PREFIX) and name[len(MARK_PREFIX) :].isdigit():
        return int(name[len(MARK_PREFIX) :])
    return None


def phrase_of_mark(name: str) -> tuple[int, int] | None:
    """`turn-3.1` -> (3, 1); None for anything else."""
    if not name.startswith(MARK_PREFIX):
        return None
    turn, _, phrase = name[len(MARK_PREFIX) :].partition(".")
    if turn.isdigit() and phrase.isdigit():
        return int(turn), int(phrase)
    return None


class CallSession:
    """The per-call state machine (see the module docstring).

    Args:
        clock: monotonic ms.
        settings: knobs (hangover, min utterance, barge-in, pacing, timeouts, dtmf_mode).
        vad: a fresh VAD for this call.
        open_stt: called once with the result callback; returns this call's STT stream.
        normalize_phone: DTMF digits -> E.164 or None.
        call_sid, stream_sid, business_id: identity of the call.
        caller_number: Twilio caller id (or a number typed earlier in the call) in E.164,
            or None when withheld. The session is the one holder of this fact: tools and
            the agent read it from here.
        log: called as `log(level, message)` for every call log line (INFO and above).
        first_turn: index of this stream's first turn; a call resumed after a `<Gather>`
            continues the numbering of the streams before it.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        settings: Settings,
        vad: VAD,
        open_stt: Callable[[Callable[[STTResult], None]], STTStream],
        normalize_phone: Callable[[str], str | None],
        call_sid: str,
        stream_sid: str,
        business_id: str,
        caller_number: str | None = None,
        log: Callable[[str, str], None] | None = None,
        first_turn: int = 0,
    ) -> None:
        self.clock = clock
        self.settings = settings
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.business_id = business_id
        self.caller_number = caller_number
        self.state = CallState.GREETING
        self.waiting_for_dtmf = False
        self.turns: list[Turn] = []
        self.first_turn = first_turn
        self.errors: list[str] = []
        self.metrics: dict[str, float] = {"QUEUE_MAX_DEPTH": 0, "SEND_QUEUE_FULL": 0}
        self.end_reason: str | None = None
        self._log_sink = log
        self._endpointer = Endpointer(
            vad, hangover_ms=settings.vad_hangover_ms, min_utt_ms=settings.min_utt_ms
        )
        self._stt_results: list[STTResult] = []
        self._stt = open_stt(self._stt_results.append)
        self._dtmf = DtmfCollector(normalize_phone)
        self._dtmf_timeouts = 0  # inter-digit timeouts so far (1 -> re-prompt, 2 -> skip)
        self._last_key_ms: float | None = None
        # Outbound, in order: (turn, frame bytes, phrase) or (turn, None, mark name).
        self._outbox: deque[tuple[int, bytes | None, Any]] = deque()
        self._pcm_tail: dict[int, np.ndarray] = {}
        self._buffer_end_ms = 0.0  # modelled end of playback of everything sent so far
        self._pending_marks: set[str] = set()
        self._thinking: int | None = None  # turn whose reply is being produced
        self._utterance_start_clock: float | None = None
        self._pending_utterance: tuple[float | None, float | None] = (None, None)
        self._first_partial_at: float | None = None
        self._awaiting_final = False  # a kept utterance ended; its final has not come yet
        self._last_frame_end_ts = 0
        self._last_activity_ms = clock.now_ms()
        self._barge_in_armed = True
        self._tentative: _TentativeEnd | None = None
        self._resumed = False  # the utterance in speech continues a tentative end
        self._hangup_after: int | None = None
        self._gather_after: int | None = None

    # ------------------------------------------------------------------ helpers
    def log(self, level: str, message: str) -> None:
        """Write one call log line (`level` is "INFO", "WARNING" or "ERROR")."""
        if level == "ERROR":
            self.errors.append(message)
        _log.log(_LEVELS[level], "[%s] %s", self.call_sid, message)
        if self._log_sink is not None:
            self._log_sink(level, message)

    @property
    def bot_audible(self) -> bool:
        """True while bot audio is queued, in flight, or not yet confirmed played."""
        if self._outbox or self._pending_marks:
            return True
        t = self._turn(self._thinking) if self._thinking is not None else None
        return t is not None and t.times.first_frame is not None

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    @property
    def next_turn(self) -> int:
        """The index the next turn of this call will get."""
        return self.first_turn + len(self.turns)

    def _turn(self, index: int) -> Turn | None:
        i = index - self.first_turn
        return self.turns[i] if 0 <= i < len(self.turns) else None

    def _new_turn(self, turn: TurnInput, speculative: bool = False) -> list[Action]:
        actions: list[Action] = []
        if self._thinking is not None:
            old = self._turn(self._thinking)
            if old is not None:
                old.superseded = True
                self.log("INFO", f"turn {old.index} superseded by a newer caller turn")
                actions.append(self._cancel(old))
        t = Turn(index=self.next_turn, kind=turn.kind, user_text=turn.text)
        t.speculative = speculative
        self.turns.append(t)
        self._thinking = t.index
        if self.state is not CallState.GREETING:
            self.state = CallState.THINKING
        actions.append(RunTurn(t.index, turn, speculative=speculative))
        return actions

    def _cancel(self, t: Turn) -> CancelReply:
        """Cancel `t`'s reply; what the caller heard of it is cut into the history."""
        heard = self._heard_text(t)
        t.heard_text = heard
        return CancelReply(t.index, heard)

    def _heard_text(self, t: Turn) -> str:
        """The part of `t`'s reply the caller heard: every phrase whose mark was echoed,
        then the words of the current phrase in proportion to its audio that played
        (estimated from the playback model: sent minus still buffered)."""
        now = self.clock.now_ms()
        in_flight = max(0.0, self._buffer_end_ms - now)
        queued = sum(FRAME_MS for i, f, _ in self._outbox if i == t.index and f is not None)
        sent_ms = sum(p.audio_ms for p in t.phrases) - queued
        played_ms = max(0.0, sent_ms - in_flight)
        words: list[str] = []
        for p in t.phrases:
            if p.heard:
                words.append(p.text)
                played_ms -= p.audio_ms
                continue
            if played_ms > 0 and p.audio_ms > 0:
                part = p.text.split()
                n = int(len(part) * min(1.0, played_ms / p.audio_ms))
                if n:
                    words.append(" ".join(part[:n]))
            break
        return " ".join(words)

    # ------------------------------------------------------------------ events
    def begin(self, resume: TurnInput | None = None) -> list[Action]:
        """The stream started: produce the greeting, or - for a call resumed after a
        `<Gather>` - answer `resume` (e.g. the typed number) without greeting again."""
        how = "resumed" if resume is not None else "started"
        self.log(
            "INFO",
            f"call {how} business={self.business_id} caller="
            f"{_masked(self.caller_number)} stream={self.stream_sid}",
        )
        if resume is not None and resume.kind == "dtmf_phone":
            masked = _masked(resume.text)
            self.log("INFO", f"DTMF phone captured: {masked}, waiting_for_dtmf=false (Gather)")
        t = Turn(
            index=self.next_turn,
            kind=resume.kind if resume else "greeting",
            user_text=resume.text if resume else "",
        )
        t.times.anchor = self.clock.now_ms()
        self.turns.append(t)
        self._thinking = t.index
        return [RunTurn(t.index, resume or TurnInput("greeting"))]

    def media(self, payload: bytes, ts_ms: int) -> list[Action]:
        """One inbound frame of caller audio (μ-law) at stream time `ts_ms` (ms).

        Raises:
            ValueError: the frame is not 160 bytes, or its timestamp goes backwards; the
                session is unchanged (the adapter logs it and the call goes on).
        """
        if self.ended:
            return []
        if len(payload) != FRAME_BYTES or ts_ms < self._last_frame_end_ts - FRAME_MS:
            raise ValueError(
                f"media frame of {len(payload)} bytes at {ts_ms} ms (expected 160 bytes, "
                f"stream time not going backwards)"
            )
        now = self.clock.now_ms()
        pcm = ulaw_decode(payload)
        frame_ms = len(pcm) * 1000 // 8000
        self._last_frame_end_ts = ts_ms + frame_ms
        # Transcripts that came in before this frame first: a resumption in it takes back
        # the turn they start.
        actions: list[Action] = self._drain_stt(now)
        for ev in self._endpointer.push(pcm, ts_ms):
            if isinstance(ev, SpeechStart):
                tent = self._tentative
                if tent is not None and resumes(tent.speech_end_ms, ev.ts_ms, tent.window_ms):
                    actions += self._resume(tent, ev.ts_ms, now)
                else:
                    actions += self._commit()
                    if not self._awaiting_final:  # else: the rest of a paused utterance
                        self._utterance_start_clock = self._clock_of(ev.ts_ms, now)
                        self._first_partial_at = None
                    self._stt.utterance_start(ev.ts_ms)
                self._last_activity_ms = now
            elif isinstance(ev, SpeechEnd):
                self._speech_end(ev, now)
        if self._endpointer.in_speech:
            self._stt.feed(pcm, ts_ms)
            self._last_activity_ms = now
            actions += self._maybe_barge_in(now)
        actions += self._drain_stt(now)
        tent = self._tentative
        if tent is not None and self._last_frame_end_ts > tent.speech_end_ms + tent.window_ms:
            actions += self._maybe_commit()
        return actions

    # ------------------------------------------------------------------ speculation
    def _maybe_commit(self) -> list[Action]:
        """Commit the tentative end once no speech that could resume it is under way."""
        if self._endpointer.in_speech or self._endpointer.starting:
            return []
        return self._commit()

    def _commit(self) -> list[Action]:
        """The tentative end is final: its speculative turn (if it started one) is real."""
        tent, self._tentative = self._tentative, None
        t = self._turn(tent.turn) if tent is not None and tent.turn is not None else None
        if t is None or t.taken_back:
            return []
        t.speculative = False
        return [CommitTurn(t.index)]

    def _resume(self, tent: _TentativeEnd, start_ms: int, now: float) -> list[Action]:
        """Speech started `start_ms - speech_end_ms` after a tentative end, within its
        window: the same utterance goes on. The recogniser keeps it as one; the turn the
        tentative end started, if any, is taken back."""
        self._tentative = None
        self._resumed = True
        self._awaiting_final = True  # the final of the whole utterance
        if self._first_partial_at is None:  # the first part's final took it
            self._first_partial_at = tent.first_partial
        self._stt.utterance_resume(start_ms)
        if tent.turn is None:
            return []
        t = self._turn(tent.turn)
        if t is None or t.taken_back:
            return []
        gap = start_ms - tent.speech_end_ms
        return self._take_back(t, gap, tent, now)

    def _take_back(self, t: Turn, gap: int, tent: _TentativeEnd, now: float) -> list[Action]:
        t.taken_back, t.speculative = True, False
        played = t.times.first_frame is not None
        actions: list[Action] = []
        if played:
            # A few tens of ms may have gone out: stop them at the caller's side too.
            actions.append(SendClear())
            self._buffer_end_ms = now
        self._outbox = deque(x for x in self._outbox if x[0] != t.index)
        self._pcm_tail.pop(t.index, None)
        base = mark_name(t.index)
        self._pending_marks = {
            m for m in self._pending_marks if m != base and not m.startswith(base + ".")
        }
        if self._thinking == t.index:
            self._thinking = None
        if self._hangup_after == t.index:
            self._hangup_after = None
        if self._gather_after == t.index:
            self._gather_after = None
        self.waiting_for_dtmf = tent.waiting_for_dtmf
        if self.state in (CallState.THINKING, CallState.SPEAKING):
            self.state = (
                CallState.WAITING_FOR_DTMF if self.waiting_for_dtmf else CallState.LISTENING
            )
        how = "its first audio was cleared" if played else "nothing of it was played"
        self.log(
            "INFO",
            f"turn {t.index} taken back: the caller went on after a {gap} ms pause (resume "
            f"window {tent.window_ms} ms); {how}; one turn runs on the whole utterance",
        )
        actions.append(TakeBack(t.index))
        return actions

    def _maybe_barge_in(self, now: float) -> list[Action]:
        if not (self._barge_in_armed and self.bot_audible) or self.waiting_for_dtmf:
            return []
        if self._endpointer.voiced_ms_in_current < self.settings.barge_in_min_ms:
            return []
        self._barge_in_armed = False
        dropped = sum(1 for _, f, _ in self._outbox if f is not None)
        hit = {i for i, _, _ in self._outbox} | {
            i for i in (turn_of_mark(m) for m in self._pending_marks) if i is not None
        }
        if self._thinking is not None:
            # The reply being produced is for what the caller is now talking over.
            hit.add(self._thinking)
        actions: list[Action] = [SendClear()]
        for idx in sorted(hit):
            t = self._turn(idx)
            if t is None:
                continue
            t.barged_in = True
            actions.append(self._cancel(t))
            if t.heard_text is not None and t.bot_text:
                self.log("INFO", f"turn {idx} cut by barge-in; caller heard {t.heard_text!r}")
        self._outbox.clear()
        self._pcm_tail.clear()
        self._pending_marks.clear()  # `clear` echoes them all; late echoes are harmless
        self._thinking = None
        self._buffer_end_ms = now
        self._hangup_after = None
        self._gather_after = None
        self.state = CallState.LISTENING
        self.log(
            "INFO", f"barge-in: caller spoke over the bot; clear sent, {dropped} frames dropped"
        )
        return actions

    def _end_of_turn_hint(self, partial: str) -> None:
        """Wait `end_of_turn_extra_ms` more silence (after the resume window: no early
        reply) before ending an utterance whose words so far are plainly unfinished (a
        dangling "ב", an open number, "רציתי לשאול"); the next partial, or the end of
        the utterance, sets it back."""
        s = self.settings
        unfinished = looks_unfinished(partial)
        self._endpointer.hangover_ms = s.unfinished_hangover_ms if unfinished else s.vad_hangover_ms

    def _speech_end(self, ev: SpeechEnd, now: float) -> None:
        hangover = self._endpointer.hangover_ms
        self._endpointer.hangover_ms = self.settings.vad_hangover_ms
        # The rest of a resumed utterance is never "too short": its first part was kept.
        resumed, self._resumed = self._resumed, False
        discarded = ev.discarded and not resumed
        self._stt.utterance_end(ev.speech_end_ms, discarded)
        self._barge_in_armed = True
        if discarded:
            return
        self._awaiting_final = True
        t_end = self._clock_of(ev.speech_end_ms, now)
        self._pending_utterance = (self._utterance_start_clock, t_end)
        window = self.settings.turn_resume_window_ms
        if window > hangover:  # else the hangover itself already waited that long
            self._tentative = _TentativeEnd(ev.speech_end_ms, t_end, window)

    def _drain_stt(self, now: float) -> list[Action]:
        if not self._stt_results:  # the common case, twice per frame: allocate nothing
            return []
        actions: list[Action] = []
        results, self._stt_results[:] = list(self._stt_results), []
        for r in results:
            if not r.is_final:
                if self._first_partial_at is None:
                    self._first_partial_at = now
                self._end_of_turn_hint(r.text)
                continue
            start_clock, end_clock = self._pending_utterance
            partial_at, self._first_partial_at = self._first_partial_at, None
            self._awaiting_final = False
            if self.waiting_for_dtmf and self.bot_audible:
                self.log("INFO", f"speech ignored while the DTMF prompt plays: {r.text!r}")
                continue
            tent = self._tentative
            self.log("INFO", f"caller said: {r.text!r}")
            if tent is not None:
                tent.turn, tent.waiting_for_dtmf = self.next_turn, self.waiting_for_dtmf
            actions += self._new_turn(TurnInput("speech", r.text), speculative=tent is not None)
            t = self.turns[-1]
            t.times.speech_start = start_clock
            t.times.anchor = end_clock
            t.times.first_partial = partial_at
            if tent is not None:
                tent.first_partial = partial_at
            t.times.final = now
        return actions

    def _clock_of(self, ts_ms: int | None, now: float) -> float | None:
        """Map a stream timestamp to the clock: frames arrive in real time, so a frame
        that ended `d` ms of stream time before the newest one ended `d` ms ago."""
        if ts_ms is None:
            return None
        return now - (self._last_frame_end_ts - ts_ms)

    def dtmf(self, digit: str) -> list[Action]:
        """One key press (`0-9`, `*`, `#`) from Twilio's `dtmf` event."""
        if self.ended:
            return []
        now = self.clock.now_ms()
        self._last_activity_ms = now
        self._last_key_ms = now
        commit = self._dtmf.press(digit)
        if commit is None:
            return []
        self._last_key_ms = None
        if commit.number is None:
            why = (
                f"more than {commit.max_digits} digits"
                if commit.too_long
                else f"did not form a phone number ({len(commit.digits)} digits)"
            )
            self.log("INFO", f"DTMF digits {why}; buffer cleared")
            actions = self._new_turn(TurnInput("dtmf_invalid", commit.digits))
        else:
            self.caller_number = commit.number
            self.waiting_for_dtmf = False
            self._dtmf_timeouts = 0
            self.log(
                "INFO",
                # The seed's line, with the number masked like every log line (DESIGN.md
                # conventions); the full number is stored on the call, not logged.
                f"DTMF phone captured: {_masked(commit.number)}, waiting_for_dtmf=false",
            )
            actions = self._new_turn(TurnInput("dtmf_phone", commit.number))
        self.turns[-1].times.anchor = now
        return actions

    def mark(self, name: str) -> list[Action]:
        """Twilio echoed a mark: everything sent before it has played (or was cleared)."""
        if name not in self._pending_marks:
            return []  # a late echo of a cleared mark, or a mark we never sent
        self._pending_marks.discard(name)
        phrase = phrase_of_mark(name)
        if phrase is not None:
            t = self._turn(phrase[0])
            if t is not None and phrase[1] < len(t.phrases):
                t.phrases[phrase[1]].heard = True
            return []
        idx = turn_of_mark(name)
        t = self._turn(idx) if idx is not None else None
        if t is None or self.ended:
            return []
        t.times.played = self.clock.now_ms()
        self._last_activity_ms = t.times.played
        if self.bot_audible:
            return []
        if self._hangup_after == idx:
            self.stop("bot ended the call")
            return [Hangup("bot ended the call")]
        if self._gather_after == idx:
            self._gather_after = None
            self.log("INFO", "DTMF prompt played; moving the call to <Gather> (dtmf_mode=gather)")
            return [AskPhoneByGather(idx)]
        if self.state in (CallState.SPEAKING, CallState.GREETING) or (
            self.state is CallState.THINKING and self._thinking is None
        ):
            self.state = (
                CallState.WAITING_FOR_DTMF if self.waiting_for_dtmf else CallState.LISTENING
            )
        return []

    def stop(self, reason: str = "caller hung up") -> list[Action]:
        """Twilio `stop`, a dropped connection, or any other end of this stream."""
        if self.ended:
            return []
        # The caller did not go on: a speculative turn is real (as any turn in flight at a
        # hang-up is), so it runs to its end the way it would have without speculation.
        actions = self._commit()
        self.state = CallState.ENDED
        self.end_reason = reason
        self._stt.close()
        self.log("INFO", f"stream ended: {reason}")
        return actions + [CancelReply(t.index) for t in self.turns if self._thinking == t.index]

    # ------------------------------------------------------------------ replies
    def reply_text(
        self,
        turn_index: int,
        reply: AgentReply,
        tool_ms: dict[str, float],
        tools: list[str] | None = None,
    ) -> list[Action]:
        """The agent answered turn `turn_index`.

        Args:
            turn_index: the turn.
            reply: the agent's reply.
            tool_ms: tool latency per mark name (ms), summed over the turn's calls.
            tools: one label per tool call, e.g. `create_appointment error=need_phone`.

        Returns:
            `[Speak(turn, phrases)]` to synthesize, or nothing (the turn was cancelled,
            the call ended, or the reply is silent).
        """
        t = self._turn(turn_index)
        if t is None:
            return []
        if t.times.reply_text is None:  # else: stamped by the first streamed sentence
            t.times.reply_text = self.clock.now_ms()
        said = " ".join(p.text for p in t.phrases) if t.streamed else ""
        t.bot_text = reply.text
        t.wants_dtmf = reply.wants_dtmf
        t.end_call = reply.end_call
        t.tool_ms = tool_ms
        t.tools = list(tools or [])
        if t.cancelled or self.ended:
            return []
        self.log("INFO", f"bot: {reply.text!r}")
        if reply.wants_dtmf != self.waiting_for_dtmf:
            # Each reply decides: a prompt to type turns barge-in off; any other reply
            # (e.g. the caller answered the prompt by voice) turns it back on.
            self.waiting_for_dtmf = reply.wants_dtmf
            state = "true (barge-in off)" if reply.wants_dtmf else "false"
            self.log("INFO", f"waiting_for_dtmf={state}")
        if reply.wants_dtmf and self.settings.dtmf_mode == "gather":
            self._gather_after = turn_index
        if reply.end_call:
            self._hangup_after = turn_index
        if t.streamed:
            # The first sentences are already playing: speak the rest after them.
            rest = _after(reply.text, said)
            if rest is None:
                msg = "the reply differs from what was streamed; only that is spoken"
                self.log("WARNING", f"turn {turn_index}: {msg}")
                t.bot_text, rest = said, ""
            new = [Phrase(p) for p in split_phrases(rest)]
            first = len(t.phrases)
            t.phrases += new
            return [Speak(turn_index, tuple(p.text for p in new), first=first, last=True)]
        t.phrases = [Phrase(p) for p in split_phrases(reply.text)]
        if not t.phrases:
            return self._finish_reply(t)
        return [Speak(turn_index, tuple(p.text for p in t.phrases))]

    def reply_phrase(self, turn_index: int, text: str) -> list[Action]:
        """A streaming agent finished one sentence of turn `turn_index`'s reply while it
        still writes the rest; `reply_text` with the whole reply follows.

        The first sentence stamps the reply as ready (`AI_LATENCY_MS` is final transcript
        -> first sentence ready; issue 8 "Streaming"); every sentence is queued behind the
        ones before it.

        Returns:
            `[Speak(turn, phrases, first=k, last=False)]`, or nothing (the turn was
            cancelled, the call ended, or the sentence has no words).
        """
        t = self._turn(turn_index)
        if t is None or t.cancelled or self.ended:
            return []
        if t.times.reply_text is None:
            t.times.reply_text = self.clock.now_ms()
            self.log("INFO", f"bot (first sentence, the rest streaming): {text!r}")
        t.streamed = True
        new = [Phrase(p) for p in split_phrases(text)]
        if not new:
            return []
        first = len(t.phrases)
        t.phrases += new
        t.bot_text = " ".join(p.text for p in t.phrases)
        return [Speak(turn_index, tuple(p.text for p in new), first=first, last=False)]

    def reply_audio(self, turn_index: int, pcm: np.ndarray, phrase: int = 0) -> list[Action]:
        """A chunk of phrase `phrase` of the reply's speech: int16 PCM at 8 kHz."""
        t = self._turn(turn_index)
        if t is None or t.cancelled or self.ended:
            return []
        if t.times.first_audio is None:
            t.times.first_audio = self.clock.now_ms()
        tail = self._pcm_tail.pop(turn_index, np.zeros(0, np.int16))
        pcm = np.concatenate([tail, np.asarray(pcm, dtype=np.int16)])
        whole = len(pcm) - len(pcm) % FRAME_SAMPLES
        if whole < len(pcm):
            self._pcm_tail[turn_index] = pcm[whole:]
        if whole:
            data = ulaw_encode(pcm[:whole])
            for i in range(0, len(data), FRAME_BYTES):
                self._outbox.append((turn_index, data[i : i + FRAME_BYTES], phrase))
            ms = whole * 1000 / 8000
            t.times.audio_ms += ms
            if not t.phrases:
                t.phrases = [Phrase(t.bot_text)]
            t.phrases[min(phrase, len(t.phrases) - 1)].audio_ms += ms
        return []

    def phrase_done(self, turn_index: int, phrase: int) -> list[Action]:
        """Phrase `phrase` of the reply is fully synthesized: its mark follows it."""
        t = self._turn(turn_index)
        if t is None or t.cancelled or self.ended:
            return []
        self._flush_tail(t, phrase)
        self._outbox.append((turn_index, None, mark_name(turn_index, phrase)))
        return []

    def _flush_tail(self, t: Turn, phrase: int) -> None:
        tail = self._pcm_tail.pop(t.index, None)
        if tail is not None and len(tail):
            pad = np.zeros(FRAME_SAMPLES - len(tail), np.int16)
            self._outbox.append((t.index, ulaw_encode(np.concatenate([tail, pad])), phrase))
            t.times.audio_ms += FRAME_MS
            if t.phrases:
                t.phrases[min(phrase, len(t.phrases) - 1)].audio_ms += FRAME_MS

    def reply_done(self, turn_index: int) -> list[Action]:
        """The reply's audio is complete; its mark follows its last frame."""
        t = self._turn(turn_index)
        if t is None:
            return []
        if t.cancelled or self.ended:
            if self._thinking == turn_index:
                self._thinking = None
            return []
        return self._finish_reply(t)

    def _finish_reply(self, t: Turn) -> list[Action]:
        if self._thinking == t.index:
            self._thinking = None
        self._flush_tail(t, max(len(t.phrases) - 1, 0))
        t.audio_done = True
        self._outbox.append((t.index, None, mark_name(t.index)))
        return []

    def reply_failed(self, turn_index: int, error: str) -> list[Action]:
        """The reply pipeline failed for this turn (logged as a call error)."""
        self.log("ERROR", f"turn {turn_index} failed: {error}")
        if self._thinking == turn_index:
            self._thinking = None
        if self.state is CallState.THINKING:
            self.state = CallState.LISTENING
        return []

    def gather_failed(self) -> list[Action]:
        """The move to `<Gather>` failed: keys are read on the stream instead."""
        if not self.ended and self.waiting_for_dtmf:
            self.state = CallState.WAITING_FOR_DTMF
        return []

    # ------------------------------------------------------------------ adapter
    def queue_depth(self, depth: int) -> list[Action]:
        """The adapter's send queue holds `depth` messages after an enqueue."""
        if depth > self.metrics["QUEUE_MAX_DEPTH"]:
            self.metrics["QUEUE_MAX_DEPTH"] = depth
        return []

    def queue_full(self) -> list[Action]:
        """The adapter's send queue refused a message (seed 001 item 3 "Send queue full")."""
        self.metrics["SEND_QUEUE_FULL"] += 1
        self.log("WARNING", "Send queue full: dropped an outbound message")
        return []

    # ------------------------------------------------------------------ pacing
    def tick(self, room: int | None = None) -> list[Action]:
        """Send what is due now, and run the call's timers.

        Args:
            room: how many messages the adapter's send queue can take now (None = any).
                When frames are due but there is no room, `SEND_QUEUE_FULL` counts it.
        """
        if self.ended:
            return []
        now = self.clock.now_ms()
        actions: list[Action] = []
        tent = self._tentative
        if tent is not None and tent.end_clock is not None:
            # Frames stopped coming (a stalled stream): decide by the clock, a margin late.
            if now - tent.end_clock > tent.window_ms + 10 * FRAME_MS:
                actions += self._maybe_commit()
        lead = self.settings.playback_lead_ms
        while self._outbox:
            turn_index, frame, extra = self._outbox[0]
            if room is not None and len(actions) >= room:
                self.metrics["SEND_QUEUE_FULL"] += 1
                break
            if frame is None:
                self._outbox.popleft()
                self._pending_marks.add(extra)
                actions.append(SendMark(extra))
                continue
            if self._buffer_end_ms - now > max(lead - FRAME_MS / 2, 0):
                break
            self._outbox.popleft()
            self._buffer_end_ms = max(self._buffer_end_ms, now) + FRAME_MS
            t = self._turn(turn_index)
            if t is not None:
                if t.times.first_frame is None:
                    t.times.first_frame = now
                    self.state = CallState.SPEAKING
                t.times.last_frame = now
            actions.append(SendMedia(frame))
        actions += self._timers(now)
        return actions

    def _timers(self, now: float) -> list[Action]:
        if self._thinking is None and self._last_key_ms is not None and self._dtmf.buffer:
            if now - self._last_key_ms >= self.settings.dtmf_interdigit_timeout_ms:
                return self._interdigit_timeout(now)
        if self.bot_audible or self._thinking is not None or self._endpointer.in_speech:
            self._last_activity_ms = max(self._last_activity_ms, now if self.bot_audible else 0)
            return []
        idle = now - self._last_activity_ms
        if self.state is CallState.WAITING_FOR_DTMF:
            if idle < self.settings.dtmf_timeout_ms:
                return []
            self.waiting_for_dtmf = False
            self.log("INFO", "no DTMF input before the timeout; waiting_for_dtmf=false")
        elif self.state is not CallState.LISTENING or idle < self.settings.silence_timeout_ms:
            return []
        self._last_activity_ms = now
        actions = self._new_turn(TurnInput("silence"))
        self.turns[-1].times.anchor = now
        return actions

    def _interdigit_timeout(self, now: float) -> list[Action]:
        """Keys stopped mid-number: clear the buffer; re-prompt once, then go on without."""
        typed = self._dtmf.clear()
        self._last_key_ms = None
        self._last_activity_ms = now
        self._dtmf_timeouts += 1
        secs = self.settings.dtmf_interdigit_timeout_ms / 1000
        if self._dtmf_timeouts == 1:
            self.log("INFO", f"DTMF: no key for {secs:g} s after {len(typed)} digits; re-prompt")
            kind = "dtmf_timeout"
        else:
            self.log("INFO", "DTMF: timed out again; going on without a phone number")
            self.waiting_for_dtmf = False
            kind = "dtmf_skipped"
        actions = self._new_turn(TurnInput(kind, ""))  # type: ignore[arg-type]
        self.turns[-1].times.anchor = now
        return actions

    # ------------------------------------------------------------------ results
    def turn_marks(self, t: Turn) -> dict[str, float]:
        """The DESIGN.md latency marks of one turn, in ms (only those that apply)."""
        return t.times.marks(t.tool_ms)

    def record(self) -> dict[str, Any]:
        """The call as a JSON-able dict (turns with marks, metrics, errors)."""
        return {
            "call_sid": self.call_sid,
            "stream_sid": self.stream_sid,
            "business_id": self.business_id,
            "caller_number": self.caller_number,
            "state": self.state.value,
            "turns": [
                {
                    "index": t.index,
                    "kind": t.kind,
                    "user_text": t.user_text,
                    "bot_text": t.bot_text,
                    "marks": self.turn_marks(t),
                    "barged_in": t.barged_in,
                    "superseded": t.superseded,
                    "tools": t.tools,
                }
                for t in self.turns
                if not t.taken_back
            ],
            # Speculative turns the caller's resumption took back (their INFO log line
            # says why); the whole utterance is one of the "turns" above.
            "taken_back": [
                {"index": t.index, "user_text": t.user_text, "bot_text": t.bot_text}
                for t in self.turns
                if t.taken_back
            ],
            "metrics": dict(self.metrics),
            "errors": list(self.errors),
        }


_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


def _after(full: str, said: str) -> str | None:
    """The words of `full` after its beginning `said` (compared word by word, so spacing
    does not matter); None when `full` does not begin with `said`."""
    words, head = full.split(), said.split()
    if words[: len(head)] != head:
        return None
    return " ".join(words[len(head) :])


def _masked(number: str | None) -> str:
    from voicectl.logs import mask_phone

    return mask_phone(number) or "none"
