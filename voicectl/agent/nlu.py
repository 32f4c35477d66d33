"""Rule-based Hebrew understanding for the offline agent.

Everything here is pure (no I/O, no clock): text in, facts out. The agent combines these
facts with the date/time resolver (`voicectl.booking.hebrew_time.resolve_when`) and its
per-call state.

Normalisation (`normalize`) strips niqqud and cantillation, geresh/gershayim, punctuation
and maqaf/hyphens (a lone prefix letter left by "ב-12" is glued back: "ב12"), keeps
"12:30"-style clock digits, and collapses spaces. Comparisons fold final letters
(ך ם ן ף ץ -> כ מ נ פ צ) and try the word with its one-letter prefixes stripped
(ו ה ב ל ש מ כ, up to three of them: "ובשוודי" -> "שוודי").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Understanding",
    "analyze",
    "clock_mentions",
    "extract_duration",
    "extract_name",
    "fold",
    "has_phrase",
    "is_goodbye",
    "is_no",
    "is_yes",
    "looks_like_phone",
    "match_service",
    "normalize",
    "ordinal_choice",
    "tokens",
    "trailing_name",
    "variants",
]

# ---------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------

_NIQQUD_RE = re.compile(r"[\u0591-\u05BD\u05BF-\u05C7]")  # everything but maqaf (05BE)
_DASHES = "\u05BE-\u2010\u2011\u2012\u2013\u2014\u2015\u2212_/"
_QUOTES = "\"'`\u05F3\u05F4\u2018\u2019\u201C\u201D\u201E"
_CLOCK_SEP_RE = re.compile(r"(?<=\d)\s*([:.])\s*(?=\d)")
_NON_WORD_RE = re.compile(r"[^\w:.\s]")
_HYPHEN_PREFIX_RE = re.compile(
    r"(?<![\u05D0-\u05EA])([\u05D5\u05D4\u05D1\u05DC\u05E9\u05DE\u05DB]{1,2})"
    r"[\u05BE\-\u2010-\u2015]\s*"
)
_FINALS = str.maketrans("ךםןףץ", "כמנפצ")
_PREFIX_LETTERS = frozenset("והבלשמכ")
_LONE_PREFIX_RE = re.compile(r"(?:(?<=\s)|^)([והבלשמכ])\s+(?=\S)")


def normalize(text: str) -> str:
    """Return `text` normalised for matching (see the module docstring).

    Example: "תקבע לי מחר ב-12:30, השם דָּנִי!" -> "תקבע לי מחר ב12:30 השם דני".
    """
    if not text:
        return ""
    s = unicodedata.normalize("NFC", str(text))
    s = _NIQQUD_RE.sub("", s)
    for q in _QUOTES:
        s = s.replace(q, "")
    s = _CLOCK_SEP_RE.sub(lambda m: m.group(1), s)
    s = _HYPHEN_PREFIX_RE.sub(lambda m: m.group(1), s)
    for d in _DASHES:
        s = s.replace(d, " ")
    s = _NON_WORD_RE.sub(" ", s)
    s = re.sub(r"(?<!\d)[:.]|[:.](?!\d)", " ", s)
    s = " ".join(s.lower().split())
    s = _LONE_PREFIX_RE.sub(lambda m: m.group(1), s)
    return s


def fold(word: str) -> str:
    """Fold Hebrew final letters to their regular forms ("שלום" -> "שלומ")."""
    return word.translate(_FINALS)


def tokens(text: str) -> list[str]:
    """Normalised words of `text`."""
    return normalize(text).split()


def variants(word: str, max_prefixes: int = 3) -> list[str]:
    """`word` folded, then with up to `max_prefixes` one-letter prefixes stripped.

    Only strips while at least two letters remain. "ובשוודי" -> ["ובשוודי", "בשוודי", "שוודי",
    "וודי"]; callers compare against known vocabularies, so spurious forms are harmless.
    """
    w = fold(word)
    out = [w]
    cur = w
    for _ in range(max_prefixes):
        if len(cur) > 2 and cur[0] in _PREFIX_LETTERS and not cur[1].isdigit():
            cur = cur[1:]
            out.append(cur)
        elif len(cur) > 1 and cur[0] in _PREFIX_LETTERS and cur[1:].replace(":", "").isdigit():
            cur = cur[1:]
            out.append(cur)
            break
        else:
            break
    return out


def _fset(words: Iterable[str]) -> frozenset[str]:
    return frozenset(fold(normalize(w)) for w in words)


def _in(word: str, vocab: frozenset[str], prefixes: bool = True) -> bool:
    if not prefixes:
        return fold(word) in vocab
    return any(v in vocab for v in variants(word))


def _phrase_tokens(phrase: str) -> list[str]:
    return [fold(t) for t in normalize(phrase).split()]


def _find_phrase(toks: Sequence[str], phrase: str) -> int:
    """Index where `phrase` starts in `toks` (prefixes allowed on its first word) or -1."""
    ptoks = _phrase_tokens(phrase)
    if not ptoks:
        return -1
    n = len(ptoks)
    for i in range(len(toks) - n + 1):
        if ptoks[0] not in variants(toks[i]):
            continue
        if all(fold(toks[i + k]) == ptoks[k] for k in range(1, n)):
            return i
    return -1


def has_phrase(text_or_tokens: str | Sequence[str], *phrases: str) -> bool:
    """True when any of `phrases` occurs (word-aligned, prefix-tolerant) in the text."""
    toks = tokens(text_or_tokens) if isinstance(text_or_tokens, str) else text_or_tokens
    return any(_find_phrase(toks, p) >= 0 for p in phrases)


# ---------------------------------------------------------------------------------------
# Vocabularies
# ---------------------------------------------------------------------------------------

_FILLERS = _fset(["אה", "אהה", "אמ", "אממ", "הממ", "אוו", "נו", "טוב אז", "אז", "רגע", "בעצם",
                  "אממם", "יאללה אז", "רק", "אוקיי אז"])
_YES_STRONG = _fset([
    "כן", "כן כן", "בטח", "בסדר", "מאשר", "מאשרת", "מאושר", "נכון", "יאללה", "סגור", "אוקיי",
    "אוקי", "אוקיי", "אוקיה", "בדיוק", "ברור", "בהחלט", "כמובן", "סבבה", "אחלה", "מעולה",
    "מצוין", "מצויין", "יופי", "פיקס", "ok", "okay", "yes", "מתאים", "מתאימה", "הולך",
    "נהדר", "קבענו", "אשמח", "בשמחה", "תקבעי", "תקבע", "קבעי", "קבע",
])
_YES_WEAK = _fset(["טוב", "אפשר", "שיהיה", "נשמע"])
_CALL_OPENERS = _fset(["שלום", "הלו", "היי", "הי", "אהלן", "בוקר", "ערב", "צהריים"])
_YES_PHRASES = ("אין בעיה", "זה מתאים", "מתאים לי", "נשמע טוב", "זה טוב", "זה בסדר", "בסדר גמור",
                "זה עובד", "עובד לי", "הולך על זה", "הולכת על זה", "בוא נעשה", "בואי נעשה",
                "בואו נעשה", "סגרנו", "תרשמי", "תרשום", "רשמי", "שיהיה")
_NO_WORDS = _fset(["לא", "לאו", "no", "nope", "ממש לא", "אל"])
_NO_PHRASES = ("לא מתאים", "לא טוב", "לא רוצה", "לא צריך", "עדיף שלא", "ממש לא", "אין צורך",
               "אין לי", "אין לי מספר", "אין טלפון", "בלי מספר", "בלי טלפון", "אין מספר",
               "לא תודה", "לא יכול", "לא יכולה", "לא נוח", "זה לא", "לא הולך", "לא מסתדר")
_NOT_NO_PHRASES = ("לא משנה", "לא אכפת", "לא חשוב", "לא משנה לי", "אין לי העדפה",
                   "אין העדפה", "אין לי בעיה", "אין בעיה", "לא שמעתי", "לא הבנתי",
                   "לא יודע", "לא יודעת", "לא בטוח", "לא בטוחה", "לא מאוחר", "לא מוקדם",
                   "לא לפני", "לא אחרי")
_BYE_WORDS = _fset(["ביי", "להתראות", "ביוש", "בייבי", "bye", "באי", "להשתמע", "ביביי"])
_BYE_PHRASES = ("זה הכל", "זה הכול", "זהו זה", "זהו", "אין עוד", "זה מה שרציתי", "זה מה שהיה",
                "סיימנו", "זה בסדר תודה", "שיהיה יום טוב", "יום טוב", "ערב טוב", "לילה טוב",
                "שבוע טוב", "שבת שלום", "סוף שבוע נעים", "המשך יום", "אין צורך", "לא צריך",
                "לא תודה", "תודה ושלום", "שלום ותודה", "נדבר", "נתראה", "אחזור אליכם",
                "אחזור אלייך", "אחזור אליך", "אני אחזור", "אחשוב על זה", "אני אחשוב",
                "אתקשר שוב", "אתקשר מאוחר יותר", "אתקשר אחר כך", "נדבר אחר כך")
_BYE_END_ONLY = ("יום טוב", "ערב טוב", "לילה טוב", "שבוע טוב", "שבת שלום", "שלום", "נדבר",
                 "נתראה")
_THANKS = _fset(["תודה", "תודה רבה", "תודות", "רבה", "תנקס", "thanks", "thank", "you", "מאוד",
                 "ממש", "סבבה", "אחלה", "מעולה", "יופי", "אוקיי", "אוקי", "טוב", "בסדר",
                 "מצוין", "נהדר", "לך", "לכם", "שלום", "ביי", "להתראות", "יום", "ערב", "לילה",
                 "שבוע", "טוב", "נעים", "והמשך", "המשך", "כן", "אז", "זהו", "זה", "הכל", "הכול",
                 "לא", "יאללה", "שבת", "נדבר", "נתראה", "אין", "צורך", "עוד", "משהו", "צריך"])
_GREETING_WORDS = _fset(["שלום", "היי", "הי", "הלו", "אהלן", "הלוו", "בוקר", "טוב", "ערב",
                         "צהריים", "צהרים", "טובים", "מה", "נשמע", "שלומך", "שלומכם", "קורה",
                         "hello", "hi", "כן", "מה נשמע"])

# Words that are never a person's name (verbs, fillers, time and day words, ...).
_NOT_NAME = _fset([
    "רוצה", "רוצים", "רציתי", "צריך", "צריכה", "צריכים", "מעוניין", "מעוניינת", "מחפש",
    "מחפשת", "מתקשר", "מתקשרת", "יכול", "יכולה", "אשמח", "מבקש", "מבקשת", "חושב", "חושבת",
    "לקבוע", "קבוע", "תקבע", "תקבעי", "תור", "תורים", "עיסוי", "טיפול", "טיפולים", "לא", "כן",
    "פה", "כאן", "שוב", "גם", "בעצם", "רק", "עוד", "אה", "אמ", "אממ", "בבקשה", "תודה", "מחר",
    "היום", "מחרתיים", "יום", "ימים", "שבוע", "בוקר", "בבוקר", "צהריים", "צהרים", "ערב",
    "בערב", "לילה", "אחר", "אחרי", "לפני", "שעה", "שעות", "דקות", "חצי", "רבע", "ראשון", "שני",
    "שלישי", "רביעי", "חמישי", "שישי", "שבת", "אחת", "אחד", "שתיים", "שתים", "שלוש", "ארבע",
    "חמש", "שש", "שבע", "שמונה", "תשע", "עשר", "עשרה", "שתיים", "על", "שם", "שמי", "השם",
    "הוא", "היא", "זה", "זו", "זאת", "אני", "אנחנו", "לי", "לנו", "שלי", "את", "של", "עם",
    "בשביל", "עבור", "ו", "או", "אבל", "אז", "טוב", "בסדר", "סבבה", "אוקיי", "אוקי", "מה",
    "איך", "מתי", "למה", "איפה", "כמה", "אפשר", "יש", "אין", "מקום", "פנוי", "פנויה",
    "מאשר", "מאשרת", "נכון", "יאללה", "סגור", "ביי", "להתראות", "שלום", "היי", "הלו", "מדבר",
    "מדברת", "חוזר", "חוזרת", "שמח", "שמחה", "באמת", "כבר", "עכשיו", "אחרת", "בדיוק", "ממש",
    "הכל", "הכול", "זהו", "רגע", "שאלה", "לשאול", "לברר", "בוקר", "מעוניינים", "נרשם", "לרשום",
    "תרשמי", "תרשום", "רשום", "רשמי", "ככה", "כזה", "כזאת", "פשוט", "קצת", "הרבה", "מוקדם",
    "מאוחר", "הכי", "משהו", "מישהו", "לקבל", "להזמין", "לתאם", "תזמין", "תזמיני", "לבטל",
    "תבטל", "תבטלי", "בעלי", "אשתי", "בעלה", "הבן", "הבת", "אמא", "אבא", "חבר", "חברה",
    "לחבר", "לחברה", "מספר", "טלפון", "נייד", "מתקשרים", "ספא", "מרפאה", "אם", "כי", "כמו",
    "אולי", "בטח", "ברור", "מצוין", "מעולה", "אחלה", "אוקיה", "הולך", "מתאים", "אותו",
    "אותה", "נוסף", "נוספת", "אחרים", "אחד", "נראה", "ש", "עדיין", "עד", "מ", "ב", "ל", "ה",
    "זמן", "פעם", "כל", "אותי", "איתי", "שלנו", "אצלכם", "לכם", "אתם", "מסאז", "מסז",
    "אקבע", "אגיע", "אבוא", "אחכה", "אחשוב", "אתקשר", "אחזור", "אבדוק", "אשאל", "אקח",
    "אעדיף", "אודה", "מבין", "מבינה", "מקווה", "יודע", "יודעת", "שואל", "שואלת", "מתעניין",
    "מתעניינת", "מנסה", "זקוק", "זקוקה", "זמין", "זמינה", "גר", "גרה", "בא", "באה", "מגיע",
    "מגיעה", "עובד", "עובדת", "לקוח", "לקוחה", "חדש", "חדשה", "מכיר", "מכירה", "בדרך",
    "מעדיף", "מעדיפה", "סתם", "רוצות", "מחכה", "ממתין", "ממתינה", "מצטער", "מצטערת",
    "פנויים", "חושבים", "שואלים", "עסוק", "עסוקה", "עייף", "עייפה", "כואב", "כואבת",
    "הייתי", "היה", "היתה", "הייתה", "יהיה", "תהיה", "לא", "בטוח", "בטוחה", "שמחים",
    "בקשר", "בנוגע", "לגבי", "להתייעץ", "לבדוק", "לברר",
    # function words with a prefix ("ואם בשלוש?" is not "ואם"): not names
    "ואם", "האם", "והאם", "שאם", "ומה", "ואז", "ואולי", "ומתי", "ואיך", "ואפשר", "וגם",
    "ויש", "ואין", "ובכן", "כאילו", "נגיד", "יותר", "פחות", "ועוד", "ושוב",
])
_NAME_STOP_PREFIXED = _fset([
    "מחר", "היום", "יום", "שעה", "שעות", "בוקר", "ערב", "צהריים", "צהרים", "לילה", "שבוע",
    "ראשון", "שני", "שלישי", "רביעי", "חמישי", "שישי", "שבת", "עיסוי", "טיפול", "תור", "אחת",
    "שתיים", "שתים", "שלוש", "ארבע", "חמש", "שש", "שבע", "שמונה", "תשע", "עשר", "עשרה",
    "חצי", "רבע", "רוצה", "צריך", "צריכה", "תודה", "בבקשה", "קבוע", "אחרי", "לפני", "אחר",
    "מחרתיים", "טלפון", "מספר",
])
_NAME_MARKERS = (
    "השם שלי הוא", "השם שלי זה", "השם שלי", "השם הוא", "השם זה", "השם", "שמי הוא", "שמי",
    "קוראים לי", "קוראים לו", "קוראים לה", "זה על שם", "על השם", "על שם", "תרשמי על", "תרשום על",
    "רשמי על", "רשום על", "לרשום על", "תרשמו על", "בשם", "מדבר", "מדברת", "שם",
)
_PRONOUN_MARKERS = ("אני", "זה", "זאת", "זו")

# ---------------------------------------------------------------------------------------
# Yes / no / goodbye
# ---------------------------------------------------------------------------------------


def _strip_fillers(toks: Sequence[str]) -> list[str]:
    out = list(toks)
    while out and fold(out[0]) in _FILLERS:
        out.pop(0)
    return out


def is_yes(text: str) -> bool:
    """True for an affirmative answer: כן, בסדר, מאשר, נכון, יאללה, סגור, מתאים לי, ...

    Weak words ("טוב", "אפשר") count only in a short answer (<= 3 words), so "אפשר לקבוע
    תור?" is not a yes. A leading no wins ("לא, בסדר" is a no).
    """
    toks = _strip_fillers(tokens(text))
    # "כן שלום, ..." / "כן הלו" is how Israelis open a call: it answers nothing.
    if len(toks) >= 2 and fold(toks[0]) == fold("כן") and fold(toks[1]) in _CALL_OPENERS:
        toks = _strip_fillers(toks[2:])
        text = " ".join(toks)
    if not toks or is_no(text):
        return False
    first = fold(toks[0])
    if first in _YES_STRONG:
        # "קבע"/"תקבע" lead a request too ("תקבע לי מחר") - a yes only when nothing follows.
        if first in _fset(["תקבע", "תקבעי", "קבע", "קבעי"]) and len(toks) > 2:
            return False
        return True
    if len(toks) <= 2 and first in _YES_WEAK:
        return True
    if has_phrase(toks, *_YES_PHRASES):
        return True
    return len(toks) <= 4 and any(fold(t) in _YES_STRONG for t in toks[:2])


def is_no(text: str) -> bool:
    """True for a negative answer: לא, ממש לא, לא מתאים, עדיף שלא, ...

    "לא משנה" / "לא אכפת לי" (= any is fine) and "לא שמעתי" are not a no.
    """
    toks = _strip_fillers(tokens(text))
    if not toks:
        return False
    if has_phrase(toks[:3], *_NOT_NO_PHRASES):
        return False
    if fold(toks[0]) in _NO_WORDS:
        return True
    return has_phrase(toks, *_NO_PHRASES)


def is_goodbye(text: str) -> bool:
    """True when the caller closes the call: "תודה, ביי", "זהו, תודה", "לא, זה הכל", ...

    Plain "שלום" at the start is a greeting, at the end (after thanks) a goodbye; "תודה"
    alone is not a goodbye here (the agent decides from context).
    """
    toks = tokens(text)
    if not toks:
        return False
    if any(_in(t, _BYE_WORDS) for t in toks):
        return True
    only_polite = all(fold(t) in _THANKS for t in toks)
    for p in _BYE_PHRASES:
        i = _find_phrase(toks, p)
        if i < 0:
            continue
        if p in _BYE_END_ONLY:
            exact = fold(toks[i]) == _phrase_tokens(p)[0]
            if exact and i + len(_phrase_tokens(p)) == len(toks) and (i > 0 or only_polite):
                return True
            continue
        if p in ("לא תודה", "אין צורך", "לא צריך", "זהו"):
            if only_polite:
                return True
            continue
        return True
    return False


def is_thanks_only(text: str) -> bool:
    """True when the utterance is only thanks/politeness ("תודה רבה", "סבבה תודה")."""
    toks = tokens(text)
    return bool(toks) and any(fold(t) in _fset(["תודה", "תודות", "תנקס", "thanks"]) for t in
                              toks) and all(fold(t) in _THANKS for t in toks)


def is_greeting_only(text: str) -> bool:
    """True when the utterance is only a greeting ("שלום", "היי, מה נשמע?")."""
    toks = tokens(text)
    return bool(toks) and all(fold(t) in _GREETING_WORDS for t in toks) and any(
        fold(t) in _fset(["שלום", "היי", "הי", "הלו", "אהלן", "hello", "hi", "בוקר", "ערב"])
        for t in toks
    )


# ---------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------

_GENERIC_SERVICE_WORDS = _fset(["עיסוי", "טיפול", "מסאז", "מסז", "massage"])
_SPELLING = {
    fold("שבדי"): fold("שוודי"),
    fold("שוודית"): fold("שוודי"),
    fold("שבדית"): fold("שוודי"),
    fold("שויידי"): fold("שוודי"),
    fold("סוידי"): fold("שוודי"),
    fold("עמוקות"): fold("עמוק"),
    fold("עמוקה"): fold("עמוק"),
    fold("רפלקסולוגי"): fold("רפלקסולוגיה"),
    fold("רפלקסולוגית"): fold("רפלקסולוגיה"),
    fold("ספורטיבי"): fold("ספורט"),
    fold("ספורטאים"): fold("ספורט"),
}


def _canon(word: str) -> str:
    w = fold(word)
    return _SPELLING.get(w, w)


def _service_names(service: Any) -> list[str]:
    names: list[str] = []
    for attr in ("name_he", "name"):
        v = getattr(service, attr, None)
        if isinstance(v, str) and v:
            names.append(v)
    aliases = getattr(service, "aliases", None) or ()
    names.extend(a for a in aliases if isinstance(a, str) and a)
    sid = getattr(service, "id", None)
    if isinstance(sid, str) and sid:
        names.append(sid.replace("_", " "))
    return names


def _alias_token_lists(service: Any) -> list[list[str]]:
    out: list[list[str]] = []
    for name in _service_names(service):
        toks = [_canon(t) for t in normalize(name).split()]
        if not toks:
            continue
        out.append(toks)
        core = [t for t in toks if t not in _GENERIC_SERVICE_WORDS]
        if core and core != toks:
            out.append(core)
    return out


def _word_match(text_word: str, alias_word: str, allow_prefix: bool) -> bool:
    cands = variants(text_word) if allow_prefix else [fold(text_word)]
    for c in cands:
        c = _SPELLING.get(c, c)
        if c == alias_word:
            return True
        if len(alias_word) >= 4 and c.startswith(alias_word) and len(c) - len(alias_word) <= 2:
            return True
    return False


def match_service(text: str, services: Sequence[Any]) -> Any | None:
    """Return the service named in `text` (by Hebrew name, any alias, or id) or None.

    Args:
        text: the caller's words.
        services: the policy's `Service` objects (`id`, `name_he`, `aliases`).

    Tries whole aliases first ("רקמות עמוק", "עיסוי שוודי", with or without "עיסוי", with
    prefixes: "לשוודי"), the longest match wins; then a distinctive single word of a
    multi-word alias ("רקמות" -> deep tissue) when only one service has it.
    """
    toks = tokens(text)
    if not toks or not services:
        return None
    best: tuple[int, int, Any] | None = None  # (alias length, -position, service)
    for svc in services:
        for alias in _alias_token_lists(svc):
            n = len(alias)
            for i in range(len(toks) - n + 1):
                if all(_word_match(toks[i + k], alias[k], k == 0) for k in range(n)):
                    key = (n, -i)
                    if best is None or key > best[:2]:
                        best = (n, -i, svc)
                    break
    if best is not None:
        return best[2]
    # Distinctive words of multi-word aliases.
    owners: dict[str, set[int]] = {}
    for idx, svc in enumerate(services):
        for alias in _alias_token_lists(svc):
            if len(alias) < 2:
                continue
            for w in alias:
                if len(w) >= 4 and w not in _GENERIC_SERVICE_WORDS:
                    owners.setdefault(w, set()).add(idx)
    for t in toks:
        for w, idxs in owners.items():
            if len(idxs) == 1 and _word_match(t, w, True):
                return services[next(iter(idxs))]
    return None


def mentions_generic_service(text: str) -> bool:
    """True when the caller says "עיסוי"/"טיפול"/"מסאז'" without naming which."""
    return any(_in(t, _GENERIC_SERVICE_WORDS) for t in tokens(text))


# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------

_HEBREW_OR_LATIN_WORD = re.compile(r"^[\u05D0-\u05EAa-z]+$")


def _looks_like_name_word(word: str, services: Sequence[Any] = ()) -> bool:
    if not _HEBREW_OR_LATIN_WORD.match(word) or len(word) < 2:
        return False
    f = fold(word)
    if f in _NOT_NAME or f in _YES_STRONG or f in _BYE_WORDS or f in _THANKS:
        return False
    if any(v in _NAME_STOP_PREFIXED for v in variants(word)[1:]):
        return False
    if services and match_service(word, services) is not None:
        return False
    return True


# Names that are also vocabulary words ("שני" = Monday): accepted right after a strong
# name marker or as a bare answer to "על איזה שם?".
_NAME_HOMONYMS = _fset(["שני", "חן", "אור", "טל", "גל", "שחר", "ים", "בר", "דור", "עדן",
                        "שיר", "אביב", "ליאור"])


def _name_from(toks: Sequence[str], start: int, services: Sequence[Any],
               strong: bool = False) -> str | None:
    words: list[str] = []
    for k, t in enumerate(toks[start:start + 2]):
        homonym = strong and k == 0 and fold(t) in _NAME_HOMONYMS
        if not homonym and not _looks_like_name_word(t, services):
            break
        words.append(t)
    if not words:
        return None
    return " ".join(words)


_GERESH_WORD_RE = re.compile(r"[\u05D0-\u05EA]+(?:['\u05F3][\u05D0-\u05EA]*)+")


def _restore_geresh(name: str, raw: str) -> str:
    """Give back the caller's geresh ("ג'ני", "צ'רלי") that normalisation removed."""
    originals = {normalize(w): w.replace("\u05F3", "'") for w in _GERESH_WORD_RE.findall(raw)}
    return " ".join(originals.get(w, w) for w in name.split())


