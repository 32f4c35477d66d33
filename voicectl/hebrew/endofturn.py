"""Is what the caller said so far plainly unfinished? (for end-of-turn detection)

A sentence pause is not the end of a turn when the words so far cannot end a sentence:

- a dangling preposition, conjunction or relative word: "יש לכם מקום ב", "ביום",
  "בשעה", "אני רוצה לקבוע ל", "שוודי או", "ואם", "כי", "של", "עם", "בין";
- a number being said: a tens word that "ו" + a unit may follow ("עשרים", "שלושים"), a
  "ו" + number still open ("וחצי" closes it, "ועשרים" may go on), a clock hour's
  "ב" + number with "ו"/"עשרה" still to come is not flagged (it can end a sentence);
- a question the caller is still adding to: an opener with nothing after it ("רציתי
  לשאול", "יש לי שאלה", "תגידי", "מה לגבי", "ומה עם").

Anything else - including a complete question ("יש לכם מקום מחר?") - may end a turn. The
check is deliberately narrow: a false "unfinished" only delays the answer by the
configured extra silence, a false "finished" answers a fragment.

Source: Hebrew grammar (prepositions and conjunctions never end a sentence) and the
issue's examples. Pure; never raises.
"""

from __future__ import annotations

from voicectl.hebrew.letters import fold
from voicectl.hebrew.text import tokens
from voicectl.hebrew.vocab import fset

__all__ = ["looks_unfinished"]

_DANGLING = fset(
    [
        # prefix letters said alone ("ב-", "ל-" before a number still to come)
        "ב",
        "ל",
        "מ",
        "ו",
        "ש",
        "ה",
        "כ",
        # prepositions and nouns that need what follows
        "ביום",
        "ליום",
        "יום",
        "בשעה",
        "לשעה",
        "בשעות",
        "עם",
        "של",
        "את",
        "על",
        "בין",
        "עד",
        "אחרי",
        "לפני",
        "מאז",
        "בערך",
        "סביב",
        "בסביבות",
        "לגבי",
        "בשביל",
        "עבור",
        "במקום",
        "כמו",
        # conjunctions
        "או",
        "אבל",
        "וגם",
        "כי",
        "אם",
        "ואם",
        "ואז",
        "שאם",
        "כש",
        "כשאני",
        "אלא",
        # a question word with its conjunction, waiting for the rest
        "ומה",
        "האם",
    ]
)
_OPEN_TENS = fset(["עשרים", "שלושים", "ארבעים", "חמישים", "ועשרים", "ושלושים", "וארבעים"])
_OPENERS = tuple(
    fold(p)
    for p in (
        "רציתי לשאול",
        "רציתי לברר",
        "יש לי שאלה",
        "שאלה",
        "תגידי",
        "תגיד",
        "מה לגבי",
        "ומה עם",
        "מה עם",
        "אני רוצה",
        "רציתי",
    )
)


def looks_unfinished(text: str) -> bool:
    """True when `text` (a partial transcript) plainly cannot end the caller's turn.

    Args:
        text: the words recognised so far in the current utterance (any string).

    Returns:
        True for a dangling last word, an open number, or a bare question opener (see the
        module docstring); False otherwise, and for empty text.
    """
    toks = tokens(text)
    if not toks:
        return False
    last = fold(toks[-1])
    if last in _DANGLING or last in _OPEN_TENS:
        return True
    norm = " ".join(fold(t) for t in toks)
    return any(norm == p or norm.endswith(" " + p) for p in _OPENERS)
