"""Dialogue acts in a caller's Hebrew: yes, no, goodbye, thanks, a bare greeting.

Israeli phone Hebrew: "כן שלום" opens a call and answers nothing; "לא משנה" (= any is
fine) and "לא שמעתי" are not a no; "שלום" is a greeting at the start and a goodbye at the
end (after thanks); weak words ("טוב", "אפשר") are a yes only in a short answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from voicectl.hebrew.letters import fold
from voicectl.hebrew.text import tokens
from voicectl.hebrew.vocab import Words, fset, has_phrase, in_vocab, phrase_tokens


def _phrases(text: str) -> tuple[str, ...]:
    """Phrases written "a | b | c" (one list of phrases, easy to read and extend)."""
    return tuple(p.strip() for p in text.split("|") if p.strip())


__all__ = [
    "BYE_WORDS",
    "FILLERS",
    "GREETING_WORDS",
    "THANKS",
    "YES_STRONG",
    "is_goodbye",
    "is_greeting_only",
    "is_no",
    "is_thanks_only",
    "is_yes",
    "strip_fillers",
]

FILLERS = fset(
    [
        "אה",
        "אהה",
        "אמ",
        "אממ",
        "הממ",
        "אוו",
        "נו",
        "טוב אז",
        "אז",
        "רגע",
        "בעצם",
        "אממם",
        "יאללה אז",
        "רק",
        "אוקיי אז",
    ]
)
YES_STRONG = fset(
    [
        "כן",
        "כן כן",
        "בטח",
        "בסדר",
        "מאשר",
        "מאשרת",
        "מאושר",
        "נכון",
        "יאללה",
        "סגור",
        "אוקיי",
        "אוקי",
        "אוקיי",
        "אוקיה",
        "בדיוק",
        "ברור",
        "בהחלט",
        "כמובן",
        "סבבה",
        "אחלה",
        "מעולה",
        "מצוין",
        "מצויין",
        "יופי",
        "פיקס",
        "ok",
        "okay",
        "yes",
        "מתאים",
        "מתאימה",
        "הולך",
        "נהדר",
        "קבענו",
        "אשמח",
        "בשמחה",
        "תקבעי",
        "תקבע",
        "קבעי",
        "קבע",
    ]
)
_YES_WEAK = fset(["טוב", "אפשר", "שיהיה", "נשמע"])
_CALL_OPENERS = fset(["שלום", "הלו", "היי", "הי", "אהלן", "בוקר", "ערב", "צהריים"])
_YES_PHRASES = _phrases(
    "אין בעיה | זה מתאים | מתאים לי | נשמע טוב | זה טוב | זה בסדר | בסדר גמור | זה עובד | "
    "עובד לי | הולך על זה | הולכת על זה | בוא נעשה | בואי נעשה | בואו נעשה | סגרנו | "
    "תרשמי | תרשום | רשמי | שיהיה"
)
_NO_WORDS = fset(["לא", "לאו", "no", "nope", "ממש לא", "אל"])
_NO_PHRASES = _phrases(
    "לא מתאים | לא טוב | לא רוצה | לא צריך | עדיף שלא | ממש לא | אין צורך | אין לי | "
    "אין לי מספר | אין טלפון | בלי מספר | בלי טלפון | אין מספר | לא תודה | לא יכול | "
    "לא יכולה | לא נוח | זה לא | לא הולך | לא מסתדר"
)
_NOT_NO_PHRASES = _phrases(
    "לא משנה | לא אכפת | לא חשוב | לא משנה לי | אין לי העדפה | אין העדפה | אין לי בעיה | "
    "אין בעיה | לא שמעתי | לא הבנתי | לא יודע | לא יודעת | לא בטוח | לא בטוחה | לא מאוחר | "
    "לא מוקדם | לא לפני | לא אחרי"
)
BYE_WORDS = fset(["ביי", "להתראות", "ביוש", "בייבי", "bye", "באי", "להשתמע", "ביביי"])
_BYE_PHRASES = _phrases(
    "זה הכל | זה הכול | זהו זה | זהו | אין עוד | זה מה שרציתי | זה מה שהיה | סיימנו | "
    "זה בסדר תודה | שיהיה יום טוב | יום טוב | ערב טוב | לילה טוב | שבוע טוב | שבת שלום | "
    "סוף שבוע נעים | המשך יום | אין צורך | לא צריך | לא תודה | תודה ושלום | שלום ותודה | "
    "נדבר | נתראה | אחזור אליכם | אחזור אלייך | אחזור אליך | אני אחזור | אחשוב על זה | "
    "אני אחשוב | אתקשר שוב | אתקשר מאוחר יותר | אתקשר אחר כך | נדבר אחר כך"
)
_BYE_END_ONLY = ("יום טוב", "ערב טוב", "לילה טוב", "שבוע טוב", "שבת שלום", "שלום", "נדבר", "נתראה")
THANKS = fset(
    [
        "תודה",
        "תודה רבה",
        "תודות",
        "רבה",
        "תנקס",
        "thanks",
        "thank",
        "you",
        "מאוד",
        "ממש",
        "סבבה",
        "אחלה",
        "מעולה",
        "יופי",
        "אוקיי",
        "אוקי",
        "טוב",
        "בסדר",
        "מצוין",
        "נהדר",
        "לך",
        "לכם",
        "שלום",
        "ביי",
        "להתראות",
        "יום",
        "ערב",
        "לילה",
        "שבוע",
        "טוב",
        "נעים",
        "והמשך",
        "המשך",
        "כן",
        "אז",
        "זהו",
        "זה",
        "הכל",
        "הכול",
        "לא",
        "יאללה",
        "שבת",
        "נדבר",
        "נתראה",
        "אין",
        "צורך",
        "עוד",
        "משהו",
        "צריך",
    ]
)
GREETING_WORDS = fset(
    [
        "שלום",
        "היי",
        "הי",
        "הלו",
        "אהלן",
        "הלוו",
        "בוקר",
        "טוב",
        "ערב",
        "צהריים",
        "צהרים",
        "טובים",
        "מה",
        "נשמע",
        "שלומך",
        "שלומכם",
        "קורה",
        "hello",
        "hi",
        "כן",
        "מה נשמע",
    ]
)


def strip_fillers(toks: Sequence[str]) -> list[str]:
    """`toks` without leading fillers ("אה", "אז", "רגע", "בעצם", ...)."""
    out = list(toks)
    while out and fold(out[0]) in FILLERS:
        out.pop(0)
    return out


# "קבע"/"תקבע" lead a request too ("תקבע לי מחר"): a yes only when nothing follows.
_BOOK_VERBS = fset(["תקבע", "תקבעי", "קבע", "קבעי"])


def is_yes(text: str) -> bool:
    """True for an affirmative answer: כן, בסדר, מאשר, נכון, יאללה, סגור, מתאים לי, ...

    Weak words ("טוב", "אפשר") count only in a short answer (<= 3 words), so "אפשר לקבוע
    תור?" is not a yes. A leading no wins ("לא, בסדר" is a no).
    """
    toks = strip_fillers(tokens(text))
    # "כן שלום, ..." / "כן הלו" is how Israelis open a call: it answers nothing.
    if len(toks) >= 2 and fold(toks[0]) == fold("כן") and fold(toks[1]) in _CALL_OPENERS:
        toks = strip_fillers(toks[2:])
        text = " ".join(toks)
    if not toks or is_no(text):
        return False
    first = fold(toks[0])
    if first in YES_STRONG:
        # "קבע"/"תקבע" lead a request too ("תקבע לי מחר") - a yes only when nothing follows.
        if first in _BOOK_VERBS and len(toks) > 2:
            return False
        return True
    if len(toks) <= 2 and first in _YES_WEAK:
        return True
    if has_phrase(toks, *_YES_PHRASES):
        return True
    return len(toks) <= 4 and any(fold(t) in YES_STRONG for t in toks[:2])


def is_no(text: str) -> bool:
    """True for a negative answer: לא, ממש לא, לא מתאים, עדיף שלא, ...

    "לא משנה" / "לא אכפת לי" (= any is fine) and "לא שמעתי" are not a no.
    """
    toks = strip_fillers(tokens(text))
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
    if any(in_vocab(t, BYE_WORDS) for t in toks):
        return True
    only_polite = all(fold(t) in THANKS for t in toks)
    said = Words.of(toks)
    for p in _BYE_PHRASES:
        i = said.find(p)
        if i < 0:
            continue
        if p in _BYE_END_ONLY:
            exact = fold(toks[i]) == phrase_tokens(p)[0]
            if exact and i + len(phrase_tokens(p)) == len(toks) and (i > 0 or only_polite):
                return True
            continue
        if p in ("לא תודה", "אין צורך", "לא צריך", "זהו"):
            if only_polite:
                return True
            continue
        return True
    return False


_THANKS_WORDS = fset(["תודה", "תודות", "תנקס", "thanks"])


def is_thanks_only(text: str) -> bool:
    """True when the utterance is only thanks/politeness ("תודה רבה", "סבבה תודה")."""
    toks = tokens(text)
    return (
        bool(toks)
        and any(fold(t) in _THANKS_WORDS for t in toks)
        and all(fold(t) in THANKS for t in toks)
    )


_GREETINGS = fset(["שלום", "היי", "הי", "הלו", "אהלן", "hello", "hi", "בוקר", "ערב"])


def is_greeting_only(text: str) -> bool:
    """True when the utterance is only a greeting ("שלום", "היי, מה נשמע?")."""
    toks = tokens(text)
    return (
        bool(toks)
        and all(fold(t) in GREETING_WORDS for t in toks)
        and any(fold(t) in _GREETINGS for t in toks)
    )
