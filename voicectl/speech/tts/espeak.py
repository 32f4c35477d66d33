"""Offline Hebrew TTS: espeak-ng, loaded through ctypes from the `espeakng-loader` wheel.

No system espeak and no apt: the shared library and its data directory ship inside the
`espeakng-loader` wheel (`espeakng_loader.get_library_path()` / `get_data_path()`).

The library keeps global state (one voice, one parameter set, one output callback), so this
module initialises it once per process (`espeak_Initialize` in synchronous mode, which
returns the sample rate: 22050 Hz) behind a module-level `threading.Lock`, and every
synthesis runs under that lock. The lock is taken per phrase, never across a `yield`, so a
slow consumer of one reply does not stall another call's synthesis.

Determinism: espeak-ng adds a pitch "flutter" whose phase, and a voice "roughness" whose
cycle counter, carry over from one utterance to the next (`wavegen.c`: `Flutter_ix`,
`cycle_count`), so by default the same text gives different samples on each call. The voice
used here is the language voice with ``flutter 0`` and ``roughness 8`` (= off), written to a
private voice file at start-up; before each phrase a fixed short sound ("[[m]]", ~0.1 ms)
is synthesised and discarded, because the synthesiser's state at the start of a phrase
depends on the last phoneme of the one before, and the noise generator is re-seeded
(`espeak_ng_SetRandSeed`). With that, the same text always gives the same samples, in any
order, from any thread and in any process (checked by the tests).

Pronunciation: the Hebrew voice knows few words and reads most unpointed words as bare
consonants, so number, time and date words go in as phonemes (`to_espeak_input`).

Run ``python -m voicectl.speech.tts.espeak --bench`` for synthesis timings, or
``--say TEXT --out reply.wav`` to listen to a reply.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
import wave
from collections.abc import Iterator

import numpy as np

from voicectl.speech.phrases import split_phrases
from voicectl.speech.text_normalize import normalize_for_tts
from voicectl.speech.tts.base import TTSError

__all__ = ["EspeakTTS", "split_phrases", "synthesize_pcm", "to_espeak_input"]

# speak_lib.h constants (espeak-ng 1.52).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PHONEME_INPUT = 0x100  # espeakPHONEMES: [[...]] in the text is phoneme mnemonics
_INITIALIZE_DONT_EXIT = 0x8000
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_EE_OK = 0
_BUFFER_MS = 200  # callback granularity in synchronous mode
_RAND_SEED = 1
_RESET_UTTERANCE = "[[m]]"  # ~0.1 ms; see _Engine.synth

#: Silence kept around each phrase, ms: before it, and after it by how the phrase ends.
_LEAD_MS = 10
_PAUSE_MS = {",": 120, ";": 200, ":": 200, ".": 250, "!": 250, "?": 250, "": 150}
_FINAL_PAUSE_MS = 60  # after the last phrase of a reply
_SILENCE_THRESHOLD = 64  # |sample| at or below this counts as silence (full scale 32767)

_VOICE_NAME = re.compile(r"^[A-Za-z0-9_-]{2,20}$")
# --- espeak-specific input: phonemes for the words numbers are spoken with -------------
#
# espeak-ng's Hebrew voice ("status testing", a ~70-entry dictionary) reads most unpointed
# words as bare consonants ("אחת" -> [ʔχt], "עשרים" -> [ʔʃrim]) and spells out vowel points
# by their Unicode names. The words `normalize_for_tts` produces for numbers, times and
# dates are a closed set, so they are passed as espeak phoneme mnemonics (``[[...]]`` with
# espeakPHONEMES) in standard Israeli pronunciation; other words go through as text.
# Mnemonics: S=ʃ X=χ R=ʁ ts=ʦ, ' before the stressed vowel.

_PHONEMES: dict[str, str] = {
    # cardinals, feminine / masculine
    "אפס": "'efes", "אחת": "a'Xat", "שתיים": "'Stajim", "שלוש": "Sa'loS", "ארבע": "'aRba",
    "חמש": "'XameS", "שש": "'SeS", "שבע": "'Seva", "שמונה": "Smo'ne", "תשע": "'teSa",
    "עשר": "'eseR", "אחד": "e'Xad", "שניים": "'Snajim", "שלושה": "Slo'Sa",
    "ארבעה": "aRba'a", "חמישה": "Xami'Sa", "שישה": "Si'Sa", "שבעה": "Siv'a",
    "תשעה": "tiS'a", "עשרה": "asa'Ra",
    "אחת עשרה": "a'Xat es'Re", "שתים עשרה": "'Stem es'Re", "שלוש עשרה": "'SloS es'Re",
    "ארבע עשרה": "aR'ba es'Re", "חמש עשרה": "'XameS es'Re", "שש עשרה": "'SeS es'Re",
    "שבע עשרה": "'Sva es'Re", "שמונה עשרה": "Smo'ne es'Re", "תשע עשרה": "'tSa es'Re",
    "אחד עשר": "a'Xad a'saR", "שנים עשר": "'Snejm a'saR", "שלושה עשר": "Slo'Sa a'saR",
    "ארבעה עשר": "aRba'a a'saR", "חמישה עשר": "Xami'Sa a'saR", "שישה עשר": "Si'Sa a'saR",
    "שבעה עשר": "Siv'a a'saR", "שמונה עשר": "Smo'na a'saR", "תשעה עשר": "tiS'a a'saR",
    "עשרים": "es'Rim", "שלושים": "Slo'Sim", "ארבעים": "aRba'im", "חמישים": "Xami'Sim",
    "שישים": "Si'Sim", "שבעים": "Siv'im", "שמונים": "Smo'nim", "תשעים": "tiS'im",
    "מאה": "me'a", "מאתיים": "ma'tajim", "מאות": "me'ot",
    "שלוש מאות": "'SloS me'ot", "ארבע מאות": "aR'ba me'ot", "חמש מאות": "'XameS me'ot",
    "שש מאות": "'SeS me'ot", "שבע מאות": "'Sva me'ot", "שמונה מאות": "Smo'ne me'ot",
    "תשע מאות": "'tSa me'ot",
    "אלף": "'elef", "אלפיים": "al'pajim", "אלפים": "ala'fim", "שלושת": "Slo'Set",
    "ארבעת": "aRba'at", "חמשת": "Xa'meSet", "ששת": "'SeSet", "שבעת": "Siv'at",
    "שמונת": "Smo'nat", "תשעת": "tiS'at", "עשרת": "a'seRet", "שתי": "Stej",
    # clock
    "רבע": "'Reva", "חצי": "'Xetsi", "דקה": "da'ka", "דקות": "da'kot", "בבוקר": "ba'boker",
    "בצהריים": "batsoho'Rajim", "אחר הצהריים": "a'XaR hatsoho'Rajim", "בערב": "ba'eRev",
    "בלילה": "ba'lajla", "עד": "ad",
    # calendar
    "ינואר": "janu'aR", "פברואר": "febRu'aR", "מרץ": "maRts", "אפריל": "ap'Ril",
    "מאי": "maj", "יוני": "'juni", "יולי": "'juli", "אוגוסט": "'ogust",
    "ספטמבר": "sep'tembeR", "אוקטובר": "ok'tobeR", "נובמבר": "no'vembeR",
    "דצמבר": "de'tsembeR", "יום": "jom", "ראשון": "Ri'Son", "שני": "Se'ni",
    "שלישי": "Sli'Si", "רביעי": "Revi'i", "חמישי": "Xami'Si", "שישי": "Si'Si",
    "שבת": "Sa'bat",
    # symbols and money
    "נקודה": "neku'da", "שקלים": "Seka'lim", "שקל": "'Sekel", "אגורות": "agu'Rot",
    "סולמית": "sul'amit", "כוכבית": "koXa'vit", "פלוס": "plus", "שטרודל": "'StRudel",
    "אחוז": "a'Xuz",
}  # fmt: skip
# "שני" before a counted noun is the construct "two" [ʃnej], otherwise "second"/Monday.
_CONSTRUCT_NOUNS = frozenset(
    "תורים ימים שבועות חודשים טיפולים עיסויים שקלים אחוזים אנשים מקומות לקוחות מטפלים "
    "חדרים מפגשים רגעים".split()
)
# One-letter prefixes: (before a vowel or a single consonant, before a consonant cluster).
_PREFIX_PHONEMES = {
    "ו": ("ve", "u"), "ב": ("be", "bi"), "ל": ("le", "li"), "ה": ("ha", "ha"),
    "מ": ("me", "mi"), "ש": ("Se", "Se"),
}  # fmt: skip
_MAX_KEY_WORDS = 2
_NIQQUD = re.compile("[\u0591-\u05bd\u05bf-\u05c7]")  # points and cantillation, not maqaf
_TOKEN = re.compile(r"[\u05d0-\u05ea]+|[^\u05d0-\u05ea]+")
_VOWELS = set("aeiou")


def _with_prefix(prefix: str, phonemes: str) -> str:
    bare = phonemes.replace("'", "").replace(",", "")
    cluster = len(bare) > 1 and bare[0] not in _VOWELS and bare[1] not in _VOWELS
    plain, before_cluster = _PREFIX_PHONEMES[prefix]
    if prefix == "ו" and bare[:1] in ("b", "m", "p"):
        return "u" + phonemes
    return (before_cluster if cluster else plain) + phonemes


def _lookup(words: list[str], i: int) -> tuple[str, int] | None:
    """Phonemes for the longest lexicon entry starting at word `i` (+ optional prefix)."""
    for n in range(min(_MAX_KEY_WORDS, len(words) - i), 0, -1):
        key = " ".join(words[i : i + n])
        nxt = words[i + n] if i + n < len(words) else ""
        for prefix, rest in (("", key), (key[:1], key[1:])):
            if prefix and prefix not in _PREFIX_PHONEMES:
                continue
            if rest == "שני" and nxt in _CONSTRUCT_NOUNS:
                found: str | None = "Snej"
            else:
                found = _PHONEMES.get(rest)
            if found is not None:
                return (_with_prefix(prefix, found) if prefix else found), n
    return None


def to_espeak_input(phrase: str) -> str:
    """Prepare normalised Hebrew text for espeak-ng: number words as phonemes.

    Vowel points and cantillation marks are removed (espeak-ng's Hebrew rules spell them
    out by name), and every word or two-word phrase of the number/time/date vocabulary that
    `normalize_for_tts` emits - optionally with a one-letter prefix "ו/ב/ל/ה/מ/ש" - is
    replaced by ``[[phonemes]]`` (synthesised with espeakPHONEMES). Other text is unchanged.

    Args:
        phrase: output of `normalize_for_tts` (or any Hebrew text).

    Returns:
        Text for `espeak_Synth` with phoneme input enabled, e.g.
        "בשתים עשרה ורבע" -> "[[bi'Stem es'Re ve'Reva]]".
    """
    phrase = _NIQQUD.sub("", phrase)
    tokens = _TOKEN.findall(phrase)
    word_at = [k for k, tok in enumerate(tokens) if "\u05d0" <= tok[0] <= "\u05ea"]
    words = [tokens[k] for k in word_at]
    out: list[str] = []
    pos = 0  # next token to copy
    i = 0
    while i < len(words):
        # Only join words separated by plain spaces into one lexicon key.
        hit = _lookup(words, i)
        if hit is not None and hit[1] > 1 and tokens[word_at[i] + 1] != " ":
            hit = _lookup(words[: i + 1], i)
        if hit is None:
            i += 1
            continue
        phonemes, n = hit
        out.extend(tokens[pos : word_at[i]])
        out.append(f"[[{phonemes}]]")
        pos = word_at[i + n - 1] + 1
        i += n
    out.extend(tokens[pos:])
    return "".join(out).replace("]] [[", " ")  # one block per run of phoneme words


class _Event(ctypes.Structure):
    """`espeak_EVENT` from speak_lib.h (only passed through; never read)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class _Engine:
    """The process-wide espeak-ng instance. Every method must be called with `_LOCK` held."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise TTSError("espeak-ng unavailable: install the espeakng-loader wheel") from exc
        try:
            lib_path = espeakng_loader.get_library_path()
            data_path = espeakng_loader.get_data_path()
            lib = ctypes.CDLL(lib_path)
        except (OSError, RuntimeError) as exc:
            raise TTSError(f"espeak-ng library not loadable: {exc}") from exc

        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByFile.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByFile.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int

        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise TTSError(f"espeak_Initialize failed ({rate}) with data at {data_path}")
        self.lib = lib
        self.sample_rate: int = rate
        self._chunks: list[bytes] = []
        self._callback = _SynthCallback(self._on_audio)  # keep a reference: C holds it
        lib.espeak_SetSynthCallback(self._callback)
        self._languages = {
            name.lower()
            for _root, _dirs, files in os.walk(os.path.join(data_path, "lang"))
            for name in files
        }
        self._voice_dir = tempfile.mkdtemp(prefix="voicectl-espeak-", dir=_voice_parent())
        atexit.register(shutil.rmtree, self._voice_dir, True)
        self._current_voice: str | None = None

    def _on_audio(self, wav: ctypes._Pointer, n: int, _events: ctypes._Pointer) -> int:
        if n > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, n * 2))
        return 0  # 0 = continue synthesis

    def use_voice(self, voice: str) -> None:
        """Select the steady (flutter/roughness off) variant of language voice `voice`."""
        if voice == self._current_voice:
            return
        if not _VOICE_NAME.match(voice) or voice.lower() not in self._languages:
            raise TTSError(f"unknown espeak-ng language voice {voice!r}")
        path = os.path.join(self._voice_dir, voice)
        if not os.path.exists(path):
            os.makedirs(self._voice_dir, exist_ok=True)
            with open(path, "w", encoding="ascii") as fh:
                fh.write(f"name voicectl-{voice}\nlanguage {voice}\nflutter 0\nroughness 8\n")
        status = self.lib.espeak_SetVoiceByFile(path.encode())
        if status != _EE_OK:
            raise TTSError(f"espeak-ng voice {voice!r} not found (status {status})")
        self._current_voice = voice

    def synth(self, text: str, voice: str, rate_wpm: int, pitch: int, volume: int) -> np.ndarray:
        """Synthesise one phrase; int16 PCM at `sample_rate` (untrimmed)."""
        self.use_voice(voice)
        self.lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        self.lib.espeak_SetParameter(_PARAM_VOLUME, volume, 0)
        # Reset the synthesiser's carry-over from the previous phrase (it depends on that
        # phrase's last phoneme) by speaking a fixed short sound first, then discarding it.
        self._run(_RESET_UTTERANCE)
        self.lib.espeak_ng_SetRandSeed(_RAND_SEED)
        return np.frombuffer(b"".join(self._run(text)), dtype="<i2").astype(np.int16)

    def _run(self, text: str) -> list[bytes]:
        data = text.encode("utf-8") + b"\0"
        self._chunks = []
        status = self.lib.espeak_Synth(
            data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _PHONEME_INPUT, None, None
        )
        if status == _EE_OK:
            status = self.lib.espeak_Synchronize()
        chunks, self._chunks = self._chunks, []
        if status != _EE_OK:
            raise TTSError(f"espeak_Synth failed (status {status}) for {text[:40]!r}")
        return chunks


def _voice_parent() -> str:
    """A writable directory for the generated voice files whose path has no upper-case
    letter: espeak-ng lower-cases the path given to `espeak_SetVoiceByFile`, so a voice
    under e.g. `TMPDIR=/tmp/Build` is "not found" and every reply is silent.

    Raises:
        TTSError: no such directory (the message says what to set).
    """
    candidates = [tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"]
    for path in candidates:
        if path == path.lower() and os.path.isdir(path) and os.access(path, os.W_OK):
            return path
    raise TTSError(
        "espeak-ng needs a writable directory whose path has no upper-case letters for its "
        f"voice files; tried {candidates} - set TMPDIR to one"
    )


_LOCK = threading.Lock()
_ENGINE: _Engine | None = None


def _reset_lock_after_fork() -> None:  # pragma: no cover - exercised only by forking servers
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_after_fork)


def _engine_locked() -> _Engine:
    """The process-wide engine, created on first use. Call with `_LOCK` held."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE


