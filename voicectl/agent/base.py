"""The agent contract shared by the offline Hebrew agent and the LLM agents.

One agent instance serves the whole process (created once, never per turn - SEEDS.md seed
002 B). Everything a call needs between turns lives in its `Conversation`: the message
history (SEEDS.md seed 001 item 4: send history, never a fresh session per turn) and the
agent's own per-call `state` dict (e.g. slots filled so far).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]

#: What started a turn: the call was answered, the caller spoke, the caller finished typing
#: a phone number by DTMF (`#`), or typed one that does not normalise (or too long), or
#: stayed silent; `dtmf_timeout`: the keys stopped mid-number (re-prompt once);
#: `dtmf_skipped`: no number this time (timed out again, or a `<Gather>` got no input) -
#: go on without a phone and say it can be typed later.
TurnKind = Literal[
    "greeting", "speech", "dtmf_phone", "dtmf_invalid", "dtmf_timeout", "dtmf_skipped", "silence"
]


@dataclass
class Message:
    """One history entry. `name` is the tool name for role == "tool".

    `interrupted` marks an assistant reply the caller barged in on: `content` then holds
    only what the caller heard (see `Conversation.cut_reply`).
    """

    role: Role
    content: str
    name: str | None = None
    interrupted: bool = False


@dataclass
class ToolCallRecord:
    """One tool call made during a turn: arguments as sent, the result dict as returned."""

    name: str
    args: dict[str, Any]
    result: dict[str, Any]
    latency_ms: float


@dataclass
class TurnInput:
    """What the caller did. `text` is the final transcript, or the digits for DTMF kinds."""

    kind: TurnKind
    text: str = ""


@dataclass
class CallerId:
    """Holds a caller number for a conversation that has no call session."""

    caller_number: str | None = None


class Conversation:
    """Per-call memory the agent reads and writes.

    Attributes:
        call_sid: Twilio CallSid.
        business_id: the business this call is for (a key of the policy file).
        now: the business clock at the start of this turn (timezone-aware).
        caller: where the call's caller number lives - the call session, the one source
            of truth; `caller_number` reads and writes it. A conversation built without
            one (tests, a text chat) holds `caller_number` in a `CallerId` of its own.
        turn_index: 0 for the greeting, then +1 per caller turn.
        history: every message so far, oldest first.
        state: free-form per-call state owned by the agent implementation.
    """

    def __init__(
        self,
        call_sid: str,
        business_id: str,
        now: datetime,
        caller_number: str | None = None,
        turn_index: int = 0,
        history: list[Message] | None = None,
        state: dict[str, Any] | None = None,
        *,
        caller: Any = None,
    ) -> None:
        self.call_sid = call_sid
        self.business_id = business_id
        self.now = now
        self.caller: Any = caller if caller is not None else CallerId(caller_number)
        self.turn_index = turn_index
        self.history: list[Message] = history if history is not None else []
        self.state: dict[str, Any] = state if state is not None else {}

    @property
    def caller_number(self) -> str | None:
        """The call's caller number in E.164 (Twilio caller id or DTMF), or None; read from
        `caller` (an object with `caller_number`, e.g. the `CallSession`)."""
        return getattr(self.caller, "caller_number", None)

    @caller_number.setter
    def caller_number(self, number: str | None) -> None:
        # Written through to the one holder (the session); a standalone conversation
        # (tests, a text chat) gets a holder of its own.
        self.caller.caller_number = number

    def recent(self, n: int = 12) -> list[Message]:
        """The last `n` messages (SEEDS.md seed 000: send the last 8-12 every turn)."""
        return self.history[-n:]

    def cut_reply(self, reply: Message, heard: str) -> None:
        """The caller barged in on `reply` (an assistant message of this history): keep
        only what was `heard` and flag it interrupted, so the next turn knows what the
        caller actually heard (issue 7). An empty `heard` keeps an empty, flagged entry."""
        reply.content = heard
        reply.interrupted = True


@dataclass
class AgentReply:
    """The agent's answer to one turn.

    Attributes:
        text: what the bot says, in Hebrew (may be empty only when `end_call` is set).
        tool_calls: every tool call made while producing it, in order.
        wants_dtmf: the reply asks the caller to type a phone number and `#`; the call
            enters WAITING_FOR_DTMF (barge-in off) once it has played.
        end_call: hang up after this reply has played.
    """

    text: str
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    wants_dtmf: bool = False
    end_call: bool = False


class ReplyStream:
    """Where a streaming agent hands over its spoken answer sentence by sentence while the
    model is still writing the rest, so the call speaks the first sentence at once (issue 8
    "Streaming": `AI_LATENCY_MS` ends when the first sentence is ready).

    Args:
        emit: called with each completed sentence, in order, from the agent's thread.
        cancelled: returns True once the turn is cancelled (barge-in, a newer turn, the
            call ended); the agent then stops reading the model and returns what it has.
    """

    def __init__(
        self, emit: Callable[[str], None], cancelled: Callable[[], bool] = lambda: False
    ) -> None:
        self._emit = emit
        self._cancelled = cancelled

    @property
    def cancelled(self) -> bool:
        """True once the turn this reply answers was cancelled."""
        return self._cancelled()

    def sentence(self, text: str) -> bool:
        """Hand over one complete sentence; returns False (emitting nothing) once the turn
        is cancelled, so the agent knows to stop."""
        if self._cancelled():
            return False
        self._emit(text)
        return True


class Agent(Protocol):
    """A conversational agent with booking tools.

    `respond` must never raise: a failure inside becomes a short Hebrew apology reply.
    It appends the user turn and its own reply to `conversation.history`.

    An agent may also offer `respond_stream(turn, conversation, tools, stream)` (see
    `StreamingAgent`); the call runner then uses it instead of `respond`.
    """

    name: str

    def respond(self, turn: TurnInput, conversation: Conversation, tools: Any) -> AgentReply:
        """Answer one turn. `tools` is a `voicectl.booking.tools.BookingTools` for this call."""
        ...


class StreamingAgent(Agent, Protocol):
    """An agent that can speak its answer while it is still being written."""

    def respond_stream(
        self, turn: TurnInput, conversation: Conversation, tools: Any, stream: ReplyStream
    ) -> AgentReply:
        """Answer one turn like `respond`, handing each sentence of the spoken answer to
        `stream.sentence` as soon as it is complete. The returned reply's `text` is the
        whole answer; the sentences handed over are its beginning, word for word (the
        caller hears the rest, if any, after them). Never raises."""
        ...
