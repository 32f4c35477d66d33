"""What the call core asks its adapter to do. The adapter (Twilio WebSocket bridge,
simulator, microphone) turns these into I/O; the core never does I/O itself."""

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
    """Produce the bot's reply to `turn` off the hot path (agent, then TTS) and feed it
    back with `CallSession.reply_text / reply_audio / reply_done`."""

    turn_index: int
    turn: TurnInput


@dataclass(frozen=True)
class Hangup:
    """End the call: close the stream and hang up through the REST API."""

    reason: str


Action = SendMedia | SendMark | SendClear | RunTurn | Hangup
