"""Hebrew lexicon for spoken dates and times: prefixes, number words, weekdays, months.

Spoken Hebrew glues one-letter prefixes onto words (ו "and", ש "that", כש "when",
ב "at/in", ל "to/for", מ "from", כ "about", ה "the"), so "וביום", "שבשלוש" and "לחמישי"
must be split before a lexicon lookup. Number words come in two genders (hours are
feminine: "בשלוש"; people and days masculine: "שלושה ימים") and in two spellings
(with or without the extra yod: שתיים/שתים, צהריים/צהרים, שלוש/שלש).

Source of the rules: standard Modern Hebrew grammar (prefix order ו -> ש/כש -> ב/כ/ל/מ
-> ה) and how Google STT he-IL writes numbers (digits, "ב-12", "16:00") or words.

Nothing here raises; lookups of unknown words return ``None`` / empty results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "Prefix",
    "Analysis",
    "analyses",
    "lookup",
    "split_prefix",
    "parse_number_words",
    "words_to_int",
    "HEB_WEEKDAY",
    "MONTHS",
]

# --- categories of lexicon entries -------------------------------------------------------
NUM = "num"  # a cardinal 0..10 (value, gender)
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

FEM, MASC, BOTH = "f", "m", "b"

# Cardinals. Construct forms (שתי, שני) and "שנים" (also "years") are kept so
# teens and "שני ימים" parse, but flagged as not usable as a bare hour.
_CARDINALS: dict[str, tuple[int, str, bool]] = {
    # word: (value, gender, usable as a bare hour word)
    "אפס": (0, BOTH, False),
    "אחת": (1, FEM, True),
    "אחד": (1, MASC, False),
    "שתיים": (2, FEM, True),
    "שתים": (2, FEM, True),
    "שתי": (2, FEM, False),
    "שניים": (2, MASC, False),
    "שנים": (2, MASC, False),
    "שני": (2, MASC, False),
    "שלוש": (3, FEM, True),
    "שלש": (3, FEM, True),
    "שלושה": (3, MASC, True),
    "שלשה": (3, MASC, True),
    "ארבע": (4, FEM, True),
    "ארבעה": (4, MASC, True),
    "חמש": (5, FEM, True),
    "חמישה": (5, MASC, True),
    "חמשה": (5, MASC, True),
    "שש": (6, FEM, True),
    "שישה": (6, MASC, True),
    "ששה": (6, MASC, True),
    "שבע": (7, FEM, True),
    "שבעה": (7, MASC, True),
    "שמונה": (8, BOTH, True),
    "תשע": (9, FEM, True),
    "תשעה": (9, MASC, True),
    "עשר": (10, FEM, True),
    "עשרה": (10, MASC, True),
}
_TENS = {
    "עשרים": 20,
    "שלושים": 30,
    "שלשים": 30,
    "ארבעים": 40,
    "חמישים": 50,
    "חמשים": 50,
}
_TEEN_WORDS = ("עשר", "עשרה")

# Python weekday numbers (Mon=0 .. Sun=6) of the Hebrew day names.
HEB_WEEKDAY: dict[str, int] = {
    "ראשון": 6,
    "שני": 0,
    "שלישי": 1,
    "רביעי": 2,
    "חמישי": 3,
    "חמשי": 3,
    "שישי": 4,
    "ששי": 4,
    "שבת": 5,
}
# "יום א'" .. "יום ש'" (letter names of the days); only valid right after "יום".
WEEKDAY_LETTERS: dict[str, int] = {
    "א'": 6,
    "ב'": 0,
    "ג'": 1,
    "ד'": 2,
    "ה'": 3,
    "ו'": 4,
    "ש'": 5,
}
# Ordinal day-of-month words ("הראשון לחודש", "שלישי בדצמבר").
ORDINALS: dict[str, int] = {
    "ראשון": 1,
    "שני": 2,
    "שלישי": 3,
    "רביעי": 4,
    "חמישי": 5,
    "שישי": 6,
    "שביעי": 7,
    "שמיני": 8,
    "תשיעי": 9,
    "עשירי": 10,
}

MONTHS: dict[str, int] = {
    "ינואר": 1,
    "פברואר": 2,
    "מרץ": 3,
    "מרס": 3,
    "אפריל": 4,
    "מאי": 5,
    "יוני": 6,
    "יולי": 7,
    "אוגוסט": 8,
    "ספטמבר": 9,
    "אוקטובר": 10,
    "נובמבר": 11,
    "דצמבר": 12,
}

_RELDAYS = {
    "היום": 0,
    "מחר": 1,
    "מחרתיים": 2,
    "מחרתים": 2,
    "מחרותיים": 2,
}

# Parts of day. "צהריים" alone is noon; after "אחר/אחרי" it is afternoon.
_PARTS = {
    "בוקר": "morning",
    "צהריים": "noon",
    "צהרים": "noon",
    "ערב": "evening",
    "לילה": "night",
    'אחה"צ': "afternoon",
    "אחהצ": "afternoon",
    "אחה'צ": "afternoon",
    'לפנה"צ': "morning",
    "לפנהצ": "morning",
    "חצות": "midnight",
    'מוצ"ש': "saturday_night",
    "מוצש": "saturday_night",
    "מוצאי": "motzei",
}

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


@dataclass(frozen=True, slots=True)
class Prefix:
    """The prefix letters split off a word.

    Attributes:
        raw: the letters as written ("" when none), e.g. "וב".
        conj: ו ("and") present.
        rel: ש or כש ("that"/"when") present.
        prep: one of "ב", "ל", "מ", "כ" or "" (the preposition).
        det: ה ("the") present, written after the preposition (e.g. "מה", "ה").
    """

    raw: str
    conj: bool
    rel: bool
    prep: str
    det: bool


_PREFIX_RE = re.compile(r"^(ו)?(ש|כש)?([בלמכ])?(ה)?$")
_NO_PREFIX = Prefix("", False, False, "", False)


@lru_cache(maxsize=64)
def split_prefix(raw: str) -> Prefix | None:
    """Parse a string of Hebrew prefix letters.

    Args:
        raw: candidate prefix letters, e.g. "וב", "שב", "ל", "".

    Returns:
        A `Prefix`, or None if the letters are not a valid prefix sequence
        (order ו -> ש/כש -> ב/כ/ל/מ -> ה).
    """
    if not raw:
        return _NO_PREFIX
    m = _PREFIX_RE.match(raw)
    if m is None:
        return None
    return Prefix(raw, bool(m.group(1)), bool(m.group(2)), m.group(3) or "", bool(m.group(4)))


def _build_lexicon() -> dict[str, tuple[tuple[str, object], ...]]:
    lex: dict[str, list[tuple[str, object]]] = {}

    def add(word: str, cat: str, value: object) -> None:
        lex.setdefault(word, []).append((cat, value))

    for w, (v, g, bare) in _CARDINALS.items():
        add(w, NUM, (v, g, bare))
    for w in _TEEN_WORDS:
        add(w, TEEN, 10)
    for w, v in _TENS.items():
        add(w, TENS, v)
    # fused teens: "אחתעשרה", "שתיםעשרה", "שתיםעשר", ...
    for w, (v, g, _bare) in _CARDINALS.items():
        if 1 <= v <= 9:
            for t in _TEEN_WORDS:
                add(w + t, FUSED, (10 + v, g))
    add("חצי", HALF, 30)
    add("רבע", QUARTER, 15)
    for w, v in HEB_WEEKDAY.items():
        add(w, WEEKDAY, v)
    for w, v in MONTHS.items():
        add(w, MONTH, v)
    for w, v in _RELDAYS.items():
        add(w, RELDAY, v)
    for w, v in _PARTS.items():
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
        cat: lexicon category (module constants NUM, WEEKDAY, PART, ...).
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
            default: the first NUM/TENS/FUSED reading.

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
            if cand.cat in (NUM, TENS, FUSED):
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
                u = _CARDINALS.get(nxt[1:])
                if u is not None and 1 <= u[0] <= 9:
                    return v + u[0], u[1], 2, True
        return v, BOTH, 1, True
    if a.cat != NUM:
        return None
    v, g, bare = a.value  # type: ignore[misc]
    if 1 <= v <= 9 and i + 1 < len(words) and words[i + 1] in _TEEN_WORDS:
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