def extract_name(text: str, services: Sequence[Any] = (), bare: bool = False) -> str | None:
    """The caller's name as given (see `_extract_name`), geresh kept ("ג'ני")."""
    name = _extract_name(text, services, bare)
    return _restore_geresh(name, str(text)) if name else None


def _extract_name(text: str, services: Sequence[Any] = (), bare: bool = False) -> str | None:
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
        for marker in _NAME_MARKERS:
            i = _find_phrase(toks, marker)
            if i < 0:
                continue
            # "שם" alone is a weak marker: only "שם X" at the start of a chunk.
            if marker in ("שם", "בשם") and i != 0 and marker == "שם":
                continue
            strong = marker not in ("שם", "בשם", "מדבר", "מדברת")
            name = _name_from(toks, i + len(_phrase_tokens(marker)), services, strong=strong)
            if name:
                return name
        for marker in _PRONOUN_MARKERS:
            for i, t in enumerate(toks):
                if fold(t) != fold(marker):
                    continue
                if marker != "אני" and not all(fold(x) in _GREETING_WORDS for x in toks[:i]):
                    continue
                name = _name_from(toks, i + 1, services)
                if name and (marker == "אני" or bare or len(toks) <= 3):
                    return name
    if bare:
        for chunk in chunks:
            toks = _strip_fillers(tokens(chunk))
            while toks and (fold(toks[0]) in _fset(["כן", "אוקיי", "בסדר", "טוב", "זה", "זאת",
                                                    "זו", "אני", "תרשמי", "תרשום", "רשמי",
                                                    "על", "שם", "בשם", "השם"])):
                toks = toks[1:]
            if not toks or len(toks) > 3:
                continue
            name = _name_from(toks, 0, services, strong=len(toks) <= 2)
            if name and len(name.split()) >= len(toks) - 1:
                return name
    return None


