"""The TTS phrase cache: a phrase said before is said again from memory, at 8 kHz,
bounded in bytes, never from a phrase that was cut off or failed."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets
from media_client import start_msg, stream_of

from voicectl import providers
from voicectl.audio.resample import resample
from voicectl.config import Settings
from voicectl.providers import Providers
from voicectl.sim.runner import InProcessServer
from voicectl.speech.tts.base import TTSError
from voicectl.speech.tts.cache import PhraseCache
from voicectl.speech.tts.espeak import EspeakTTS

GREETING = "שלום, הגעתם לספא. איך אפשר לעזור?"


class CountingTTS:
    """The real espeak-ng voice, counting what it is asked to synthesise."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.voice = EspeakTTS()
        self.name = self.voice.name
        self.sample_rate = self.voice.sample_rate
        self.asked: list[str] = []
        self.fail_on = fail_on

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.asked.append(text)
        for k, pcm in enumerate(self.voice.synthesize(text)):
            if text == self.fail_on and k == 1:
                raise TTSError("the voice broke off")
            yield pcm

    def warmup(self) -> None:
        self.voice.warmup()


def test_a_phrase_said_twice_is_synthesised_once_and_sounds_the_same() -> None:
    inner = CountingTTS()
    tts = PhraseCache(inner, 4 * 1024 * 1024)
    first = list(tts.synthesize(GREETING))
    again = list(tts.synthesize(GREETING))
    assert inner.asked == [GREETING]
    assert (tts.hits, tts.misses) == (1, 1)
    assert tts.sample_rate == 8000
    direct = [resample(c, inner.sample_rate, 8000) for c in EspeakTTS().synthesize(GREETING)]
    assert len(first) == len(again) == len(direct) > 1  # the voice's own chunking is kept
    for a, b, c in zip(first, again, direct, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    with pytest.raises(ValueError):  # what every later call will hear cannot be changed
        again[0][0] = 0


def test_the_cache_stays_within_its_bytes_and_forgets_the_least_recently_used() -> None:
    inner = CountingTTS()
    one = sum(c.nbytes for c in PhraseCache(CountingTTS(), 1 << 30).synthesize("אחת"))
    tts = PhraseCache(inner, int(one * 2.5))
    for text in ("אחת", "שתיים", "אחת", "שלוש"):  # "שתיים" is the least recently used
        list(tts.synthesize(text))
    assert tts.stored_bytes <= tts.max_bytes
    list(tts.synthesize("אחת"))
    list(tts.synthesize("שתיים"))
    assert inner.asked == ["אחת", "שתיים", "שלוש", "שתיים"]


def test_a_phrase_cut_off_or_failed_is_not_remembered() -> None:
    inner = CountingTTS(fail_on=GREETING)
    tts = PhraseCache(inner, 4 * 1024 * 1024)
    with pytest.raises(TTSError):
        list(tts.synthesize(GREETING))
    barged = tts.synthesize("שלום. מה השם שלך? ולאיזה טיפול?")
    next(barged)
    barged.close()  # barge-in: the rest of the reply is not synthesised
    list(tts.synthesize("שלום. מה השם שלך? ולאיזה טיפול?"))
    assert tts.hits == 0 and tts.stored_bytes > 0
    assert len(inner.asked) == 3


def test_providers_wrap_the_voice_unless_the_cache_is_off(tmp_path: Path) -> None:
    providers.reset_for_tests()
    try:
        on = Providers(Settings(database=str(tmp_path / "a.db")))
        off = Providers(Settings(database=str(tmp_path / "b.db"), tts_cache_mb=0))
    finally:
        providers.reset_for_tests()
    assert isinstance(on.tts, PhraseCache) and on.tts.max_bytes == 16 * 1024 * 1024
    assert on.tts.name == "espeak-ng" and on.tts.voice == "he"  # the provider's own
    assert isinstance(off.tts, EspeakTTS)


async def _greeted_call(base: str, n: int) -> bytes:
    """One call that hangs up once the greeting's first phrase is sent; its μ-law."""
    form = {"CallSid": f"CAcache{n:04d}", "From": "+972501234567", "To": "+97233000000"}
    url, params = stream_of(httpx.post(f"{base}/voice", data=form).text)
    sid = f"MZcache{n}"
    audio = b""
    async with websockets.connect(url) as ws:
        await ws.send(start_msg(form["CallSid"], sid, params))
        while (msg := json.loads(await asyncio.wait_for(ws.recv(), 10)))["event"] != "mark":
            if msg["event"] == "media":
                audio += base64.b64decode(msg["media"]["payload"])
        await ws.send(json.dumps({"event": "stop", "streamSid": sid, "stop": {}}))
    return audio


def test_a_second_caller_hears_the_greeting_from_the_cache_and_metrics_say_so(
    tmp_path: Path,
) -> None:
    providers.reset_for_tests()
    try:
        with InProcessServer(Settings(database=str(tmp_path / "srv.db"))) as srv:

            async def calls() -> list[bytes]:
                return [await _greeted_call(srv.http_base, n) for n in range(2)]

            first, second = asyncio.run(calls())
            time.sleep(0.2)
            text = httpx.get(f"{srv.http_base}/metrics").text
    finally:
        providers.reset_for_tests()
    figures = dict(re.findall(r"^(voicectl_tts_cache_\w+) (\d+)$", text, re.M))
    assert int(figures["voicectl_tts_cache_hits_total"]) >= 1
    assert int(figures["voicectl_tts_cache_misses_total"]) >= 1
    assert int(figures["voicectl_tts_cache_bytes"]) > 0
    # Played from memory on the event loop, the phrase is the same audio, frame for frame.
    assert len(first) >= 1600 and second == first
