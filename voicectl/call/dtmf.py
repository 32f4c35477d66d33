"""DTMF phone-number capture (SEEDS.md seed 000 item 2, seed 002 C.3).

`0-9` append to the buffer, `*` clears it, `#` commits: the digits are normalised to E.164
(`voicectl.booking.phone.normalize_phone`) and handed back. Other keys (`A-D`) are ignored.
A 16th digit commits at once as too long: no E.164 number has more than 15 digits
(ITU-T E.164 §6.1), so the caller is asked again instead of the extra keys vanishing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MAX_DIGITS = 15
"""Longest E.164 number (ITU-T E.164: country code + national number <= 15 digits)."""


@dataclass(frozen=True)
class DtmfCommit:
    """The number was committed (`#`) or overflowed. `number` is E.164, or None when the
    digits do not normalise or are `too_long` (more than `max_digits`)."""

    digits: str
    number: str | None
    too_long: bool = False
    max_digits: int = MAX_DIGITS


class DtmfCollector:
    """Collects one phone number typed on the keypad.

    Args:
        normalize: raw digits -> E.164 or None (invalid).
        max_digits: digits allowed before `#` (default 15, E.164).
    """

    def __init__(self, normalize: Callable[[str], str | None], max_digits: int = MAX_DIGITS):
        self._normalize = normalize
        self.max_digits = max_digits
        self.buffer = ""

    def press(self, digit: str) -> DtmfCommit | None:
        """Handle one key. Returns a `DtmfCommit` on `#` or on one digit too many, else None."""
        if digit.isdigit() and len(digit) == 1:
            if len(self.buffer) >= self.max_digits:
                digits = self.clear() + digit
                return DtmfCommit(digits, None, too_long=True, max_digits=self.max_digits)
            self.buffer += digit
            return None
        if digit == "*":
            self.clear()
            return None
        if digit == "#":
            digits = self.clear()
            number = self._normalize(digits) if digits else None
            return DtmfCommit(digits=digits, number=number, max_digits=self.max_digits)
        return None

    def clear(self) -> str:
        """Empty the buffer; returns what it held."""
        digits, self.buffer = self.buffer, ""
        return digits
