"""The mentions a scan finds in a transcript, in token positions (`t0`..`t1`, end excluded)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# Mentions found in the token stream
# --------------------------------------------------------------------------------------

# weekday modes
PLAIN, NEXT, COMING, THIS, NEXTWEEK = "plain", "next", "coming", "this", "nextweek"


@dataclass
class DateMention:
    t0: int
    t1: int
    kind: str  # "abs" | "rel" | "wd" | "week" | "weak" | "past"
    date: dt.date | None = None
    inferred: bool = False
    wd: int = 0
    mode: str = PLAIN
    week: str = ""  # for kind "week": "this" | "next" | "weekend"


@dataclass
class TimeMention:
    """A clock time: tokens [t0, t1), the hour and minute as said ("בשלוש" -> 3:00),
    `explicit` for a 24-hour or leading-zero form, the part of day said with it, and the
    second end of a range ("בין ארבע לשש")."""

    t0: int
    t1: int
    h: int  # as said: 1..12 (or 0..23 when explicit)
    m: int
    explicit: bool  # "16:00", "08:30": taken as said, no am/pm choice
    part: str | None = None
    range_end: TimeMention | None = None


@dataclass
class PartMention:
    t0: int
    t1: int
    part: str
    weak_today: bool = False


@dataclass
class Mentions:
    dates: list[DateMention] = field(default_factory=list)
    times: list[TimeMention] = field(default_factory=list)
    parts: list[PartMention] = field(default_factory=list)
    ors: list[int] = field(default_factory=list)
    nots: list[int] = field(default_factory=list)
