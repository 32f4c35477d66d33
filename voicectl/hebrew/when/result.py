"""What `resolve_when` returns: the resolved date/time, what was inferred, what is ambiguous."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from voicectl.hebrew.calendar import PART_OF_DAY

__all__ = ["EMPTY", "PART_OF_DAY", "HoursOn", "WhenResolution", "date_iso"]

HoursOn = Callable[[dt.date], list[tuple[dt.time, dt.time]]]
"""Opening ranges of the business on a date; [] = closed. An end <= start runs to midnight."""


@dataclass(frozen=True)
class WhenResolution:
    """What the caller said about *when*.

    Attributes:
        date: resolved date, None if the text names no date or the date is ambiguous.
        time: resolved time of day, None if none named or it is ambiguous.
        date_span: ``(start, end)`` character span in the input of the date words.
        time_span: ``(start, end)`` character span of the time words (hour, minutes and
            part of day).
        part_of_day: "morning" | "noon" | "afternoon" | "evening" | "night" if said.
        inferred: True when something was chosen rather than said (am/pm from opening
            hours or the default rule, year rollover, a weekday rolled to next week).
        ambiguous: reasons, any of "am_pm", "which_week", "which_day", "alternatives",
            "date_conflict", "time_range", "past_date".
        candidates: the readings when ambiguous (see module docstring, choice 9).
        said: each clock time as said, ``(hour, minute)`` before any am/pm choice
            ("בשלוש" -> (3, 0), "רבע לחמש" -> (4, 45)), negated ones left out: tells a
            time the caller said as such ("ב-11") from one chosen for them.
    """

    date: dt.date | None = None
    time: dt.time | None = None
    date_span: tuple[int, int] | None = None
    time_span: tuple[int, int] | None = None
    part_of_day: str | None = None
    inferred: bool = False
    ambiguous: tuple[str, ...] = ()
    candidates: tuple[dt.datetime | dt.time, ...] = ()
    said: tuple[tuple[int, int], ...] = ()

    @property
    def found(self) -> bool:
        """True if a date or a time was found, resolved or ambiguous (part of day alone: no)."""
        return self.date is not None or self.time is not None or bool(self.candidates)


EMPTY = WhenResolution()


def date_iso(res: WhenResolution) -> str | None:
    """The ``date_iso`` argument for ``calendar.find_slots``: "YYYY-MM-DD" or None.

    None when no date was named or the date is ambiguous (the agent must ask).
    """
    return res.date.isoformat() if res.date is not None else None


# --------------------------------------------------------------------------------------
# Normalisation and tokens
