"""What the call core asks its adapter to do. The adapter (Twilio WebSocket bridge,
simulator, microphone) turns these into I/O; the core never does I/O itself.

Every `CallSession` input returns a list of these (h11/wsproto style: events in, actions
out); the driver (`voicectl.call.runner.CallRunner`) reads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicectl.agent.base import TurnInput


@dataclass(frozen=True)
class SendMedia:
    """Send one 20 ms frame: exactly 160 bytes of G.711 μ-law, 8 kHz mono."""

    payload: bytes


@dataclass(frozen=True)
class SendMark:
    """Send a Twilio `mark`; Twilio echoes it once the audio before it has played."""

    name: str


@dataclass(frozen=True)
class SendClear:
    """Send a Twilio `clear`: drop every buffered, unplayed frame (barge-in)."""


@dataclass(frozen=True)
class RunTurn:
    """Produce the bot's reply to `turn` off the hot path (the agent) and feed it back
    with `CallSession.reply_text` (which answers with `Speak`)."""

    turn_index: int
    turn: TurnInput
    #: The utterance ended tentatively (speculative endpointing, docs/vad.md): until a
    #: `CommitTurn` for it, side-effecting tools must wait, and a `TakeBack` may follow.
    speculative: bool = False


@dataclass(frozen=True)
class CommitTurn:
    """The resume window of speculative turn `turn_index` passed without the caller
    going on: the turn is real; its side-effecting tools may run now."""

    turn_index: int


@dataclass(frozen=True)
class TakeBack:
    """The caller went on speaking within the resume window: speculative turn
    `turn_index` never happened. Stop its reply (like `CancelReply`), refuse its
    side-effecting tools, and roll the conversation (history, agent state) back to
    before it - not cut into the history as a heard partial reply, as a barge-in is. A
    `RunTurn` for the whole utterance follows."""

    turn_index: int


@dataclass(frozen=True)
class Speak:
    """Synthesize `phrases` (the reply of turn `turn_index`, in order) off the hot path;
    feed each phrase back with `CallSession.reply_audio` then `phrase_done`, and the end
    with `reply_done`.

    A streamed reply comes as several `Speak`s of one turn, spoken one after the other:
    `first` is the index of the first of `phrases` in the reply; `last` is False while
    more of the reply may follow, and `reply_done` is fed only after the `last` one."""

    turn_index: int
    phrases: tuple[str, ...]
    first: int = 0
    last: bool = True


@dataclass(frozen=True)
class CancelReply:
    """Stop producing turn `turn_index`'s reply now (agent result dropped, synthesis in
    flight abandoned). `heard` is what the caller actually heard of the reply (phrases whose
    marks were echoed, plus the played part of the current one); when it is not None the
    reply in the conversation history is cut to it and flagged interrupted."""

    turn_index: int
    heard: str | None = None


@dataclass(frozen=True)
class AskPhoneByGather:
    """`dtmf_mode: gather`: move the live call to a TwiML `<Gather>` for the phone number
    (REST `Calls(sid).update(twiml=…)`, which ends this stream). Sent once the DTMF
    prompt has played; the stream closes without ending the call."""

    turn_index: int


@dataclass(frozen=True)
class Hangup:
    """End the call: hang up through the REST API, then close the stream.

    `ended_by` is the `call.ended` cause ("bot_hangup")."""

    reason: str
    ended_by: str = "bot_hangup"


Action = (
    SendMedia
    | SendMark
    | SendClear
    | RunTurn
    | CommitTurn
    | TakeBack
    | Speak
    | CancelReply
    | AskPhoneByGather
    | Hangup
)