_SLOT_TAIL_WORDS = _fset(["שעה", "שעות", "דקות", "וחצי", "ורבע", "בבוקר", "בערב", "בצהריים",
                          "הצהריים", "מחר", "היום", "מחרתיים"])


def trailing_name(text: str, services: Sequence[Any] = ()) -> str | None:
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
        or any(v in _HOUR_WORDS_F for v in variants(prev))
    )
    return last if prev_is_slot else None


# ---------------------------------------------------------------------------------------
# Clock times, ordinals, durations
# ---------------------------------------------------------------------------------------

_HOUR_WORDS: dict[str, int] = {
    "אחת": 1, "אחד": 1, "שתיים": 2, "שתים": 2, "שניים": 2, "שתי": 2, "שלוש": 3, "שלש": 3,
    "שלושה": 3, "ארבע": 4, "ארבעה": 4, "חמש": 5, "חמישה": 5, "שש": 6, "שישה": 6, "שבע": 7,
    "שבעה": 7, "שמונה": 8, "תשע": 9, "תשעה": 9, "עשר": 10, "עשרה": 10,
}
_HOUR_WORDS_F = {fold(k): v for k, v in _HOUR_WORDS.items()}
_TEENS = {fold("עשרה"): 10, fold("עשר"): 10}
_MINUTE_WORDS = {
    fold("וחצי"): 30, fold("ורבע"): 15, fold("ועשרים"): 20, fold("ועשר"): 10,
    fold("וחמישה"): 5, fold("וחמש"): 5, fold("ועשרה"): 10, fold("וארבעים"): 40,
    fold("ושלושים"): 30, fold("וחמישים"): 50, fold("ארבעים וחמש"): 45,
}
_ORDINALS = {
    fold("ראשונה"): 0, fold("הראשונה"): 0, fold("הראשון"): 0,
    fold("שנייה"): 1, fold("שניה"): 1, fold("השנייה"): 1, fold("השניה"): 1, fold("השני"): 1,
    fold("שלישית"): 2, fold("השלישית"): 2, fold("השלישי"): 2,
    fold("אחרונה"): -1, fold("האחרונה"): -1, fold("האחרון"): -1,
    fold("המוקדמת"): 0, fold("המוקדם"): 0, fold("המאוחרת"): -1, fold("המאוחר"): -1,
}
_DAY_WORDS = _fset(["ראשון", "שני", "שלישי", "רביעי", "חמישי", "שישי"])


