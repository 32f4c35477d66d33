"""Text-to-speech providers behind the `TTS` protocol (chosen by `voicectl.providers`)."""

from __future__ import annotations

from voicectl.speech.tts.base import TTS, TTSError

__all__ = ["TTS", "TTSError"]
