"""A caller's name in a transcript: after a marker, as a bare answer, or at the end.

Markers: השם (שלי) X, שמי X, קוראים לי X, אני X, זה/זאת X, על שם X, מדבר/מדברת X,
תרשמי על X. A name is one or two words and stops at punctuation and at words that are not
names (times, days, services, verbs such as "רוצה").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from voicectl.hebrew.acts import BYE_WORDS, GREETING_WORDS, THANKS, YES_STRONG, strip_fillers
from voicectl.hebrew.calendar import HEB_WEEKDAY
from voicectl.hebrew.letters import fold
from voicectl.hebrew.lexicon import CARDINAL, MONTH, PART, RELDAY, UNIT, analyses, lookup
from voicectl.hebrew.numbers import CARDINALS, TENS_WORDS
from voicectl.hebrew.prefixes import variants
from voicectl.hebrew.services import match_service
from voicectl.hebrew.text import normalize, tokens
from voicectl.hebrew.vocab import Words, fset, phrase_tokens

if TYPE_CHECKING:
    from voicectl.booking.policy import Service

__all__ = ["extract_name", "restore_geresh", "trailing_name", "without_name"]

# Number and weekday words ("שבע", "שני") are never a name on their own, except the
# homonyms after a clear marker and the second word of a compound name (below).
_NUMBER_AND_DAY_WORDS = fset([*CARDINALS, *TENS_WORDS, *HEB_WEEKDAY])
# Words that are never a person's name (verbs, fillers, time and day words, ...).
_NOT_NAME = _NUMBER_AND_DAY_WORDS | fset(
    [
        "רוצה",
        "רוצים",
        "רציתי",
        "צריך",
        "צריכה",
        "צריכים",
        "מעוניין",
        "מעוניינת",
        "מחפש",
        "מחפשת",
        "מתקשר",
        "מתקשרת",
        "יכול",
        "יכולה",
        "אשמח",
        "מבקש",
        "מבקשת",
        "חושב",
        "חושבת",
        "לקבוע",
        "קבוע",
        "תקבע",
        "תקבעי",
        "תור",
        "תורים",
        "עיסוי",
        "טיפול",
        "טיפולים",
        "לא",
        "כן",
        "פה",
        "כאן",
        "שוב",
        "גם",
        "בעצם",
        "רק",
        "עוד",
        "אה",
        "אמ",
        "אממ",
        "בבקשה",
        "תודה",
        "מחר",
        "היום",
        "מחרתיים",
        "יום",
        "ימים",
        "שבוע",
        "בוקר",
        "בבוקר",
        "צהריים",
        "צהרים",
        "ערב",
        "בערב",
        "לילה",
        "אחר",
        "אחרי",
        "לפני",
        "שעה",
        "שעות",
        "דקות",
        "חצי",
        "רבע",
        "על",
        "שם",
        "שמי",
        "השם",
        "הוא",
        "היא",
        "זה",
        "זו",
        "זאת",
        "אני",
        "אנחנו",
        "לי",
        "לנו",
        "שלי",
        "את",
        "של",
        "עם",
        "בשביל",
        "עבור",
        "ו",
        "או",
        "אבל",
        "אז",
        "טוב",
        "בסדר",
        "סבבה",
        "אוקיי",
        "אוקי",
        "מה",
        "איך",
        "מתי",
        "למה",
        "איפה",
        "כמה",
        "אפשר",
        "יש",
        "אין",
        "מקום",
        "פנוי",
        "פנויה",
        "מאשר",
        "מאשרת",
        "נכון",
        "יאללה",
        "סגור",
        "ביי",
        "להתראות",
        "שלום",
        "היי",
        "הלו",
        "מדבר",
        "מדברת",
        "חוזר",
        "חוזרת",
        "שמח",
        "שמחה",
        "באמת",
        "כבר",
        "עכשיו",
        "אחרת",
        "בדיוק",
        "ממש",
        "הכל",
        "הכול",
        "זהו",
        "רגע",
        "שאלה",
        "לשאול",
        "לברר",
        "בוקר",
        "מעוניינים",
        "נרשם",
        "לרשום",
        "תרשמי",
        "תרשום",
        "רשום",
        "רשמי",
        "ככה",
        "כזה",
        "כזאת",
        "פשוט",
        "קצת",
        "הרבה",
        "מוקדם",
        "מאוחר",
        "הכי",
        "משהו",
        "מישהו",
        "לקבל",
        "להזמין",
        "לתאם",
        "תזמין",
        "תזמיני",
        "לבטל",
        "תבטל",
        "תבטלי",
        "בעלי",
        "אשתי",
        "בעלה",
        "הבן",
        "הבת",
        "אמא",
        "אבא",
        "חבר",
        "חברה",
        "לחבר",
        "לחברה",
        "מספר",
        "טלפון",
        "נייד",
        "מתקשרים",
        "ספא",
        "מרפאה",
        "אם",
        "כי",
        "כמו",
        "אולי",
        "בטח",
        "ברור",
        "מצוין",
        "מעולה",
        "אחלה",
        "אוקיה",
        "הולך",
        "מתאים",
        "אותו",
        "אותה",
        "נוסף",
        "נוספת",
        "אחרים",
        "נראה",
        "ש",
        "עדיין",
        "עד",
        "מ",
        "ב",
        "ל",
        "ה",
        "זמן",
        "פעם",
        "כל",
        "אותי",
        "איתי",
        "שלנו",
        "אצלכם",
        "לכם",
        "אתם",
        "מסאז",
        "מסז",
        "אקבע",
        "אגיע",
        "אבוא",
        "אחכה",
        "אחשוב",
        "אתקשר",
        "אחזור",
        "אבדוק",
        "אשאל",
        "אקח",
        "אעדיף",
        "אודה",
        "מבין",
        "מבינה",
        "מקווה",
        "יודע",
        "יודעת",
        "שואל",
        "שואלת",
        "מתעניין",
        "מתעניינת",
        "מנסה",
        "זקוק",
        "זקוקה",
        "זמין",
        "זמינה",
        "גר",
        "גרה",
        "בא",
        "באה",
        "מגיע",
        "מגיעה",
        "עובד",
        "עובדת",
        "לקוח",
        "לקוחה",
        "חדש",
        "חדשה",
        "מכיר",
        "מכירה",
        "בדרך",
        "מעדיף",
        "מעדיפה",
        "סתם",
        "רוצות",
        "מחכה",
        "ממתין",
        "ממתינה",
        "מצטער",
        "מצטערת",
        "פנויים",
        "חושבים",
        "שואלים",
        "עסוק",
        "עסוקה",
        "עייף",
        "עייפה",
        "כואב",
        "כואבת",
        "הייתי",
        "היה",
        "היתה",
        "הייתה",
        "יהיה",
        "תהיה",
        "לא",
        "בטוח",
        "בטוחה",
        "שמחים",
        "בקשר",
        "בנוגע",
        "לגבי",
        "להתייעץ",
        "לבדוק",
        "לברר",
        # function words with a prefix ("ואם בשלוש?" is not "ואם"): not names
        "ואם",
        "האם",
        "והאם",
        "שאם",
        "ומה",
        "ואז",
        "ואולי",
        "ומתי",
        "ואיך",
        "ואפשר",
        "וגם",
        "ויש",
        "ואין",
        "ובכן",
        "כאילו",
        "נגיד",
        "יותר",
        "פחות",
        "ועוד",
        "ושוב",
    ]
)
_NAME_STOP_PREFIXED = _NUMBER_AND_DAY_WORDS | fset(
    [
        "מחר",
        "היום",
        "יום",
        "שעה",
        "שעות",
        "בוקר",
        "ערב",
        "צהריים",
        "צהרים",
        "לילה",
        "שבוע",
        "עיסוי",
        "טיפול",
        "תור",
        "חצי",
        "רבע",
        "רוצה",
        "צריך",
        "צריכה",
        "תודה",
        "בבקשה",
        "קבוע",
        "אחרי",
        "לפני",
        "אחר",
        "מחרתיים",
        "טלפון",
        "מספר",
    ]
)
_NAME_MARKERS = (
    "השם שלי הוא",
    "השם שלי זה",
    "השם שלי",
    "השם הוא",
    "השם זה",
    "השם",
    "שמי הוא",
    "שמי",
    "קוראים לי",
    "קוראים לו",
    "קוראים לה",
    "זה על שם",
    "על השם",
    "על שם",
    "תרשמי על",
    "תרשום על",
    "רשמי על",
    "רשום על",
    "לרשום על",
    "תרשמו על",
    "בשם",
    "מדבר",
    "מדברת",
    "שם",
)
_PRONOUN_MARKERS = ("אני", "זה", "זאת", "זו")


_HEBREW_OR_LATIN_WORD = re.compile(r"^[\u05D0-\u05EAa-z]+$")


def _looks_like_name_word(word: str, services: Sequence[Service] = ()) -> bool:
    if not _HEBREW_OR_LATIN_WORD.match(word) or len(word) < 2:
        return False
    f = fold(word)
    if f in _NOT_NAME or f in YES_STRONG or f in BYE_WORDS or f in THANKS:
        return False
    if any(v in _NAME_STOP_PREFIXED for v in variants(word)[1:]):
        return False
    # Date and time words of the lexicon ("לחודש", "בנובמבר", "מחרתיים", "שבועיים").
    if any(a.cat in (MONTH, RELDAY, PART, UNIT) for a in analyses(word)):
        return False
    if services and match_service(word, services) is not None:
        return False
    return True


# Names that are also vocabulary words ("שני" = Monday): accepted right after a strong
# name marker or as a bare answer to "על איזה שם?".
_NAME_HOMONYMS = fset(
    ["שני", "חן", "אור", "טל", "גל", "שחר", "ים", "בר", "דור", "עדן", "שיר", "אביב", "ליאור"]
)


def _name_from(
    toks: Sequence[str], start: int, services: Sequence[Service], strong: bool = False
) -> str | None:
    words: list[str] = []
    limit = 2
    for k, t in enumerate(toks[start : start + 3]):
        if k == limit:
            break
        homonym = strong and k == 0 and fold(t) in _NAME_HOMONYMS
        # "בת שבע", "בן ציון", "בת אל": a compound first name, whatever its second word
        # means on its own (a number, a weekday); a surname may follow.
        compound = k == 1 and fold(words[0]) in _COMPOUND_HEADS and _plain_word(t)
        if not (homonym or compound) and not _looks_like_name_word(t, services):
            break
        if compound:
            limit = 3
        words.append(t)
    if not words or fold(words[-1]) in _COMPOUND_HEADS:
        return None
    return " ".join(words)


# The first word of a compound first name ("בת שבע", "בן ציון", "בת חן", "בן שחר").
_COMPOUND_HEADS = fset(["בת", "בן"])


def _plain_word(word: str) -> bool:
    """A bare Hebrew word (no digits, not a prefixed time/day word such as "בשלוש")."""
    if not _HEBREW_OR_LATIN_WORD.match(word):
        return False
    return not any(v in _NAME_STOP_PREFIXED for v in variants(word)[1:])


_GERESH_WORD_RE = re.compile(r"[\u05D0-\u05EA]+(?:['\u05F3][\u05D0-\u05EA]*)+")


def restore_geresh(name: str, raw: str) -> str:
    """Give back the caller's geresh ("ג'ני", "צ'רלי") that normalisation removed."""
    originals = {normalize(w): w.replace("\u05f3", "'") for w in _GERESH_WORD_RE.findall(raw)}
    return " ".join(originals.get(w, w) for w in name.split())