def clock_mentions(text: str) -> list[tuple[int, int]]:
    """Clock times said in `text`, as (hour, minute) with hour 0-23 as said (1 may mean 13).

    Understands digits ("13", "ב13:30", "9.30") and words ("אחת וחצי", "בשתיים עשרה",
    "רבע לשלוש", "שלוש ורבע"). Weekday names ("יום ראשון") and durations are not times.
    """
    toks = tokens(text)
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        prev = fold(toks[i - 1]) if i > 0 else ""
        vs = variants(t)
        digit = next((v for v in vs if re.fullmatch(r"\d{1,2}(:\d{2})?", v)), None)
        if digit is not None:
            if ":" in digit:
                h, m = (int(x) for x in digit.split(":"))
            else:
                h, m = int(digit), 0
                nxt = fold(toks[i + 1]) if i + 1 < len(toks) else ""
                if nxt in _MINUTE_WORDS:
                    m = _MINUTE_WORDS[nxt]
                    i += 1
            if 0 <= h <= 24 and 0 <= m < 60:
                out.append((h % 24, m))
            i += 1
            continue
        if prev in (fold("יום"), fold("ביום"), fold("היום")) or fold(t) in _DAY_WORDS:
            i += 1
            continue
        # "רבע ל-3" / "רבע לשלוש"
        if fold(t) == fold("רבע") and i + 1 < len(toks):
            nv = variants(toks[i + 1])
            h = next((_HOUR_WORDS_F.get(v) for v in nv if v in _HOUR_WORDS_F), None)
            if h is None:
                h = next((int(v) for v in nv if v.isdigit() and int(v) <= 24), None)
            if h is not None and fold(toks[i + 1])[0] == fold("ל"):
                out.append(((h - 1) % 24, 45))
                i += 2
                continue
        h = next((_HOUR_WORDS_F[v] for v in vs if v in _HOUR_WORDS_F), None)
        if h is None:
            i += 1
            continue
        j = i + 1
        # "אחת עשרה", "שתים עשרה"
        if h in (1, 2) and j < len(toks) and fold(toks[j]) in _TEENS:
            h += 10
            j += 1
        m = 0
        if j < len(toks) and fold(toks[j]) in _MINUTE_WORDS:
            m = _MINUTE_WORDS[fold(toks[j])]
            j += 1
        # "שעה אחת" / "שלוש שעות" are durations, not clock times.
        if j < len(toks) and fold(toks[j]) in _fset(["שעות", "שעה", "דקות", "ימים", "פעמים",
                                                      "אנשים", "טיפולים"]):
            i = j + 1
            continue
        if prev in _fset(["שעה", "לשעה", "למשך"]):
            i = j
            continue
        out.append((h, m))
        i = j
    return out


