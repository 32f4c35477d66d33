"""Text-to-speech providers behind the `TTS` protocol, chosen by name (`make_tts`)."""

from __future__ import annotations

import importlib
from typing import Any

from voicectl.speech.tts.base import TTS, TTSError

__all__ = ["PROVIDERS", "TTS", "TTSError", "make_tts"]

#: Known provider names -> "module:class". Modules are imported only when asked for, so a
#: provider's heavy dependencies load only if it is configured.
PROVIDERS: dict[str, str] = {
    "espeak": "voicectl.speech.tts.espeak:EspeakTTS",
    "espeak-ng": "voicectl.speech.tts.espeak:EspeakTTS",
}


def make_tts(name: str = "espeak", **kw: Any) -> TTS:
    """Create a TTS provider by name (create once per process, then reuse).

    Args:
        name: a key of `PROVIDERS` ("espeak" = offline espeak-ng Hebrew voice).
        **kw: passed to the provider's constructor (e.g. ``rate_wpm=165`` for espeak).

    Returns:
        The provider instance.

    Raises:
        ValueError: unknown name (the message lists the known names).
        TTSError: the provider could not start (e.g. its library is missing).
    """
    target = PROVIDERS.get(name)
    if target is None:
        raise ValueError(f"unknown TTS provider {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**kw)