# Words before a bare name answer ("כן, דני", "זה דני", "על שם דני"): skipped.
_BARE_NAME_LEADS = fset(
    [
        "כן",
        "אוקיי",
        "בסדר",
        "טוב",
        "זה",
        "זאת",
        "זו",
        "אני",
        "תרשמי",
        "תרשום",
        "רשמי",
        "על",
        "שם",
        "בשם",
        "השם",
    ]
)


def extract_name(text: str, services: Sequence[Service] = (), bare: bool = False) -> str | None:
    """The caller's name as given (see `_extract_name`), geresh kept ("ג'ני")."""
    name = _extract_name(text, services, bare)
    return restore_geresh(name, str(text)) if name else None


def _extract_name(text: str, services: Sequence[Service] = (), bare: bool = False) -> str | None:
    """The caller's name as given: one or two words after a marker.

    Markers: השם (שלי) X, שמי X, קוראים לי X, אני X, זה/זאת X, על שם X, זה על שם X,
    מדבר/מדברת X, תרשמי על X. Stops at punctuation, at the end, and at words that are not
    names (times, days, services, verbs such as "רוצה"). With `bare=True` (the agent just
    asked for the name) a short answer without a marker ("דני", "דני כהן", "כן, דני") counts.

    Returns:
        The name with its original spelling (niqqud and punctuation removed), or None.
    """
    if not text:
        return None
    # Split on punctuation first so a name never runs across a comma or full stop.
    raw = unicodedata.normalize("NFC", str(text))
    chunks = [c for c in re.split(r"[,.;!?\u05C3\n]+", raw) if c.strip()]
    for chunk in chunks:
        toks = tokens(chunk)
        said = Words.of(toks)
        for marker in _NAME_MARKERS:
            i = said.find(marker)
            if i < 0:
                continue
            # "שם" alone is a weak marker: only "שם X" at the start of a chunk.
            if marker in ("שם", "בשם") and i != 0 and marker == "שם":
                continue
            # "מדבר/ת X", "שמי X", "קוראים לי X" are clear: a name that is also a word
            # ("שני", "חן") is taken after them; after a bare "שם"/"בשם" it is not.
            strong = marker not in ("שם", "בשם")
            name = _name_from(toks, i + len(phrase_tokens(marker)), services, strong=strong)
            if name:
                return name
        for marker in _PRONOUN_MARKERS:
            for i, t in enumerate(toks):
                if fold(t) != fold(marker):
                    continue
                if marker != "אני" and not all(fold(x) in GREETING_WORDS for x in toks[:i]):
                    continue
                name = _name_from(toks, i + 1, services)
                if name and (marker == "אני" or bare or len(toks) <= 3):
                    return name
    if bare:
        for chunk in chunks:
            toks = strip_fillers(tokens(chunk))
            while toks and fold(toks[0]) in _BARE_NAME_LEADS:
                toks = toks[1:]
            if not toks or len(toks) > 3:
                continue
            name = _name_from(toks, 0, services, strong=len(toks) <= 2)
            if name and len(name.split()) >= len(toks) - 1:
                return name
    return None