_DIGIT_WORDS = _fset(["אפס", "אחת", "אחד", "שתיים", "שתים", "שניים", "שלוש", "שלש", "ארבע",
                      "חמש", "שש", "שבע", "שמונה", "תשע", "עשר", "עשרים", "שלושים", "ארבעים",
                      "חמישים", "שישים", "שבעים", "שמונים", "תשעים", "מאה", "פלוס"])


def looks_like_phone(text: str) -> bool:
    """True when the caller dictates a number ("אפס חמש אפס...", "050 123...")."""
    toks = tokens(text)
    digits = sum(ch.isdigit() for ch in "".join(toks))
    if digits >= 5:
        return True
    words = [t for t in toks if any(v in _DIGIT_WORDS for v in variants(t, 1))]
    return len(words) >= 3 and len(words) >= len(toks) - 1


def ordinal_choice(text: str) -> int | None:
    """Index chosen by an ordinal word: "הראשונה" -> 0, "השנייה" -> 1, "האחרונה" -> -1.

    Weekday names ("יום ראשון", "בראשון") are not ordinals.
    """
    toks = tokens(text)
    for i, t in enumerate(toks):
        prev = fold(toks[i - 1]) if i > 0 else ""
        if prev in (fold("יום"), fold("ביום"), fold("היום"), fold("ליום"), fold("מיום")):
            continue
        f = fold(t)
        for cand in (f, f[1:] if f[:1] in (fold("ו"), fold("ש")) else ""):
            if cand in _ORDINALS:
                return _ORDINALS[cand]
    return None


