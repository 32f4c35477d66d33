"""Phrase hints for a speech recogniser: what a booking call in Hebrew is likely to contain.

SEEDS.md seed 002 D.2: hints for numbers, weekdays, "שעה" (hour), "תור" (appointment);
issue 8 adds the business's service names and aliases. Google's limits (TWILIO.md): up to
5,000 phrases of at most 100 characters each.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from voicectl.hebrew.calendar import weekday_to_words
from voicectl.hebrew.numbers import number_to_words

MAX_PHRASES = 5000
MAX_PHRASE_CHARS = 100

#: Booking words besides numbers and days (seed 002 D.2, and the parts of day callers use).
_BOOKING_WORDS = (
    "שעה",
    "תור",
    "לקבוע תור",
    "היום",
    "מחר",
    "מחרתיים",
    "בבוקר",
    "בצהריים",
    "אחר הצהריים",
    "בערב",
    "וחצי",
    "ורבע",
    "רבע ל",
    "שבוע הבא",
    "כן",
    "לא",
    "בסדר",
)


@cache
def base_hints() -> tuple[str, ...]:
    """Numbers 0-59 (both genders, as words), the weekdays, and the booking words."""
    out: list[str] = []
    for n in range(60):
        out += [number_to_words(n, "f"), number_to_words(n, "m")]
    for wd in range(7):
        out += [weekday_to_words(wd), weekday_to_words(wd, with_yom=False)]
    out += _BOOKING_WORDS
    return tuple(dict.fromkeys(out))


def service_hints(policy: Any) -> tuple[str, ...]:
    """The service names and aliases of a `BusinessPolicy` (anything with `.services`)."""
    out: list[str] = []
    for svc in getattr(policy, "services", ()) or ():
        out.append(str(getattr(svc, "name", "")))
        out += [str(a) for a in getattr(svc, "aliases", ()) or ()]
    return tuple(p for p in dict.fromkeys(out) if p)


def merge_hints(*groups: Iterable[str]) -> list[str]:
    """Unique phrases in order, each trimmed to Google's limits (100 chars, 5,000 phrases)."""
    seen: dict[str, None] = {}
    for group in groups:
        for phrase in group:
            p = " ".join(str(phrase).split())[:MAX_PHRASE_CHARS]
            if p:
                seen.setdefault(p)
    return list(seen)[:MAX_PHRASES]
