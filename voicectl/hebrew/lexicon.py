"""The lexicon of spoken date and time words, and reading numbers in a transcript.

`analyses(word)` lists every reading of a written word as prefix + lexicon stem + category
("וביום" -> ו+ב + "יום", a MARK; "בשלוש" -> ב + "שלוש", a CARDINAL 3 feminine), shortest
prefix first; `parse_number_words` reads a cardinal 0..59 from words (teens, tens with
"ו"). The date/time resolver (`voicectl.hebrew.when`) scans a transcript with these.

Source: the vocabularies of `voicectl.hebrew.numbers` and `voicectl.hebrew.calendar`, and
how Google STT he-IL writes numbers (digits, "ב-12", "16:00") or words. Nothing here raises;
lookups of unknown words return ``None`` / empty results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from voicectl.hebrew.calendar import HEB_WEEKDAY, MONTH_NUMBERS, PART_WORDS, RELDAYS
from voicectl.hebrew.numbers import BOTH, CARDINALS, TEEN_WORDS, TENS_WORDS
from voicectl.hebrew.prefixes import Prefix, split_prefix

__all__ = ["Analysis", "analyses", "lookup", "parse_number_words", "words_to_int"]

# --- categories of lexicon entries -------------------------------------------------------
CARDINAL = "num"  # a cardinal 0..10 (value, gender)
TEEN = "teen"  # the "עשר/עשרה" that makes 11..19 after a unit
TENS = "tens"  # 20, 30, 40, 50
FUSED = "fused"  # 11..19 written as one word ("אחתעשרה")
HALF = "half"  # חצי
QUARTER = "quarter"  # רבע
WEEKDAY = "weekday"  # Python weekday 0=Mon .. 6=Sun
RELDAY = "relday"  # 0 today, 1 tomorrow, 2 the day after
PART = "part"  # part of day
MONTH = "month"  # 1..12
UNIT = "unit"  # duration / counting unit, value = (kind, count) e.g. ("day", 2) for יומיים
MARK = "mark"  # a function word, value = canonical form

# Units: (kind, count). kind in day/week/month/hour/minute/other (blocks a time reading).
_UNITS: dict[str, tuple[str, int]] = {
    "יום": ("day", 1),
    "ימים": ("day", 0),
    "יומיים": ("day", 2),
    "יומים": ("day", 2),
    "שבוע": ("week", 1),
    "שבועות": ("week", 0),
    "שבועיים": ("week", 2),
    "שבועים": ("week", 2),
    "חודש": ("month", 1),
    "חודשים": ("month", 0),
    "חודשיים": ("month", 2),
    "חודשים ": ("month", 0),
    "שעה": ("hour", 1),
    "שעות": ("hour", 0),
    "שעתיים": ("hour", 2),
    "שעתים": ("hour", 2),
    "דקה": ("minute", 1),
    "דקות": ("minute", 0),
    "שנה": ("other", 1),
    "שנים": ("other", 0),
    "אנשים": ("other", 0),
    "איש": ("other", 0),
    "נשים": ("other", 0),
    "גברים": ("other", 0),
    "ילדים": ("other", 0),
    "אורחים": ("other", 0),
    "משתתפים": ("other", 0),
    "טיפולים": ("other", 0),
    "טיפול": ("other", 1),
    "תורים": ("other", 0),
    "פעמים": ("other", 0),
    "פעם": ("other", 1),
    "שקל": ("other", 1),
    "שקלים": ("other", 0),
    'ש"ח': ("other", 0),
    "שח": ("other", 0),
    "אחוז": ("other", 0),
    "מטפלים": ("other", 0),
    "מטפלות": ("other", 0),
    "מקומות": ("other", 0),
    "כיסאות": ("other", 0),
    "חדרים": ("other", 0),
    "עיסויים": ("other", 0),
    "ספרות": ("other", 0),
    "מספרים": ("other", 0),
    'ק"מ': ("other", 0),
    "קילו": ("other", 0),
    "ימי": ("day", 0),
}

_MARKS = {
    # canonical form: spellings
    "שעה": ("שעה",),
    "שעות": ("שעות",),
    "עוד": ("עוד",),
    "תוך": ("תוך",),
    "עכשיו": ("עכשיו", "עכשו"),
    "בא": ("בא", "באה"),
    "קרוב": ("קרוב", "קרובה"),
    "זה": ("זה", "זאת", "זו"),
    "שבוע": ("שבוע",),
    "סוף": ("סוף", 'סופ"ש', "סופש"),
    "חודש": ("חודש",),
    "אחר": ("אחר", "אחרי"),
    "לפני": ("לפני",),
    "לפנות": ("לפנות",),
    "עד": ("עד",),
    "סביב": ("סביב", "סביבות", "בסביבות"),
    "בערך": ("בערך",),
    "בין": ("בין",),
    "או": ("או",),
    "לא": ("לא",),
    "יום": ("יום",),
    "מהיום": ("מהיום", "מעכשיו"),
    "כמה": ("כמה",),
    "דיוק": ("דיוק",),
    "של": ("של",),
}


def _build_lexicon() -> dict[str, tuple[tuple[str, object], ...]]:
    lex: dict[str, list[tuple[str, object]]] = {}

    def add(word: str, cat: str, value: object) -> None:
        lex.setdefault(word, []).append((cat, value))

    for w, (v, g, bare) in CARDINALS.items():
        add(w, CARDINAL, (v, g, bare))
    for w in TEEN_WORDS:
        add(w, TEEN, 10)
    for w, v in TENS_WORDS.items():
        add(w, TENS, v)
    # fused teens: "אחתעשרה", "שתיםעשרה", "שתיםעשר", ...
    for w, (v, g, _bare) in CARDINALS.items():
        if 1 <= v <= 9:
            for t in TEEN_WORDS:
                add(w + t, FUSED, (10 + v, g))
    add("חצי", HALF, 30)
    add("רבע", QUARTER, 15)
    for w, v in HEB_WEEKDAY.items():
        add(w, WEEKDAY, v)
    for w, v in MONTH_NUMBERS.items():
        add(w, MONTH, v)
    for w, v in RELDAYS.items():
        add(w, RELDAY, v)
    for w, v in PART_WORDS.items():
        add(w, PART, v)
    for w, v in _UNITS.items():
        add(w.strip(), UNIT, v)
    for canon, spellings in _MARKS.items():
        for w in spellings:
            add(w, MARK, canon)
    return {k: tuple(v) for k, v in lex.items()}


_LEXICON = _build_lexicon()


@dataclass(frozen=True, slots=True)
class Analysis:
    """One reading of a written word: prefix + lexicon stem.

    Attributes:
        prefix: the split-off prefix.
        stem: the lexicon word.
        cat: lexicon category (module constants CARDINAL, WEEKDAY, PART, ...).
        value: category-specific value.
    """

    prefix: Prefix
    stem: str
    cat: str
    value: object


@lru_cache(maxsize=4096)
def analyses(word: str) -> tuple[Analysis, ...]:
    """All lexicon readings of `word`, shortest prefix first.

    Args:
        word: one normalised Hebrew word (no niqqud), e.g. "וביום", "בשלוש".

    Returns:
        A tuple of `Analysis` (possibly empty). Never raises.
    """
    out: list[Analysis] = []
    for k in range(0, min(4, len(word) - 1) + 1):
        if k and word[k - 1] not in "ושבלמכה":
            break
        stem = word[k:]
        entries = _LEXICON.get(stem)
        if not entries:
            continue
        pre = split_prefix(word[:k])
        if pre is None:
            continue
        for cat, value in entries:
            out.append(Analysis(pre, stem, cat, value))
    return tuple(out)


def lookup(word: str, cat: str) -> Analysis | None:
    """The first (shortest-prefix) reading of `word` in category `cat`, or None."""
    for a in analyses(word):
        if a.cat == cat:
            return a
    return None


def parse_number_words(
    words: list[str] | tuple[str, ...], i: int = 0, first: Analysis | None = None
) -> tuple[int, str, int, bool] | None:
    """Parse a Hebrew cardinal 0..59 starting at ``words[i]``.

    Handles units (אחת..עשר, both genders and spellings), teens as two words or one
    ("אחת עשרה", "שתים-עשרה" once the hyphen is a separator, "אחתעשרה"), tens with an
    optional "ו"+unit ("עשרים וחמש").

    Args:
        words: normalised words (prefixes still attached).
        i: index of the first word.
        first: an already chosen analysis of ``words[i]`` (to respect its prefix);
            default: the first CARDINAL/TENS/FUSED reading.

    Returns:
        ``(value, gender, n_words, bare_ok)`` - gender "f"/"m"/"b"; ``bare_ok`` is False
        for construct forms (שתי, שני, שנים, אחד) that are not hour words on their own;
        or None when ``words[i]`` is not a number word.
    """
    if i >= len(words):
        return None
    a = first
    if a is None:
        for cand in analyses(words[i]):
            if cand.cat in (CARDINAL, TENS, FUSED):
                a = cand
                break
    if a is None:
        return None
    if a.cat == FUSED:
        v, g = a.value  # type: ignore[misc]
        return v, g, 1, True
    if a.cat == TENS:
        v = int(a.value)  # type: ignore[arg-type]
        if i + 1 < len(words):
            nxt = words[i + 1]
            if nxt.startswith("ו") and len(nxt) > 1:
                u = CARDINALS.get(nxt[1:])
                if u is not None and 1 <= u[0] <= 9:
                    return v + u[0], u[1], 2, True
        return v, BOTH, 1, True
    if a.cat != CARDINAL:
        return None
    v, g, bare = a.value  # type: ignore[misc]
    if 1 <= v <= 9 and i + 1 < len(words) and words[i + 1] in TEEN_WORDS:
        return 10 + v, g, 2, True
    return v, g, 1, bare


def words_to_int(text: str) -> int | None:
    """Convert a short Hebrew number phrase to an int (0..59), e.g. "עשרים וחמש" -> 25.

    Args:
        text: the phrase; hyphens and maqaf count as spaces; no prefixes.

    Returns:
        The value, or None if the whole phrase is not one number. Never raises.
    """
    words = re.split(r"[\s\-\u05BE]+", (text or "").strip())
    words = [w for w in words if w]
    if not words:
        return None
    r = parse_number_words(words, 0)
    if r is None or r[2] != len(words):
        return None
    return r[0]