_DURATION_WORD_MINUTES = {
    fold("ארבעים וחמש"): 45, fold("שלושים"): 30, fold("שישים"): 60, fold("תשעים"): 90,
    fold("עשרים"): 20, fold("חמישים"): 50, fold("ארבעים"): 40, fold("עשר"): 10,
    fold("חמש עשרה"): 15, fold("עשרים וחמש"): 25,
}
_IN_TIME_WORDS = _fset(["בעוד", "עוד", "תוך", "בתוך", "כל", "לפני", "אחרי", "כעבור"])
_HOUR_NOUN = fold("שעה")
_HOURS_NOUN = fold("שעות")


def _hour_word_value(word: str) -> int | None:
    for v in variants(word):
        if v in _HOUR_WORDS_F:
            return _HOUR_WORDS_F[v]
        if v.isdigit():
            return int(v)
    return None


def extract_duration(text: str) -> tuple[int | None, str]:
    """Find a treatment length ("לשעה אחת", "שעה", "חצי שעה", "45 דקות") in `text`.

    Returns:
        (minutes or None, the normalised text with the duration phrase removed), so that
        "לשעה אחת" is never read as 13:00. "בשעה אחת" / "השעה אחת" / "לשעה שלוש" are clock
        times and "בעוד שעה" / "תוך חצי שעה" are relative times: all are left in the text.
    """
    toks = normalize(text).split()
    ftoks = [fold(t) for t in toks]
    for i, f in enumerate(ftoks):
        prev = ftoks[i - 1] if i > 0 else ""
        if prev in _IN_TIME_WORDS:
            continue
        nxt = ftoks[i + 1] if i + 1 < len(ftoks) else ""
        nxt2 = ftoks[i + 2] if i + 2 < len(ftoks) else ""
        span: tuple[int, int] | None = None
        minutes = 0
        bare = f[1:] if f[:1] == fold("ל") else f
        if f.startswith(fold("למשכ")):
            bare = _HOUR_NOUN if nxt == _HOUR_NOUN else bare
        if bare == fold("שעתיים"):
            span, minutes = (i, i + 1), 120
        elif bare in (fold("חצי"), fold("רבע")) and nxt == _HOUR_NOUN:
            span, minutes = (i, i + 2), (30 if bare == fold("חצי") else 15)
        elif bare == _HOUR_NOUN and f in (_HOUR_NOUN, fold("לשעה")):
            if nxt == fold("וחצי"):
                span, minutes = (i, i + 2), 90
            elif nxt in (fold("אחת"), fold("אחד")) and nxt2 not in (fold("עשרה"), fold("עשר")):
                span, minutes = (i, i + 2), 60
            elif _hour_word_value(nxt) is None and not nxt[:1].isdigit():
                span, minutes = (i, i + 1), 60
        elif f == fold("למשכ") and nxt == _HOUR_NOUN:
            span, minutes = (i, i + 2), 60
        elif f in (fold("דקות"), fold("דק")) and i > 0:
            two = f"{ftoks[i - 2]} {prev}" if i > 1 else ""
            if prev.lstrip(fold("ל")).isdigit():
                span, minutes = (i - 1, i + 1), int(prev.lstrip(fold("ל")))
            elif two in _DURATION_WORD_MINUTES:
                span, minutes = (i - 2, i + 1), _DURATION_WORD_MINUTES[two]
            elif prev in _DURATION_WORD_MINUTES:
                span, minutes = (i - 1, i + 1), _DURATION_WORD_MINUTES[prev]
        elif f == _HOURS_NOUN and i > 0 and _hour_word_value(toks[i - 1]) is not None:
            if ftoks[i - 2] not in _IN_TIME_WORDS if i > 1 else True:
                span, minutes = (i - 1, i + 1), 60 * (_hour_word_value(toks[i - 1]) or 1)
        if span is not None:
            a, b = span
            if a > 0 and ftoks[a - 1] == fold("למשכ"):
                a -= 1
            return minutes, " ".join(toks[:a] + toks[b:])
    return None, " ".join(toks)


# ---------------------------------------------------------------------------------------
# Intents
# ---------------------------------------------------------------------------------------

_INTENT_PHRASES: dict[str, tuple[str, ...]] = {
    "book": ("לקבוע", "תקבע", "תקבעי", "תקבעו", "קבע לי", "קבעי לי", "קביעת", "תור",
             "להזמין", "תזמין", "תזמיני", "הזמנה", "לתאם", "תתאם", "תתאמי", "לשריין", "תשריין",
             "תשרייני", "לרשום אותי", "תרשמי אותי", "תרשום אותי", "רוצה עיסוי", "רוצה טיפול",
             "רוצה לבוא", "להגיע", "לבוא", "לעשות עיסוי", "לעשות טיפול", "מקום פנוי", "אפשר לבוא",
             "מעוניין בעיסוי", "מעוניינת בעיסוי", "מעוניין בטיפול", "מעוניינת בטיפול"),
    "availability": ("יש מקום", "יש לכם מקום", "מקום פנוי", "יש תור", "יש תורים", "מה פנוי",
                     "מה יש", "יש משהו", "פנוי", "פנויה", "פנויים", "זמין", "זמינות",
                     "מתי אפשר", "מתי יש", "מה האפשרויות", "איזה שעות", "אילו שעות",
                     "באיזה שעות", "באילו שעות", "מה השעות", "יש לכם משהו"),
    "hours": ("שעות הפתיחה", "שעות פתיחה", "שעות הפעילות", "שעות פעילות", "שעות העבודה",
              "מתי אתם פתוחים", "מתי פתוחים", "מתי אתם עובדים", "עד מתי", "מאיזה שעה",
              "מאיזו שעה", "מתי פותחים", "מתי סוגרים", "אתם פתוחים", "פתוחים", "פתוח",
              "סגורים", "עובדים", "עד איזה שעה", "עד איזו שעה", "באיזה ימים", "באילו ימים",
              "אתם עובדים", "השעות שלכם", "שעות שלכם", "השעות שלך"),
    "services": ("אילו טיפולים", "איזה טיפולים", "אילו עיסויים", "איזה עיסויים", "אילו סוגי",
                 "איזה סוגי", "סוגי עיסוי", "סוגי טיפולים", "מה אתם מציעים", "מה אפשר לעשות",
                 "מה יש לכם", "מה הטיפולים", "מה העיסויים", "איזה סוגים", "אילו סוגים",
                 "אילו שירותים", "איזה שירותים", "מה השירותים", "מה אתם עושים",
                 "רשימת הטיפולים", "איזה עיסוי יש", "אילו עיסוי", "איזה טיפול יש",
                 "מה זה", "מה ההבדל"),
    "price": ("מחיר", "מחירים", "המחיר", "כמה עולה", "כמה זה עולה", "כמה זה", "עלות", "עולה",
              "תעריף", "כמה כסף", "כמה משלמים", "הנחה", "מבצע", "שקל", "שקלים"),
    "address": ("איפה אתם", "כתובת", "הכתובת", "איך מגיעים", "איפה זה", "איפה נמצאים",
                "חניה", "חנייה", "מיקום"),
    "duration_q": ("כמה זמן", "כמה דקות", "כמה זמן לוקח", "כמה זמן זה", "אורך הטיפול",
                   "כמה זמן נמשך"),
    "notice_q": ("כמה זמן מראש", "כמה מראש", "כמה ימים מראש", "כמה זמן לפני",
                 "עד כמה רחוק", "לכמה זמן קדימה"),
    "cancel": ("לבטל", "תבטל", "תבטלי", "תבטלו", "ביטול", "בטל", "בטלי", "מבטל", "מבטלת"),
    "reschedule": ("להזיז", "תזיז", "תזיזי", "לדחות", "לשנות את התור", "לשנות תור",
                   "להקדים", "לשנות את השעה"),
    "human": ("נציג", "נציגה", "בן אדם", "אדם אמיתי", "מישהו אמיתי", "לדבר עם מישהו",
              "מנהל", "מנהלת", "בעל העסק", "בעלת העסק", "מזכירה"),
    "repeat": ("מה אמרת", "לא שמעתי", "תחזרי", "תחזור", "שוב בבקשה", "לא הבנתי", "סליחה מה",
               "אפשר לחזור", "עוד פעם"),
    "earliest": ("הכי מוקדם", "כמה שיותר מוקדם", "בהקדם", "הכי קרוב", "התור הקרוב",
                 "התור הראשון", "הראשון הפנוי", "הראשון שיש", "מה שהכי מוקדם", "מוקדם ככל",
                 "הקרוב ביותר", "המוקדם ביותר", "כמה שיותר מהר", "הכי מהר", "דחוף", "ASAP",
                 "עכשיו", "מיד", "כבר היום"),
    "latest": ("הכי מאוחר", "כמה שיותר מאוחר", "המאוחר ביותר", "בסוף היום", "האחרון"),
    "any_time": ("לא משנה לי", "לא משנה", "אין לי העדפה", "אין העדפה", "מה שנוח לכם",
                 "מה שתמליצי", "מה שתגידי", "תבחרי את", "תבחרי אתה", "איזה שבא לך",
                 "לא אכפת לי", "לא אכפת", "מתי שנוח", "מתי שיש",
                 "כל שעה", "כל זמן", "איזה שעה שיש", "מה שיש", "מה שפנוי", "גמיש", "גמישה",
                 "לא חשוב", "כל יום", "איזה יום שיש", "מתי שאפשר"),
    "who": ("מי זה", "עם מי אני מדבר", "עם מי אני מדברת", "את רובוט", "אתה רובוט",
            "זה רובוט", "מי מדבר", "מי את"),
    "another": ("עוד תור", "תור נוסף", "תור נוסף", "גם תור", "עוד אחד", "לחבר שלי",
                "לחברה שלי", "לבעלי", "לאשתי", "עוד טיפול"),
    "inquire": ("לשאול", "לברר", "שאלה", "יש לי שאלה", "להתייעץ", "לבדוק משהו",
                "בקשר", "בנוגע", "לגבי"),
    "correction": ("רגע", "בעצם", "סליחה טעיתי", "טעיתי", "התכוונתי", "לא לא", "תתקן",
                   "תתקני", "שיניתי את דעתי", "במקום"),
}

