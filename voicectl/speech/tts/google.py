"""Google Cloud Text-to-Speech (`tts: google`, extra `google`): a natural Hebrew voice.

- A configurable `he-IL` voice (`google_tts_voice`: `he-IL-Standard-*`, `he-IL-Wavenet-*`
  or Chirp 3 HD `he-IL-Chirp3-HD-<Name>`; TWILIO.md "Google Cloud speech, for Hebrew").
- Non-streaming `SynthesizeSpeech` asked for `MULAW` at 8000 Hz, so no resampling: the
  answer carries a WAV header, which is removed; the μ-law is decoded to PCM for the call
  core, which encodes it back bit-exactly.
- The reply goes through the project's Hebrew normaliser first (numbers, times, phones as
  words), then is synthesised sentence by sentence, so the first sentence plays while the
  next is synthesised (`TTS_READY_MS` is reply text -> first audio).
- Warm-up (seed 002 F): `warmup()` does one synthesis at start-up (the runtime logs `TTS
  prewarm took N ms`) and starts a keep-warm ping every `tts_keepwarm_sec` (default 450 s
  = 7.5 minutes) while no synthesis happened.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from voicectl.audio.g711 import ulaw_decode
from voicectl.audio.wav import ulaw_wav_data
from voicectl.logs import get_logger
from voicectl.providers import ProviderError
from voicectl.speech.google_cloud import make_client
from voicectl.speech.text_normalize import normalize_for_tts
from voicectl.speech.tts.base import TTSError

_log = get_logger("tts.google")

#: Sentence ends (the punctuation stays on the sentence).
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
WARMUP_TEXT = "שלום"


def sentences(text: str) -> list[str]:
    """Split a normalised reply into sentences: "שלום. מה שלומך?" -> ["שלום.", "מה שלומך?"]."""
    return [s.strip() for s in _SENTENCE_END.split(text) if re.search(r"\w", s)]


class GoogleTTS:
    """The `TTS` protocol over Google Cloud Text-to-Speech (see the module docstring).

    Args:
        voice: a voice name; its language must be he-IL.
        endpoint: `google_api_endpoint` (None = Google's).
        timeout_s: bound on one synthesis request.
        speaking_rate: 0.25-4.0 (1.0 = the voice's normal rate).
        keepwarm_s: idle seconds between keep-warm pings (0 = none).

    Raises:
        ProviderError: a voice that is not Hebrew.
        google.auth.exceptions.DefaultCredentialsError: no credentials.
    """

    name = "google"
    sample_rate = 8000

    @classmethod
    def from_settings(cls, settings: Any) -> GoogleTTS:
        """The provider registry's constructor."""
        return cls(
            voice=settings.google_tts_voice,
            endpoint=settings.google_api_endpoint,
            timeout_s=settings.google_timeout_ms / 1000,
            speaking_rate=settings.google_tts_speaking_rate,
            keepwarm_s=settings.tts_keepwarm_sec,
        )

    def __init__(
        self,
        voice: str = "he-IL-Wavenet-A",
        endpoint: str | None = None,
        timeout_s: float = 3.0,
        speaking_rate: float = 1.0,
        keepwarm_s: float = 450.0,
    ) -> None:
        if not voice.startswith("he-IL-"):
            raise ProviderError(
                f"tts: google voice {voice!r} is not Hebrew; use he-IL-Standard-*, "
                "he-IL-Wavenet-* or he-IL-Chirp3-HD-*"
            )
        from google.cloud import texttospeech_v1 as tts
        from google.cloud.texttospeech_v1.services.text_to_speech.transports import (
            TextToSpeechGrpcTransport,
        )

        self._tts = tts
        self.voice = voice
        self.timeout_s = timeout_s
        self.keepwarm_s = keepwarm_s
        self.client = make_client(tts.TextToSpeechClient, TextToSpeechGrpcTransport, endpoint)
        self._voice = tts.VoiceSelectionParams(language_code="he-IL", name=voice)
        self._audio = tts.AudioConfig(
            audio_encoding=tts.AudioEncoding.MULAW,
            sample_rate_hertz=self.sample_rate,
            speaking_rate=speaking_rate,
        )
        self._last_used = time.monotonic()
        self._keepwarm: threading.Thread | None = None
        self._stop = threading.Event()
        self.pings = 0

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Yield one int16 PCM chunk (8000 Hz) per sentence of `text`.

        Raises:
            TTSError: the service failed or answered something that is not μ-law audio.
        """
        for sentence in sentences(normalize_for_tts(text)):
            yield ulaw_decode(self._synthesize_ulaw(sentence))

    def _synthesize_ulaw(self, sentence: str) -> bytes:
        from google.api_core import exceptions as gexc

        self._last_used = time.monotonic()
        try:
            resp = self.client.synthesize_speech(
                input=self._tts.SynthesisInput(text=sentence),
                voice=self._voice,
                audio_config=self._audio,
                retry=None,  # bounded by timeout_s: a stalled service never stalls a call
                timeout=self.timeout_s,
            )
        except gexc.GoogleAPICallError as exc:
            raise TTSError(f"Google TTS failed: {exc.__class__.__name__}: {exc}"[:200]) from exc
        content = bytes(resp.audio_content)
        data = ulaw_wav_data(content)
        if data is None:
            if content[:4] == b"RIFF":
                raise TTSError("Google TTS answered a WAV that is not μ-law 8 kHz mono")
            data = content  # headerless μ-law
        return data

    def warmup(self) -> None:
        """One synthesis now; then keep the connection warm while idle (seed 002 F).

        Raises:
            TTSError: the warm-up synthesis failed (the runtime logs it and goes on).
        """
        self._synthesize_ulaw(WARMUP_TEXT)
        if self.keepwarm_s > 0 and self._keepwarm is None:
            self._keepwarm = threading.Thread(
                target=self._keep_warm, name="google-tts-keepwarm", daemon=True
            )
            self._keepwarm.start()

    def _keep_warm(self) -> None:
        while not self._stop.wait(min(30.0, self.keepwarm_s / 4)):
            if time.monotonic() - self._last_used < self.keepwarm_s:
                continue
            try:
                self._synthesize_ulaw(WARMUP_TEXT)
                self.pings += 1
                _log.debug("TTS keep-warm ping")
            except TTSError as exc:
                _log.warning("TTS keep-warm ping failed: %s", exc)

    def close(self) -> None:
        """Stop the keep-warm thread."""
        self._stop.set()
