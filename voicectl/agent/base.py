"""The agent contract shared by the offline Hebrew agent and the LLM agents.

One agent instance serves the whole process (created once, never per turn - SEEDS.md seed
002 B). Everything a call needs between turns lives in its `Conversation`: the message
history (SEEDS.md seed 001 item 4: send history, never a fresh session per turn) and the
agent's own per-call `state` dict (e.g. slots filled so far).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]

#: What started a turn: the call was answered, the caller spoke, the caller finished typing
#: a phone number by DTMF (`#`), or typed one that does not normalise, or stayed silent.
TurnKind = Literal["greeting", "speech", "dtmf_phone", "dtmf_invalid", "silence"]


@dataclass
class Message:
    """One history entry. `name` is the tool name for role == "tool"."""

    role: Role
    content: str
    name: str | None = None


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
class Conversation:
    """Per-call memory the agent reads and writes.

    Attributes:
        call_sid: Twilio CallSid.
        business_id: the business this call is for (a key of the policy file).
        now: the business clock at the start of this turn (timezone-aware).
        caller_number: the session's caller number in E.164 (Twilio caller id or DTMF), or None.
        turn_index: 0 for the greeting, then +1 per caller turn.
        history: every message so far, oldest first.
        state: free-form per-call state owned by the agent implementation.
    """

    call_sid: str
    business_id: str
    now: datetime
    caller_number: str | None = None
    turn_index: int = 0
    history: list[Message] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    def recent(self, n: int = 12) -> list[Message]:
        """The last `n` messages (SEEDS.md seed 000: send the last 8-12 every turn)."""
        return self.history[-n:]


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


class Agent(Protocol):
    """A conversational agent with booking tools.

    `respond` must never raise: a failure inside becomes a short Hebrew apology reply.
    It appends the user turn and its own reply to `conversation.history`.
    """

    name: str

    def respond(self, turn: TurnInput, conversation: Conversation, tools: Any) -> AgentReply:
        """Answer one turn. `tools` is a `voicectl.booking.tools.BookingTools` for this call."""
        ...