_QUESTION_INTENTS = ("hours", "services", "price", "address", "duration_q", "notice_q", "who")


@dataclass
class Understanding:
    """What one caller utterance says, before dates and times are resolved.

    Attributes:
        text: the original utterance.
        norm: `normalize(text)`.
        intents: names from `_INTENT_PHRASES` found in the utterance (book, availability,
            hours, services, price, address, duration_q, cancel, reschedule, human, repeat,
            earliest, latest, any_time, who, another, inquire, correction).
        yes / no: affirmative / negative answer.
        goodbye: the caller closes the call; thanks_only: only thanks/politeness.
        greeting_only: only a greeting ("שלום").
        service: the named `Service` or None; generic_service: "עיסוי" without a type.
        name: a name given with a marker (see `extract_name`), or None.
        ordinal: an ordinal choice index, or None.
        clocks: clock times said (see `clock_mentions`).
        duration_min: a treatment length said ("שעה", "חצי שעה"), or None.
        time_text: the utterance without the duration phrase, for the date/time resolver.
    """

    text: str
    norm: str
    intents: set[str] = field(default_factory=set)
    yes: bool = False
    no: bool = False
    goodbye: bool = False
    thanks_only: bool = False
    greeting_only: bool = False
    service: Any | None = None
    generic_service: bool = False
    name: str | None = None
    ordinal: int | None = None
    clocks: list[tuple[int, int]] = field(default_factory=list)
    duration_min: int | None = None
    time_text: str = ""

    @property
    def questions(self) -> list[str]:
        """The information questions asked, in a fixed order."""
        return [i for i in _QUESTION_INTENTS if i in self.intents]


def detect_intents(text: str) -> set[str]:
    """Intent names (see `Understanding.intents`) found in `text`."""
    toks = tokens(text)
    found = {name for name, phrases in _INTENT_PHRASES.items() if has_phrase(toks, *phrases)}
    if "any_time" in found and has_phrase(toks, "לא משנה לי היום", "לא משנה היום"):
        found.discard("any_time")
    # "סגור" alone is a yes ("deal"), not a question about closing.
    if "hours" in found and not any(
        has_phrase(toks, p) for p in _INTENT_PHRASES["hours"] if p not in ("סגורים",)
    ) and not has_phrase(toks, "סגורים"):
        found.discard("hours")
    # "מה זה" / "מה ההבדל" are service questions only when a service word is present.
    if "services" in found and not has_phrase(
        toks, *[p for p in _INTENT_PHRASES["services"] if p not in ("מה זה", "מה ההבדל")]
    ) and not mentions_generic_service(text):
        found.discard("services")
    # "עולה" alone ("עולה לי") is weak: keep price only with a question word or price noun.
    if "price" in found and not has_phrase(toks, "מחיר", "מחירים", "המחיר", "כמה", "עלות",
                                           "תעריף", "הנחה", "מבצע", "שקל", "שקלים"):
        found.discard("price")
    if "notice_q" in found:
        found.discard("duration_q")
    # "מה יש לכם, איזה טיפולים?" asks the services, not what is free.
    if "availability" in found and "services" in found and not has_phrase(
            toks, *[p for p in _INTENT_PHRASES["availability"]
                    if p not in ("מה יש", "יש לכם משהו", "יש משהו")]):
        found.discard("availability")
    # "מה השעות שלכם?" asks the opening hours, not which hours are free.
    if "availability" in found and has_phrase(toks, "השעות שלכם", "שעות שלכם", "השעות שלך") \
            and not has_phrase(toks, *[p for p in _INTENT_PHRASES["availability"]
                                       if "שעות" not in p]):
        found.discard("availability")
    # A bare "האחרון" is an ordinal, not "the latest slot".
    if "latest" in found and not has_phrase(toks, "הכי מאוחר", "כמה שיותר מאוחר",
                                            "המאוחר ביותר", "בסוף היום"):
        found.discard("latest")
    return found


def analyze(text: str, services: Sequence[Any] = (), expecting_name: bool = False) -> Understanding:
    """Understand one utterance.

    Args:
        text: the caller's transcript.
        services: the business's services (for service names and to keep them out of names).
        expecting_name: the agent just asked for the name; a bare answer counts as a name.

    Returns:
        An `Understanding`; never raises on any string.
    """
    norm = normalize(text)
    duration, time_text = extract_duration(text)
    u = Understanding(text=text, norm=norm, time_text=time_text, duration_min=duration)
    u.intents = detect_intents(text)
    u.no = is_no(text)
    u.yes = is_yes(text)
    u.goodbye = is_goodbye(text)
    u.thanks_only = is_thanks_only(text)
    u.greeting_only = is_greeting_only(text)
    u.service = match_service(text, services)
    u.generic_service = u.service is None and mentions_generic_service(text)
    u.name = extract_name(text, services, bare=expecting_name)
    if u.name is None and (u.service is not None or "book" in u.intents):
        tail = trailing_name(text, services)
        u.name = _restore_geresh(tail, str(text)) if tail else None
    u.ordinal = ordinal_choice(text)
    u.clocks = clock_mentions(time_text)
    return u
