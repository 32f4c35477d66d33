"""Per-turn latency marks (DESIGN.md "Latency marks", contract: names and meanings).

A turn's timestamps are monotonic-clock ms; `TurnTimes.marks()` turns them into the named
marks. The anchor of a turn is where the caller stopped: the last voiced audio
(`speech_end`) for speech, the `#` key for DTMF, the stream start for the greeting.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Mark names in table order (server side), then the caller-side ones the simulator adds.
SERVER_MARKS = (
    "STT_FIRST_PARTIAL_MS",
    "STT_FINAL_MS",
    "AI_LATENCY_MS",
    "TOOL_FIND_SLOTS_MS",
    "TOOL_CREATE_APPOINTMENT_MS",
    "TTS_READY_MS",
    "TURN_LATENCY_MS",
    "TTS_SEND_MS",
    "TTS_SEND_OVERRUN_MS",
    "TOTAL_MS",
)
CALLER_MARKS = ("V2V_MS", "BARGE_IN_STOP_MS")
CALL_METRICS = ("QUEUE_MAX_DEPTH", "SEND_QUEUE_FULL")


@dataclass
class TurnTimes:
    """Clock readings (ms) of one turn; None = did not happen."""

    speech_start: float | None = None
    anchor: float | None = None  # speech_end / `#` / stream start
    first_partial: float | None = None
    final: float | None = None
    reply_text: float | None = None  # the reply's text (a streamed one's first sentence)
    first_audio: float | None = None
    first_frame: float | None = None
    last_frame: float | None = None
    played: float | None = None
    audio_ms: float = 0.0

    def marks(self, tool_ms: dict[str, float] | None = None) -> dict[str, float]:
        """Compute the marks that apply to this turn, rounded to 0.1 ms.

        `TTS_SEND_MS` spans first to last frame *sent*; its overrun subtracts the duration
        of the audio minus one frame (the last frame's own 20 ms is not send time), so a
        perfectly paced reply has overrun ~0 and sending ahead makes it negative.
        """
        out: dict[str, float] = {}

        def put(name: str, a: float | None, b: float | None) -> None:
            if a is not None and b is not None:
                out[name] = round(b - a, 1)

        put("STT_FIRST_PARTIAL_MS", self.speech_start, self.first_partial)
        put("STT_FINAL_MS", self.anchor if self.final else None, self.final)
        put("AI_LATENCY_MS", self.final if self.final is not None else self.anchor, self.reply_text)
        for name, ms in (tool_ms or {}).items():
            out[name] = round(ms, 1)
        put("TTS_READY_MS", self.reply_text, self.first_audio)
        put("TURN_LATENCY_MS", self.anchor, self.first_frame)
        put("TTS_SEND_MS", self.first_frame, self.last_frame)
        if "TTS_SEND_MS" in out and self.audio_ms:
            out["TTS_SEND_OVERRUN_MS"] = round(out["TTS_SEND_MS"] - (self.audio_ms - 20), 1)
        put("TOTAL_MS", self.anchor, self.last_frame)
        return out
