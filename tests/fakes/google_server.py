"""A loopback gRPC stand-in for Google Cloud Speech-to-Text v1 `StreamingRecognize` and
Text-to-Speech v1 `SynthesizeSpeech` and `ListVoices`, for the real clients pointed at it
(written from the public API reference).

It serves the services' real method paths with the request/response types of the installed
`google-cloud-speech` / `google-cloud-texttospeech` packages (their proto-plus messages
serialise to the wire format), on `grpc.server` bound to 127.0.0.1.

The recogniser hears the audio it is streamed: it decodes the μ-law, finds the voiced
stretches by energy (20 ms frames), and hands out the next of its `lines` for every voiced
stretch of a stream, as interim results (a growing prefix, one word per ~300 voiced ms)
and a final once the client half-closes. It never sees any transcript the client has.
`stream_texts` (a list) overrides that with one text per stream, in order.

The synthesiser answers `MULAW` 8000 Hz with a WAV header (as the real service does) of a
quiet tone about 70 ms per character; LINEAR16 answers PCM with a WAV header.
"""

from __future__ import annotations

import struct
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from google.cloud import speech_v1, texttospeech_v1

from voicectl.audio.g711 import ulaw_decode, ulaw_encode

VOICED_RMS = 300.0  # int16 RMS above which a 20 ms frame counts as voiced
MIN_VOICED_MS = 100  # a voiced stretch shorter than this is noise
GAP_MS = 400  # silence that separates two stretches inside one stream
VOICES = ("he-IL-Standard-A", "he-IL-Wavenet-A", "he-IL-Chirp3-HD-Achird", "en-US-Wavenet-A")


@dataclass
class StreamLog:
    """What one StreamingRecognize call received."""

    config: Any = None
    audio: bytearray = field(default_factory=bytearray)
    requests: int = 0
    max_request_bytes: int = 0
    texts: list[str] = field(default_factory=list)


def _voiced_stretches(ulaw: bytes) -> int:
    """How many voiced stretches (>= MIN_VOICED_MS, apart by >= GAP_MS) the audio holds."""
    pcm = ulaw_decode(ulaw).astype(np.float64)
    frames = [pcm[i : i + 160] for i in range(0, len(pcm) - 159, 160)]
    stretches = run = gap = 0
    for frame in frames:
        if float(np.sqrt(np.mean(frame**2))) > VOICED_RMS:
            run += 20
            gap = 0
            continue
        gap += 20
        if gap >= GAP_MS and run:
            stretches += run >= MIN_VOICED_MS
            run = 0
    return stretches + (run >= MIN_VOICED_MS)