def _trim(pcm: np.ndarray, sample_rate: int, pause_ms: int) -> np.ndarray:
    """Keep `_LEAD_MS` before the first and exactly `pause_ms` after the last audible sample."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > _SILENCE_THRESHOLD)
    if loud.size == 0:
        return pcm[:0]
    lead = sample_rate * _LEAD_MS // 1000
    start = max(0, int(loud[0]) - lead)
    end = int(loud[-1]) + 1
    pad = np.zeros(sample_rate * pause_ms // 1000, dtype=np.int16)
    return np.concatenate([pcm[start:end], pad])


class EspeakTTS:
    """The offline Hebrew synthesiser (espeak-ng), implementing the `TTS` protocol.

    Creating the first instance initialises espeak-ng for the whole process (~tens of ms);
    further instances share it. Instances are cheap and thread-safe; calls are serialised
    phrase by phrase on one process-wide lock.

    Attributes:
        name: "espeak-ng".
        sample_rate: Hz of the PCM yielded (22050, as returned by `espeak_Initialize`).
    """

    name = "espeak-ng"

    def __init__(
        self,
        voice: str = "he",
        rate_wpm: int = 165,
        pitch: int = 50,
        volume: int = 100,
        phonetic_numbers: bool = True,
    ) -> None:
        """Create a synthesiser; initialises the shared engine if this is the first one.

        Args:
            voice: espeak-ng language voice ("he"); its steady variant is used.
            rate_wpm: speaking rate, words per minute (espeak-ng accepts 80..450).
            pitch: base pitch, 0..100 (espeak-ng default 50).
            volume: amplitude, 0..200 (espeak-ng default 100).
            phonetic_numbers: pass number/time/date words as phonemes (`to_espeak_input`);
                False sends the normalised text as it is (espeak then reads most of those
                words without vowels).

        Raises:
            TTSError: the library or its data cannot be loaded, or the voice is unknown.
            ValueError: a parameter is out of range.
        """
        if not 80 <= rate_wpm <= 450:
            raise ValueError(f"rate_wpm must be 80..450, got {rate_wpm}")
        if not 0 <= pitch <= 100:
            raise ValueError(f"pitch must be 0..100, got {pitch}")
        if not 0 <= volume <= 200:
            raise ValueError(f"volume must be 0..200, got {volume}")
        self.voice = voice
        self.rate_wpm = rate_wpm
        self.pitch = pitch
        self.volume = volume
        self.phonetic_numbers = phonetic_numbers
        with _LOCK:
            engine = _engine_locked()
            engine.use_voice(voice)  # fail now, not on the first call
            self.sample_rate: int = engine.sample_rate

    def _synth_phrase(self, phrase: str) -> np.ndarray:
        if self.phonetic_numbers:
            phrase = to_espeak_input(phrase)
        else:
            phrase = _NIQQUD.sub("", phrase)
        with _LOCK:
            try:
                return _engine_locked().synth(
                    phrase, self.voice, self.rate_wpm, self.pitch, self.volume
                )
            except TTSError:
                raise
            except Exception as exc:  # ctypes / encoding failures
                raise TTSError(f"espeak-ng synthesis failed: {exc}") from exc

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Yield mono int16 PCM at `sample_rate`, one chunk per phrase, as each is ready.

        The text is normalised (`normalize_for_tts`: numbers, times, dates, phone numbers
        to words), split at sentence/clause punctuation (`split_phrases`), number words are
        given as phonemes (`to_espeak_input`), and each phrase is synthesised separately and
        trimmed to 10 ms of leading silence and a pause after it that follows its
        punctuation (comma 120 ms, sentence end 250 ms, last phrase 60 ms). Phrases
        that produce no audio are skipped; empty text yields nothing.

        Args:
            text: Hebrew reply text.

        Yields:
            1-D `np.int16` arrays.

        Raises:
            TTSError: espeak-ng failed.
        """
        phrases = split_phrases(normalize_for_tts(text))
        for i, phrase in enumerate(phrases):
            last = i == len(phrases) - 1
            pause = _FINAL_PAUSE_MS if last else _PAUSE_MS.get(phrase[-1], _PAUSE_MS[""])
            pcm = _trim(self._synth_phrase(phrase), self.sample_rate, pause)
            if pcm.size:
                yield pcm

    def warmup(self) -> None:
        """Synthesise one short phrase so page faults and voice loading are paid now.

        Raises:
            TTSError: espeak-ng failed.
        """
        for _ in self.synthesize("שלום, 12:30."):
            pass


_PCM_TTS: dict[int | None, EspeakTTS] = {}


def synthesize_pcm(text: str, rate_wpm: int | None = None) -> tuple[np.ndarray, int]:
    """Synthesise a whole utterance at once (simulated caller audio, fixtures).

    Deterministic: the same text and rate always give the same samples, in any process.

    Args:
        text: Hebrew text (normalised like `EspeakTTS.synthesize`).
        rate_wpm: speaking rate; None = the `EspeakTTS` default (165 wpm).

    Returns:
        (pcm, sample_rate): the concatenated phrases as 1-D `np.int16` (empty for text with
        nothing to say) and their rate in Hz (22050).

    Raises:
        TTSError: espeak-ng failed.
    """
    tts = _PCM_TTS.get(rate_wpm)
    if tts is None:
        tts = EspeakTTS() if rate_wpm is None else EspeakTTS(rate_wpm=rate_wpm)
        _PCM_TTS[rate_wpm] = tts
    chunks = list(tts.synthesize(text))
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return pcm, tts.sample_rate


# --- command line: benchmark and listening ------------------------------------------------

_BENCH_TEXTS = {  # replies of 12 and 24 words as written (numbers count as one word)
    12: "שלום, יש לנו תור פנוי מחר ב-12:00 לעיסוי שוודי. זה מתאים לך?",
    24: (
        "מצאתי שני תורים פנויים ביום שני, 21/11: ב-9:30 או ב-14:45. "
        "הטיפול נמשך 60 דקות. איזה מהם מתאים לך, ומה השם להזמנה, בבקשה? תודה רבה."
    ),
}