_SLOT_TAIL_WORDS = fset(
    [
        "שעה",
        "שעות",
        "דקות",
        "וחצי",
        "ורבע",
        "בבוקר",
        "בערב",
        "בצהריים",
        "הצהריים",
        "מחר",
        "היום",
        "מחרתיים",
    ]
)


def trailing_name(text: str, services: Sequence[Service] = ()) -> str | None:
    """A name said without a marker at the end of a booking request.

    "תקבע לי מחר ב-12 שוודי שעה. דני." -> "דני" (a separate last sentence of one or two
    name-like words), and unpunctuated "... ב-12 שוודי דני" -> "דני" when the word before
    is a service, a time or a duration word. Returns None when unsure.
    """
    raw = unicodedata.normalize("NFC", str(text or ""))
    chunks = [c for c in re.split(r"[,.;!?\u05C3\n]+", raw) if c.strip()]
    if len(chunks) >= 2:
        last = tokens(chunks[-1])
        if 1 <= len(last) <= 2 and all(_looks_like_name_word(t, services) for t in last):
            return " ".join(last)
    toks = tokens(raw)
    if len(toks) < 3:
        return None
    last, prev = toks[-1], toks[-2]
    if not _looks_like_name_word(last, services):
        return None
    prev_is_slot = (
        any(v in _SLOT_TAIL_WORDS for v in variants(prev))
        or any(ch.isdigit() for ch in prev)
        or (bool(services) and match_service(prev, services) is not None)
        or lookup(prev, CARDINAL) is not None
    )
    return last if prev_is_slot else None