class FakeGoogle:
    """The fake server; a context manager. `endpoint` is `127.0.0.1:<port>`.

    Args:
        lines: what the callers say, in order (one per voiced stretch).
        stream_texts: one final text per stream instead (rotation tests).
        fail_synthesis: answer SynthesizeSpeech with UNAVAILABLE.
        final_delay_s: wait this long after the half-close before the final (slow server).
    """

    def __init__(
        self,
        lines: list[str] | None = None,
        stream_texts: list[str] | None = None,
        fail_synthesis: bool = False,
        final_delay_s: float = 0.0,
    ) -> None:
        self.final_delay_s = final_delay_s
        self.lines = list(lines or [])
        self.stream_texts = list(stream_texts) if stream_texts is not None else None
        self.fail_synthesis = fail_synthesis
        self.streams: list[StreamLog] = []
        self.syntheses: list[Any] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        speech = grpc.method_handlers_generic_handler(
            "google.cloud.speech.v1.Speech",
            {
                "StreamingRecognize": grpc.stream_stream_rpc_method_handler(
                    self._recognize,
                    request_deserializer=speech_v1.StreamingRecognizeRequest.deserialize,
                    response_serializer=speech_v1.StreamingRecognizeResponse.serialize,
                )
            },
        )
        tts = grpc.method_handlers_generic_handler(
            "google.cloud.texttospeech.v1.TextToSpeech",
            {
                "SynthesizeSpeech": grpc.unary_unary_rpc_method_handler(
                    self._synthesize,
                    request_deserializer=texttospeech_v1.SynthesizeSpeechRequest.deserialize,
                    response_serializer=texttospeech_v1.SynthesizeSpeechResponse.serialize,
                ),
                "ListVoices": grpc.unary_unary_rpc_method_handler(
                    self._voices,
                    request_deserializer=texttospeech_v1.ListVoicesRequest.deserialize,
                    response_serializer=texttospeech_v1.ListVoicesResponse.serialize,
                ),
            },
        )
        self._server.add_generic_rpc_handlers((speech, tts))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{port}"

    def __enter__(self) -> FakeGoogle:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=0.5)

    # ------------------------------------------------------------------ STT
    def _recognize(self, requests: Any, context: grpc.ServicerContext) -> Any:
        log = StreamLog()
        with self._lock:
            self.streams.append(log)
        voiced_ms = 0
        words_out = 0
        for k, req in enumerate(requests):
            log.requests += 1
            size = req._pb.ByteSize()
            log.max_request_bytes = max(log.max_request_bytes, size)
            if k == 0:
                if not req.streaming_config.config.language_code:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "first request: no config")
                log.config = req.streaming_config
                continue
            if req.streaming_config.config.language_code:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "config sent twice")
            chunk = bytes(req.audio_content)
            log.audio += chunk
            if self.stream_texts is not None or not self.lines:
                continue
            pcm = ulaw_decode(chunk).astype(np.float64)
            if len(pcm) and float(np.sqrt(np.mean(pcm**2))) > VOICED_RMS:
                voiced_ms += len(pcm) // 8
            words = self.lines[0].split()
            due = min(voiced_ms // 300, len(words) - 1)
            if due > words_out:
                words_out = due
                yield _response(" ".join(words[:due]), final=False)
        with self._lock:
            if self.stream_texts is not None:
                texts = [self.stream_texts.pop(0)] if self.stream_texts else []
            else:
                n = _voiced_stretches(bytes(log.audio))
                texts = [self.lines.pop(0) for _ in range(min(n, len(self.lines)))]
        log.texts = texts
        if self.final_delay_s:
            time.sleep(self.final_delay_s)
        for text in texts:
            yield _response(text, final=True)

    # ------------------------------------------------------------------ TTS
    def _voices(self, req: Any, context: grpc.ServicerContext) -> Any:
        voices = [
            texttospeech_v1.Voice(language_codes=["he-IL"], name=n, natural_sample_rate_hertz=24000)
            for n in VOICES
            if not req.language_code or n.startswith(req.language_code)
        ]
        return texttospeech_v1.ListVoicesResponse(voices=voices)

    def _synthesize(self, req: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            self.syntheses.append(req)
        if self.fail_synthesis:
            context.abort(grpc.StatusCode.UNAVAILABLE, "fake: synthesis unavailable")
        cfg = req.audio_config
        rate = cfg.sample_rate_hertz or 24000
        n = int(rate * 0.07 * max(1, len(req.input.text)))
        t = np.arange(n) / rate
        pcm = (1500 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
        enc = texttospeech_v1.AudioEncoding
        if cfg.audio_encoding == enc.MULAW:
            if rate != 8000:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "fake: MULAW only at 8000")
            body = _wav(ulaw_encode(pcm), tag=7, rate=8000, bits=8)
        elif cfg.audio_encoding == enc.LINEAR16:
            body = _wav(pcm.tobytes(), tag=1, rate=rate, bits=16)
        else:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "fake: encoding not supported")
        return texttospeech_v1.SynthesizeSpeechResponse(audio_content=body)


def _response(text: str, final: bool) -> Any:
    return speech_v1.StreamingRecognizeResponse(
        results=[
            speech_v1.StreamingRecognitionResult(
                alternatives=[speech_v1.SpeechRecognitionAlternative(transcript=text)],
                is_final=final,
                stability=0.0 if final else 0.8,
            )
        ]
    )


def _wav(data: bytes, tag: int, rate: int, bits: int) -> bytes:
    block = bits // 8
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * block, block, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks
