"""The offline espeak-ng synthesiser (voicectl.speech.tts.espeak) and the TTS factory."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from voicectl.hebrew.calendar import date_to_words, time_to_words, weekday_to_words
from voicectl.hebrew.numbers import number_to_words
from voicectl.speech.tts import TTSError
from voicectl.speech.tts.espeak import (
    EspeakTTS,
    split_phrases,
    synthesize_pcm,
    to_espeak_input,
)

SENTENCE = "שלום, יש לנו תור פנוי מחר ב-12:00 לעיסוי שוודי. זה מתאים לך?"
OTHER = "מצאתי שני תורים פנויים ביום שני, 21/11: ב-9:30 או ב-14:45."


@pytest.fixture(scope="module")
def tts() -> EspeakTTS:
    engine = EspeakTTS()
    engine.warmup()
    return engine


def _rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


def test_identity(tts: EspeakTTS) -> None:
    assert tts.name == "espeak-ng"
    assert tts.sample_rate == 22050


def test_sentence_is_audible_with_plausible_duration(tts: EspeakTTS) -> None:
    chunks = list(tts.synthesize(SENTENCE))
    assert chunks and all(c.dtype == np.int16 and c.ndim == 1 for c in chunks)
    pcm = np.concatenate(chunks)
    assert _rms(pcm) > 1000  # clearly not silence (full scale 32767)
    assert int(np.abs(pcm.astype(np.int32)).max()) > 8000
    words = len(SENTENCE.split())
    seconds = pcm.size / tts.sample_rate
    # espeak-ng Hebrew at 165 wpm measures ~0.4 s per written word, pauses included.
    assert 0.15 * words <= seconds <= 0.5 * words, seconds


def test_faster_rate_gives_shorter_audio() -> None:
    slow, _ = synthesize_pcm(SENTENCE, rate_wpm=140)
    fast, _ = synthesize_pcm(SENTENCE, rate_wpm=220)
    assert fast.size < 0.8 * slow.size


def test_leading_and_trailing_silence_trimmed(tts: EspeakTTS) -> None:
    for chunk in tts.synthesize(SENTENCE):
        loud = np.flatnonzero(np.abs(chunk.astype(np.int32)) > 64)
        assert loud[0] <= tts.sample_rate * 0.011  # <= 10 ms lead
        assert chunk.size - loud[-1] <= tts.sample_rate * 0.251  # <= 250 ms pause


def test_two_sentences_give_several_chunks(tts: EspeakTTS) -> None:
    chunks = list(tts.synthesize("שלום. מה שלומך?"))
    assert len(chunks) == 2


def test_first_chunk_is_yielded_before_the_rest_is_synthesised(tts: EspeakTTS) -> None:
    gen = tts.synthesize(OTHER)
    first = next(gen)
    assert first.size > 0
    assert len(list(gen)) >= 1


def test_empty_text_yields_nothing(tts: EspeakTTS) -> None:
    assert list(tts.synthesize("")) == []
    assert list(tts.synthesize(" ... , ")) == []
    pcm, rate = synthesize_pcm("")
    assert pcm.size == 0 and pcm.dtype == np.int16 and rate == 22050


def test_synthesize_pcm_is_deterministic() -> None:
    first, rate = synthesize_pcm(SENTENCE)
    synthesize_pcm(OTHER)  # engine state in between must not matter
    synthesize_pcm("כן")
    second, _ = synthesize_pcm(SENTENCE)
    assert rate == 22050
    assert np.array_equal(first, second)


def test_synthesize_pcm_equals_concatenated_chunks(tts: EspeakTTS) -> None:
    pcm, _ = synthesize_pcm(OTHER)
    assert np.array_equal(pcm, np.concatenate(list(tts.synthesize(OTHER))))


def _digest_in_new_process(text: str) -> str:
    code = (
        "import hashlib, sys\n"
        "from voicectl.speech.tts.espeak import synthesize_pcm\n"
        "pcm, _ = synthesize_pcm(sys.argv[1])\n"
        "print(hashlib.sha256(pcm.tobytes()).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, text], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_synthesize_pcm_is_deterministic_across_processes() -> None:
    here = hashlib.sha256(synthesize_pcm(SENTENCE)[0].tobytes()).hexdigest()
    assert _digest_in_new_process(SENTENCE) == here


def test_concurrent_synthesis_is_correct(tts: EspeakTTS) -> None:
    texts = [SENTENCE, OTHER]
    reference = [np.concatenate(list(tts.synthesize(t))) for t in texts]
    results: dict[int, list[np.ndarray]] = {0: [], 1: []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(k: int) -> None:
        try:
            start.wait()
            local = EspeakTTS()
            for _ in range(8):
                results[k].append(np.concatenate(list(local.synthesize(texts[k]))))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    for k in (0, 1):
        assert len(results[k]) == 8
        for pcm in results[k]:
            assert np.array_equal(pcm, reference[k])


def test_split_phrases() -> None:
    assert split_phrases("שלום, מה שלומך? תודה.") == ["שלום,", "מה שלומך?", "תודה."]
    assert split_phrases("") == []
    assert split_phrases(" , . ") == []


def test_to_espeak_input_uses_phonemes_for_number_words() -> None:
    assert to_espeak_input("בשתים עשרה ורבע") == "[[bi'Stem es'Re ve'Reva]]"
    assert to_espeak_input("יש שני תורים ביום שני") == "יש [[Snej]] תורים [[bejom Se'ni]]"
    assert to_espeak_input("שָׁלוֹם") == "שלום"  # vowel points dropped
    assert to_espeak_input("hello") == "hello"


def test_every_generated_number_word_has_phonemes() -> None:
    samples: list[str] = []
    samples += [number_to_words(n, g) for n in range(0, 2100) for g in ("f", "m")]
    samples += [number_to_words(n, g) for n in range(2100, 1_000_000, 997) for g in "fm"]
    samples += ["ב" + time_to_words(h, m, period=True) for h in range(24) for m in range(60)]
    samples += ["ה" + date_to_words(d, m, 2026) for m in range(1, 13) for d in range(1, 32)]
    samples += [weekday_to_words(d) for d in range(7)]
    for text in samples:
        left = re.sub(r"\[\[.*?\]\]", "", to_espeak_input(text))
        assert not re.search("[\u05d0-\u05ea]", left), (text, to_espeak_input(text))


def test_bad_options_raise() -> None:
    with pytest.raises(TTSError):
        EspeakTTS(voice="no such voice!")
    with pytest.raises(TTSError):
        EspeakTTS(voice="xx-nonexistent")
    with pytest.raises(ValueError):
        EspeakTTS(rate_wpm=10)
    with pytest.raises(ValueError):
        EspeakTTS(pitch=101)


def test_bench_cli_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from voicectl.speech.tts.espeak import main

    assert main(["--bench", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "12 words" in out and "24 words" in out and "RTF" in out


def test_synthesis_works_when_tmpdir_has_upper_case_letters(tmp_path: Path) -> None:
    """espeak-ng lower-cases voice file paths: a TMPDIR like /tmp/Build made every reply
    silent ("voice 'he' not found"; issue 6 item 8). Fresh process: one engine each."""
    upper = tmp_path / "Upper Case TMP"
    upper.mkdir()
    code = (
        "from voicectl.speech.tts.espeak import synthesize_pcm\n"
        "print(len(synthesize_pcm('שלום')[0]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TMPDIR": str(upper)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-500:]
    assert int(out.stdout.strip()) > 1000
