"""DTMF phone-number capture (SEEDS.md seed 000 item 2, seed 002 C.3).

`0-9` append to the buffer, `*` clears it, `#` commits: the digits are normalised to E.164
(`voicectl.booking.phone.normalize_phone`) and handed back. Other keys (`A-D`) are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MAX_DIGITS = 20  # longer than any E.164 number (15 digits) with a trunk prefix


@dataclass(frozen=True)
class DtmfCommit:
    """`#` was pressed. `number` is E.164, or None when `digits` do not normalise."""

    digits: str
    number: str | None


class DtmfCollector:
    """Collects one phone number typed on the keypad.

    Args:
        normalize: raw digits -> E.164 or None (invalid).
    """

    def __init__(self, normalize: Callable[[str], str | None]) -> None:
        self._normalize = normalize
        self.buffer = ""

    def press(self, digit: str) -> DtmfCommit | None:
        """Handle one key. Returns a `DtmfCommit` on `#`, else None."""
        if digit.isdigit() and len(digit) == 1:
            if len(self.buffer) < MAX_DIGITS:
                self.buffer += digit
            return None
        if digit == "*":
            self.buffer = ""
            return None
        if digit == "#":
            digits, self.buffer = self.buffer, ""
            number = self._normalize(digits) if digits else None
            return DtmfCommit(digits=digits, number=number)
        return None
