"""The offline agent's reading of one caller utterance: intents, answers, slots.

Pure (no I/O, no clock): text in, an `Understanding` out. The Hebrew itself - text
normalisation, prefixes, number and calendar words, names, services, dialogue acts - is
`voicectl.hebrew`; this module combines it into what the agent needs per turn (intents
such as "book"/"availability"/"hours", a treatment length, an ordinal choice). The agent
resolves dates and times with `voicectl.hebrew.when.resolve_when`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from voicectl.booking.policy import Service
from voicectl.hebrew.acts import is_goodbye, is_greeting_only, is_no, is_thanks_only, is_yes
from voicectl.hebrew.letters import fold
from voicectl.hebrew.lexicon import CARDINAL, lookup
from voicectl.hebrew.names import extract_name, restore_geresh, trailing_name
from voicectl.hebrew.numbers import CARDINALS, TENS_WORDS
from voicectl.hebrew.prefixes import variants
from voicectl.hebrew.services import match_service, mentions_generic_service
from voicectl.hebrew.text import normalize, tokens
from voicectl.hebrew.vocab import fset, has_phrase, words

__all__ = [
    "Understanding",
    "analyze",
    "detect_intents",
    "extract_duration",
    "looks_like_phone",
    "ordinal_choice",
]

# ---------------------------------------------------------------------------------------
# Clock times, ordinals, durations
# ---------------------------------------------------------------------------------------

_ORDINALS = {
    fold("ראשונה"): 0,
    fold("הראשונה"): 0,
    fold("הראשון"): 0,
    fold("שנייה"): 1,
    fold("שניה"): 1,
    fold("השנייה"): 1,
    fold("השניה"): 1,
    fold("השני"): 1,
    fold("שלישית"): 2,
    fold("השלישית"): 2,
    fold("השלישי"): 2,
    fold("אחרונה"): -1,
    fold("האחרונה"): -1,
    fold("האחרון"): -1,
    fold("המוקדמת"): 0,
    fold("המוקדם"): 0,
    fold("המאוחרת"): -1,
    fold("המאוחר"): -1,
}


_DIGIT_WORDS = fset([*CARDINALS, *TENS_WORDS, "מאה", "פלוס"])


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
    fold("ארבעים וחמש"): 45,
    fold("שלושים"): 30,
    fold("שישים"): 60,
    fold("תשעים"): 90,
    fold("עשרים"): 20,
    fold("חמישים"): 50,
    fold("ארבעים"): 40,
    fold("עשר"): 10,
    fold("חמש עשרה"): 15,
    fold("עשרים וחמש"): 25,
}
_IN_TIME_WORDS = fset(["בעוד", "עוד", "תוך", "בתוך", "כל", "לפני", "אחרי", "כעבור"])
_HOUR_NOUN = fold("שעה")
_HOURS_NOUN = fold("שעות")


def _hour_word_value(word: str) -> int | None:
    """The count a number word or digits give ("שלוש" -> 3, "ל3" -> 3), else None."""
    a = lookup(word, CARDINAL)
    if a is not None:
        return int(a.value[0])  # type: ignore[index]
    return next((int(v) for v in variants(word) if v.isdigit()), None)


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
    "book": (
        "לקבוע",
        "תקבע",
        "תקבעי",
        "תקבעו",
        "קבע לי",
        "קבעי לי",
        "קביעת",
        "תור",
        "להזמין",
        "תזמין",
        "תזמיני",
        "הזמנה",
        "לתאם",
        "תתאם",
        "תתאמי",
        "לשריין",
        "תשריין",
        "תשרייני",
        "לרשום אותי",
        "תרשמי אותי",
        "תרשום אותי",
        "רוצה עיסוי",
        "רוצה טיפול",
        "רוצה לבוא",
        "להגיע",
        "לבוא",
        "לעשות עיסוי",
        "לעשות טיפול",
        "מקום פנוי",
        "אפשר לבוא",
        "מעוניין בעיסוי",
        "מעוניינת בעיסוי",
        "מעוניין בטיפול",
        "מעוניינת בטיפול",
    ),
    "availability": (
        "יש מקום",
        "יש לכם מקום",
        "מקום פנוי",
        "יש תור",
        "יש תורים",
        "מה פנוי",
        "מה יש",
        "יש משהו",
        "פנוי",
        "פנויה",
        "פנויים",
        "זמין",
        "זמינות",
        "מתי אפשר",
        "מתי יש",
        "מה האפשרויות",
        "איזה שעות",
        "אילו שעות",
        "באיזה שעות",
        "באילו שעות",
        "מה השעות",
        "יש לכם משהו",
    ),
    "hours": (
        "שעות הפתיחה",
        "שעות פתיחה",
        "שעות הפעילות",
        "שעות פעילות",
        "שעות העבודה",
        "מתי אתם פתוחים",
        "מתי פתוחים",
        "מתי אתם עובדים",
        "עד מתי",
        "מאיזה שעה",
        "מאיזו שעה",
        "מתי פותחים",
        "מתי סוגרים",
        "אתם פתוחים",
        "פתוחים",
        "פתוח",
        "סגורים",
        "עובדים",
        "עד איזה שעה",
        "עד איזו שעה",
        "באיזה ימים",
        "באילו ימים",
        "אתם עובדים",
        "השעות שלכם",
        "שעות שלכם",
        "השעות שלך",
    ),
    "services": (
        "אילו טיפולים",
        "איזה טיפולים",
        "אילו עיסויים",
        "איזה עיסויים",
        "אילו סוגי",
        "איזה סוגי",
        "סוגי עיסוי",
        "סוגי טיפולים",
        "מה אתם מציעים",
        "מה אפשר לעשות",
        "מה יש לכם",
        "מה הטיפולים",
        "מה העיסויים",
        "איזה סוגים",
        "אילו סוגים",
        "אילו שירותים",
        "איזה שירותים",
        "מה השירותים",
        "מה אתם עושים",
        "רשימת הטיפולים",
        "איזה עיסוי יש",
        "אילו עיסוי",
        "איזה טיפול יש",
        "מה זה",
        "מה ההבדל",
    ),
    "price": (
        "מחיר",
        "מחירים",
        "המחיר",
        "כמה עולה",
        "כמה זה עולה",
        "כמה זה",
        "עלות",
        "עולה",
        "תעריף",
        "כמה כסף",
        "כמה משלמים",
        "הנחה",
        "מבצע",
        "שקל",
        "שקלים",
    ),
    "address": (
        "איפה אתם",
        "כתובת",
        "הכתובת",
        "איך מגיעים",
        "איפה זה",
        "איפה נמצאים",
        "חניה",
        "חנייה",
        "מיקום",
    ),
    "duration_q": (
        "כמה זמן",
        "כמה דקות",
        "כמה זמן לוקח",
        "כמה זמן זה",
        "אורך הטיפול",
        "כמה זמן נמשך",
    ),
    "notice_q": (
        "כמה זמן מראש",
        "כמה מראש",
        "כמה ימים מראש",
        "כמה זמן לפני",
        "עד כמה רחוק",
        "לכמה זמן קדימה",
    ),
    "cancel": ("לבטל", "תבטל", "תבטלי", "תבטלו", "ביטול", "בטל", "בטלי", "מבטל", "מבטלת"),
    "reschedule": (
        "להזיז",
        "תזיז",
        "תזיזי",
        "לדחות",
        "לשנות את התור",
        "לשנות תור",
        "להקדים",
        "לשנות את השעה",
    ),
    "human": (
        "נציג",
        "נציגה",
        "בן אדם",
        "אדם אמיתי",
        "מישהו אמיתי",
        "לדבר עם מישהו",
        "מנהל",
        "מנהלת",
        "בעל העסק",
        "בעלת העסק",
        "מזכירה",
    ),
    "repeat": (
        "מה אמרת",
        "לא שמעתי",
        "תחזרי",
        "תחזור",
        "שוב בבקשה",
        "לא הבנתי",
        "סליחה מה",
        "אפשר לחזור",
        "עוד פעם",
    ),
    "earliest": (
        "הכי מוקדם",
        "כמה שיותר מוקדם",
        "בהקדם",
        "הכי קרוב",
        "התור הקרוב",
        "התור הראשון",
        "הראשון הפנוי",
        "הראשון שיש",
        "מה שהכי מוקדם",
        "מוקדם ככל",
        "הקרוב ביותר",
        "המוקדם ביותר",
        "כמה שיותר מהר",
        "הכי מהר",
        "דחוף",
        "ASAP",
        "עכשיו",
        "מיד",
        "כבר היום",
    ),
    "latest": ("הכי מאוחר", "כמה שיותר מאוחר", "המאוחר ביותר", "בסוף היום", "האחרון"),
    "any_time": (
        "לא משנה לי",
        "לא משנה",
        "אין לי העדפה",
        "אין העדפה",
        "מה שנוח לכם",
        "מה שתמליצי",
        "מה שתגידי",
        "תבחרי את",
        "תבחרי אתה",
        "איזה שבא לך",
        "לא אכפת לי",
        "לא אכפת",
        "מתי שנוח",
        "מתי שיש",
        "כל שעה",
        "כל זמן",
        "איזה שעה שיש",
        "מה שיש",
        "מה שפנוי",
        "גמיש",
        "גמישה",
        "לא חשוב",
        "כל יום",
        "איזה יום שיש",
        "מתי שאפשר",
    ),
    "who": (
        "מי זה",
        "עם מי אני מדבר",
        "עם מי אני מדברת",
        "את רובוט",
        "אתה רובוט",
        "זה רובוט",
        "מי מדבר",
        "מי את",
    ),
    "another": (
        "עוד תור",
        "תור נוסף",
        "תור נוסף",
        "גם תור",
        "עוד אחד",
        "לחבר שלי",
        "לחברה שלי",
        "לבעלי",
        "לאשתי",
        "עוד טיפול",
    ),
    "inquire": (
        "לשאול",
        "לברר",
        "שאלה",
        "יש לי שאלה",
        "להתייעץ",
        "לבדוק משהו",
        "בקשר",
        "בנוגע",
        "לגבי",
    ),
    "correction": (
        "רגע",
        "בעצם",
        "סליחה טעיתי",
        "טעיתי",
        "התכוונתי",
        "לא לא",
        "תתקן",
        "תתקני",
        "שיניתי את דעתי",
        "במקום",
    ),
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
    service: Service | None = None
    generic_service: bool = False
    name: str | None = None
    ordinal: int | None = None
    duration_min: int | None = None
    time_text: str = ""

    @property
    def questions(self) -> list[str]:
        """The information questions asked, in a fixed order."""
        return [i for i in _QUESTION_INTENTS if i in self.intents]


def detect_intents(text: str) -> set[str]:
    """Intent names (see `Understanding.intents`) found in `text`."""
    toks = words(text)
    found = {name for name, phrases in _INTENT_PHRASES.items() if has_phrase(toks, *phrases)}
    if "any_time" in found and has_phrase(toks, "לא משנה לי היום", "לא משנה היום"):
        found.discard("any_time")
    # "סגור" alone is a yes ("deal"), not a question about closing.
    if (
        "hours" in found
        and not any(has_phrase(toks, p) for p in _INTENT_PHRASES["hours"] if p not in ("סגורים",))
        and not has_phrase(toks, "סגורים")
    ):
        found.discard("hours")
    # "מה זה" / "מה ההבדל" are service questions only when a service word is present.
    if (
        "services" in found
        and not has_phrase(
            toks, *[p for p in _INTENT_PHRASES["services"] if p not in ("מה זה", "מה ההבדל")]
        )
        and not mentions_generic_service(text)
    ):
        found.discard("services")
    # "עולה" alone ("עולה לי") is weak: keep price only with a question word or price noun.
    if "price" in found and not has_phrase(
        toks, "מחיר", "מחירים", "המחיר", "כמה", "עלות", "תעריף", "הנחה", "מבצע", "שקל", "שקלים"
    ):
        found.discard("price")
    if "notice_q" in found:
        found.discard("duration_q")
    # "מה יש לכם, איזה טיפולים?" asks the services, not what is free.
    if (
        "availability" in found
        and "services" in found
        and not has_phrase(
            toks,
            *[
                p
                for p in _INTENT_PHRASES["availability"]
                if p not in ("מה יש", "יש לכם משהו", "יש משהו")
            ],
        )
    ):
        found.discard("availability")
    # "מה השעות שלכם?" asks the opening hours, not which hours are free.
    if (
        "availability" in found
        and has_phrase(toks, "השעות שלכם", "שעות שלכם", "השעות שלך")
        and not has_phrase(toks, *[p for p in _INTENT_PHRASES["availability"] if "שעות" not in p])
    ):
        found.discard("availability")
    # A bare "האחרון" is an ordinal, not "the latest slot".
    if "latest" in found and not has_phrase(
        toks, "הכי מאוחר", "כמה שיותר מאוחר", "המאוחר ביותר", "בסוף היום"
    ):
        found.discard("latest")
    return found


def analyze(
    text: str, services: Sequence[Service] = (), expecting_name: bool = False
) -> Understanding:
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
        u.name = restore_geresh(tail, str(text)) if tail else None
    u.ordinal = ordinal_choice(text)
    return u