_NIQQUD_RE = re.compile(r"[\u0591-\u05c7]")


def without_name(text: str, name: str) -> str:
    """`text` with the name given in it taken out, so its words are not read as anything
    else ("שמי שני" is not Monday, "בת שבע" is not seven o'clock).

    The name is removed where it was given: right after a marker ("שמי שני", "מדברת בת
    שבע") when there is one, else its last occurrence; other uses of the same words stay
    ("ביום שני ..., שמי שני" keeps the Monday).

    Args:
        text: the caller's words.
        name: the name `extract_name` or `trailing_name` found in them.

    Returns:
        The text with the name (and its marker) replaced by a space.
    """
    words = [re.escape(w) for w in name.split()]
    if not words:
        return text
    gap = r"[\s\-\u05be\u05c0-\u05c7\u0591-\u05bd]+"
    body = gap.join(words)
    edge = r"(?<![\w\u0591-\u05c7])"
    tail = r"(?![\w\u0591-\u05c7])"
    plain = _NIQQUD_RE.sub("", text)
    if len(plain) != len(text):
        text = plain  # offsets below are in the niqqud-free text
    for marker in _NAME_MARKERS + _PRONOUN_MARKERS:
        if marker not in text:  # the pattern below needs the marker as written
            continue
        m = re.search(edge + re.escape(marker) + gap + body + tail, text)
        if m:
            return text[: m.start()] + " " + text[m.end() :]
    found = list(re.finditer(edge + body + tail, text))
    if found:
        m = found[-1]
        return text[: m.start()] + " " + text[m.end() :]
    return text