def _bench(runs: int) -> None:
    t0 = time.perf_counter()
    tts = EspeakTTS()
    init_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    tts.warmup()
    warm_ms = (time.perf_counter() - t0) * 1000
    print(
        f"espeak-ng: sample_rate={tts.sample_rate} Hz, init {init_ms:.1f} ms, "
        f"warmup {warm_ms:.1f} ms, {runs} runs each"
    )
    for words, text in _BENCH_TEXTS.items():
        totals, firsts, norm = [], [], []
        audio_s, n_chunks = 0.0, 0
        for _ in range(runs):
            t0 = time.perf_counter()
            normalize_for_tts(text)
            norm.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            first = None
            samples = n_chunks = 0
            for chunk in tts.synthesize(text):
                if first is None:
                    first = (time.perf_counter() - t0) * 1000
                samples += chunk.size
                n_chunks += 1
            totals.append((time.perf_counter() - t0) * 1000)
            firsts.append(first or 0.0)
            audio_s = samples / tts.sample_rate
        med_total = statistics.median(totals)
        print(
            f"{words:2d} words ({len(normalize_for_tts(text).split())} spoken): "
            f"audio {audio_s:.2f} s in "
            f"{n_chunks} chunks | synth median {med_total:.1f} ms "
            f"(p95 {sorted(totals)[int(0.95 * (runs - 1))]:.1f}) | first chunk median "
            f"{statistics.median(firsts):.1f} ms | normalise {statistics.median(norm):.2f} ms"
            f" | RTF {med_total / 1000 / audio_s:.4f}"
        )


def _say(text: str, out: str, rate_wpm: int | None) -> None:
    pcm, rate = synthesize_pcm(text, rate_wpm)
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.astype("<i2").tobytes())
    print(f"{out}: {pcm.size / rate:.2f} s at {rate} Hz | {normalize_for_tts(text)}")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--bench [--runs N]`` or ``--say TEXT --out FILE.wav [--rate WPM]``."""
    parser = argparse.ArgumentParser(prog="python -m voicectl.speech.tts.espeak")
    parser.add_argument("--bench", action="store_true", help="print synthesis timings")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--say", help="text to synthesise into --out")
    parser.add_argument("--out", default="espeak.wav")
    parser.add_argument("--rate", type=int, default=None, help="words per minute")
    args = parser.parse_args(argv)
    if args.bench:
        _bench(max(1, args.runs))
    if args.say:
        _say(args.say, args.out, args.rate)
    if not (args.bench or args.say):
        parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
