"""Customer phone numbers: normalisation to E.164 and the choice between sources.

Rules (SEEDS.md seed 000 item 3, seed 001 item 2):

- The booking tool takes the phone from, in order: `input.customer_phone` ->
  `context.customer_phone` -> the session's caller number (DTMF or Twilio caller id).
- A candidate is usable only if it starts with `+` or `0` and normalises; an unusable
  candidate falls through to the next source. No usable candidate -> `None` (book anyway;
  never "UNKNOWN").

Israeli numbers are accepted when *possible* rather than *valid*: `phonenumbers` calls the
unallocated 050-1xx block "not valid", yet the seed's acceptance test dials `0501234567`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import phonenumbers

WITHHELD = frozenset(
    {
        "",
        "anonymous",
        "unknown",
        "private",
        "restricted",
        "unavailable",
        "blocked",
        "none",
        "null",
        "undefined",
        "n/a",
        "withheld",
    }
)
"""Caller-id stand-ins (Twilio sends `anonymous`) that mean "no number", compared
case-insensitively after stripping."""

_ALLOWED = re.compile(r"^\+?[0-9()\-. ]+$")
_INVISIBLE = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069\u00a0\ufeff]")
_IL_CODE = 972


def is_withheld(raw: object) -> bool:
    """True for None, an empty string or a caller-id stand-in such as `anonymous`."""
    if raw is None:
        return True
    if not isinstance(raw, str):
        return False
    return clean_phone_text(raw).lower() in WITHHELD


def clean_phone_text(raw: str) -> str:
    """Strip whitespace, bidi/invisible marks, a `tel:` prefix and a trailing DTMF `#`."""
    s = _INVISIBLE.sub(" ", raw).strip()
    if s.lower().startswith("tel:"):
        s = s[4:].strip()
    return s.rstrip("#").strip()


def _il_length_ok(national_number: int) -> bool:
    """Israeli national significant numbers: mobile/VoIP 5X/7X + 7 digits (9 digits),
    landline 2/3/4/8/9 + 7 digits (8 digits)."""
    nsn = str(national_number)
    if len(nsn) == 9:
        return nsn[0] in "57"
    if len(nsn) == 8:
        return nsn[0] in "23489"
    return False


def normalize_phone(raw: str | None, region: str = "IL") -> str | None:
    """Normalise a phone number to E.164, or return None when it is not a phone number.

    `0501234567`, `050-123-4567`, `+972501234567`, `972501234567`, `050 1234567` (and a
    trailing DTMF `#`) all give `+972501234567`. Letters (no vanity numbers), `1234`, 20
    digits and caller-id stand-ins (`anonymous`) give None. Israeli numbers must be
    *possible* (`phonenumbers.is_possible_number`) and of Israeli mobile (9-digit) or
    landline (8-digit) length; other countries must be possible numbers.

    Args:
        raw: the number as typed, spoken or sent by Twilio; None is allowed.
        region: ISO 3166 region used for numbers without a country code (default `IL`).

    Returns:
        The E.164 string (e.g. `+972501234567`) or None. Never raises.
    """
    if raw is None or not isinstance(raw, str) or is_withheld(raw):
        return None
    s = clean_phone_text(raw)
    if not _ALLOWED.match(s) or len(s) > 32:
        return None
    digits = re.sub(r"\D", "", s)
    if not 6 <= len(digits) <= 15:
        return None
    try:
        num = phonenumbers.parse(s, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(num):
        return None
    if num.country_code == _IL_CODE and not _il_length_ok(num.national_number):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def usable_phone(raw: object, region: str = "IL") -> str | None:
    """Return the E.164 form of a candidate if it is usable, else None.

    Usable means: a string starting with `+` or `0` (after stripping spaces and bidi marks;
    seed 001 item 2) that `normalize_phone` accepts.
    """
    if not isinstance(raw, str):
        return None
    s = clean_phone_text(raw)
    if not s.startswith(("+", "0")):
        return None
    return normalize_phone(s, region)


def session_caller_number(session: object | None) -> str | None:
    """Read `caller_number` from a call session object or a dict (None when absent)."""
    if session is None:
        return None
    if isinstance(session, Mapping):
        value = session.get("caller_number")
    else:
        value = getattr(session, "caller_number", None)
    return value if isinstance(value, str) else None


def choose_phone(
    input_phone: str | None, context_phone: str | None, session_phone: str | None
) -> str | None:
    """Pick the customer's phone: input -> context -> session caller number (seed 000 item 3).

    Each candidate must start with `+` or `0` and normalise (`usable_phone`); an unusable one
    falls through to the next.

    Returns:
        The first usable candidate in E.164, or None when there is none.
    """
    for candidate in (input_phone, context_phone, session_phone):
        chosen = usable_phone(candidate)
        if chosen is not None:
            return chosen
    return None
