"""Google Cloud Speech-to-Text v1 streaming (`stt: google`, extra `google`) for Hebrew calls.

The call core's VAD decides the turn (issue 8 "Endpointing"); this recogniser says what was
said. Per call utterance:

- at `utterance_start` a `StreamingRecognize` stream opens with `he-IL`, `MULAW`, 8000 Hz,
  interim results on, automatic punctuation off (seed 002 D.2) and phrase hints (numbers,
  weekdays, "שעה", "תור", the business's services and aliases: `voicectl.speech.stt.hints`);
- every frame the core feeds is sent as it arrives, as the μ-law Twilio carried (the core's
  PCM re-encodes bit-exactly), one 160-byte request per 20 ms (TWILIO.md: at most 25 KB per
  request, about real time);
- interim results become partials, at most one per `STT_PARTIAL_DEBOUNCE_MS`;
- at `utterance_end` the stream is half-closed and its final awaited for up to
  `STT_TIMEOUT_MS`; past that the best text so far (finals + the last interim) is the final
  and a late answer is dropped. A discarded utterance (a cough) is cancelled;
- at `utterance_resume` (the caller went on within the resume window: speculative
  endpointing) the ended part's streams become the first streams of the utterance again,
  its final is dropped if not yet delivered, and a new stream takes the rest: the next
  final joins the finals of both parts (each part's audio is recognised once).

A stream lives about 5 minutes (TWILIO.md), so one that has carried `google_stt_rotate_sec`
of audio is half-closed and the next frame opens a new one: each frame goes to exactly one
stream (nothing lost or sent twice) and the utterance's final joins the streams' finals.

The gRPC client is blocking and iterator-based, so each stream runs on its own daemon
thread; results go back to the event loop with `call_soon_threadsafe` (never from the
thread into the core). Nothing here touches a file or the database.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from voicectl.audio.g711 import ulaw_encode
from voicectl.logs import get_logger
from voicectl.providers import ProviderError
from voicectl.speech.google_cloud import make_client
from voicectl.speech.stt.base import ResultCallback, STTResult
from voicectl.speech.stt.hints import base_hints, merge_hints

_log = get_logger("stt.google")

#: Models that take Hebrew (TWILIO.md: `default` and `command_and_search` accept every
#: language; `latest_short` has rejected `iw-IL`).
HEBREW_MODELS = ("default", "command_and_search")
HEBREW_CODES = ("he-IL", "iw-IL")

_END = object()


def check_model(model: str, language: str) -> None:
    """Reject, at start-up, a model or language that cannot recognise Hebrew.

    Raises:
        ProviderError: the message names the setting and the accepted values.
    """
    if language not in HEBREW_CODES:
        raise ProviderError(
            f"stt: google_stt_language {language!r} is not Hebrew; use he-IL (or iw-IL)"
        )
    if model not in HEBREW_MODELS:
        raise ProviderError(
            f"stt: google_stt_model {model!r} does not take Hebrew ({language}); "
            f"use one of: {', '.join(HEBREW_MODELS)}"
        )


class GoogleSTT:
    """The `STTProvider`: one client (one channel) per process, one stream set per call.

    Args:
        model: a model from `HEBREW_MODELS`.
        language: `he-IL` (or its old code `iw-IL`).
        endpoint: `google_api_endpoint` (None = Google's).
        timeout_ms: `STT_TIMEOUT_MS`, the wait for a final after the utterance ends.
        debounce_ms: `STT_PARTIAL_DEBOUNCE_MS`, the least time between two partials.
        rotate_s: audio seconds after which a stream is replaced.

    Raises:
        ProviderError: a model or language without Hebrew.
        google.auth.exceptions.DefaultCredentialsError: no credentials.
    """

    name = "google"

    @classmethod
    def from_settings(cls, settings: Any) -> GoogleSTT:
        """The provider registry's constructor."""
        return cls(
            model=settings.google_stt_model,
            language=settings.google_stt_language,
            endpoint=settings.google_api_endpoint,
            timeout_ms=settings.stt_timeout_ms,
            debounce_ms=settings.stt_partial_debounce_ms,
            rotate_s=settings.google_stt_rotate_sec,
        )

    def __init__(
        self,
        model: str = "default",
        language: str = "he-IL",
        endpoint: str | None = None,
        timeout_ms: int = 240,
        debounce_ms: int = 40,
        rotate_s: float = 280.0,
    ) -> None:
        check_model(model, language)
        from google.cloud import speech_v1
        from google.cloud.speech_v1.services.speech.transports import SpeechGrpcTransport

        self._speech = speech_v1
        self.model, self.language = model, language
        self.timeout_ms, self.debounce_ms, self.rotate_s = timeout_ms, debounce_ms, rotate_s
        self.client = make_client(speech_v1.SpeechClient, SpeechGrpcTransport, endpoint)

    def streaming_config(self, hints: Sequence[str] = ()) -> Any:
        """The `StreamingRecognitionConfig` of this provider with `hints` added."""
        sp = self._speech
        return sp.StreamingRecognitionConfig(
            config=sp.RecognitionConfig(
                encoding=sp.RecognitionConfig.AudioEncoding.MULAW,
                sample_rate_hertz=8000,
                audio_channel_count=1,
                language_code=self.language,
                model=self.model,
                max_alternatives=1,
                enable_automatic_punctuation=False,
                speech_contexts=[sp.SpeechContext(phrases=merge_hints(base_hints(), hints))],
            ),
            interim_results=True,
            single_utterance=False,
        )

    def open(self, on_result: ResultCallback, hints: Sequence[str] = ()) -> GoogleSTTStream:
        """One call's recogniser; call on the event loop (results come back to it)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        return GoogleSTTStream(self, self.streaming_config(hints), on_result, loop)


class _Recognition:
    """One `StreamingRecognize` call on its own thread."""

    def __init__(self, stream: GoogleSTTStream) -> None:
        self.audio: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.sent_ms = 0
        self.finals: list[str] = []
        self.interim = ""
        self.done = threading.Event()
        self._stream = stream
        self.thread = threading.Thread(target=self._run, name="google-stt", daemon=True)
        self.thread.start()

    def _requests(self) -> Iterator[Any]:
        sp = self._stream.provider._speech
        while True:
            chunk = self.audio.get()
            if chunk is _END:
                return
            yield sp.StreamingRecognizeRequest(audio_content=chunk)

    def _run(self) -> None:
        provider = self._stream.provider
        try:
            responses = provider.client.streaming_recognize(
                self._stream.config,
                self._requests(),
                retry=None,  # a retry would replay a consumed audio iterator
                timeout=provider.rotate_s + 30,
            )
            for resp in responses:
                for result in resp.results:
                    if not result.alternatives:
                        continue
                    text = result.alternatives[0].transcript.strip()
                    if result.is_final:
                        self.finals.append(text)
                        self.interim = ""
                    else:
                        self.interim = text
                        self._stream.partial(self)
        except Exception as exc:  # a failed stream is an empty transcript, never a crash
            self._stream.failed(exc)
        finally:
            self.done.set()

    def text(self) -> str:
        return " ".join(t for t in self.finals if t)


class _Job:
    """One utterance's streams waiting for their finals; `dropped` once the caller went
    on (its final must not be delivered: the whole utterance's final will be)."""

    def __init__(self, parts: list[_Recognition]) -> None:
        self.parts = parts
        self.dropped = False


class GoogleSTTStream:
    """One call's recogniser (the `STTStream` protocol; see the module docstring)."""

    def __init__(
        self,
        provider: GoogleSTT,
        config: Any,
        on_result: ResultCallback,
        loop: asyncio.AbstractEventLoop | None,
    ) -> None:
        self.provider = provider
        self.config = config
        self._on_result = on_result
        self._loop = loop
        self._lock = threading.Lock()
        self._current: _Recognition | None = None
        self._parts: list[_Recognition] = []  # this utterance's streams, in order
        self._last_partial = 0.0
        self._closed = False
        self._warned = False
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._last_job: _Job | None = None  # the last ended utterance (for a resume)
        self._finalizer: threading.Thread | None = None
        self.streams_opened = 0

    # ------------------------------------------------------------------ STTStream
    def utterance_start(self, ts_ms: int) -> None:
        with self._lock:
            if self._closed or self._current is not None:
                return
            self._open()

    def feed(self, pcm: np.ndarray, ts_ms: int) -> None:
        with self._lock:
            if self._closed:
                return
            if self._current is None:
                self._open()
            cur = self._current
            assert cur is not None
            cur.audio.put(ulaw_encode(pcm))
            cur.sent_ms += len(pcm) * 1000 // 8000
            if cur.sent_ms >= self.provider.rotate_s * 1000:
                cur.audio.put(_END)  # rotate: the next frame opens the next stream
                self._current = None

    def utterance_end(self, ts_ms: int, discarded: bool) -> None:
        with self._lock:
            if self._current is not None:
                self._current.audio.put(_END)
                self._current = None
            parts, self._parts = self._parts, []
            self._last_job = None
            if discarded or self._closed or not parts:
                return  # its late results have no utterance to go to: dropped
            if self._finalizer is None:
                self._finalizer = threading.Thread(
                    target=self._finals, name="google-stt-final", daemon=True
                )
                self._finalizer.start()
            job = self._last_job = _Job(parts)
        self._jobs.put(job)

    def utterance_resume(self, ts_ms: int) -> None:
        with self._lock:
            if self._closed:
                return
            job, self._last_job = self._last_job, None
            if job is not None:
                job.dropped = True
                self._parts = job.parts + self._parts
            if self._current is None:
                self._open()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._parts = []
            if self._current is not None:
                self._current.audio.put(_END)
                self._current = None
        self._jobs.put(None)

    # ------------------------------------------------------------------ internals
    def _open(self) -> None:
        rec = _Recognition(self)
        self._current = rec
        self._parts.append(rec)
        self.streams_opened += 1

    def _finals(self) -> None:
        """One thread per call delivers the utterances' finals in order."""
        while True:
            job = self._jobs.get()
            if job is None:
                return
            text = self._final_text(job.parts)
            if not self._closed and not job.dropped:
                self._deliver(STTResult(text, is_final=True), job)

    def _final_text(self, parts: list[_Recognition]) -> str:
        """Wait up to STT_TIMEOUT_MS for the streams' finals; else the best text so far."""
        deadline = time.monotonic() + self.provider.timeout_ms / 1000
        late = [r for r in parts if not r.done.wait(max(0.0, deadline - time.monotonic()))]
        words = [r.text() for r in parts]
        if late:
            words += [r.interim for r in late]
            _log.info(
                "STT final not in within STT_TIMEOUT_MS=%d ms; using the best text so far",
                self.provider.timeout_ms,
            )
        return " ".join(w for w in words if w)

    def partial(self, rec: _Recognition) -> None:
        """A stream thread got an interim result (debounced; dropped once the utterance
        it belongs to has ended)."""
        now = time.monotonic()
        with self._lock:
            if self._closed or rec not in self._parts:
                return
            if (now - self._last_partial) * 1000 < self.provider.debounce_ms:
                return
            self._last_partial = now
            words = [r.text() for r in self._parts] + [rec.interim]
        self._deliver(STTResult(" ".join(w for w in words if w), is_final=False))

    def failed(self, exc: BaseException) -> None:
        """A stream ended in an error: logged once per call; its text is what it had."""
        if self._closed:
            return
        if not self._warned:
            self._warned = True
            _log.warning("Google STT stream failed: %s", f"{exc.__class__.__name__}: {exc}"[:200])

    def _deliver(self, result: STTResult, job: _Job | None = None) -> None:
        def cb(result: STTResult) -> None:
            # Checked again where the core runs: a resume there after this was scheduled
            # drops it (the whole utterance's final follows).
            if job is None or not job.dropped:
                self._on_result(result)

        if self._loop is None:
            cb(result)
            return
        try:
            self._loop.call_soon_threadsafe(cb, result)
        except RuntimeError:  # the loop is closed: the call is over
            pass
