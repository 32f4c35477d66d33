"""The scanner: one pass over the tokens, trying each kind of mention at each position."""

from __future__ import annotations

from voicectl.hebrew.text import HEB
from voicectl.hebrew.when.clock import ClockMentions
from voicectl.hebrew.when.dates import DateMentions
from voicectl.hebrew.when.mentions import Mentions
from voicectl.hebrew.when.parts import PartMentions

__all__ = ["Scanner"]


class Scanner(DateMentions, ClockMentions, PartMentions):
    """Finds date, time and part-of-day mentions; one instance per resolve, no I/O."""

    # -- main loop ----------------------------------------------------------------------
    def run(self) -> Mentions:
        i = 0
        matchers = (
            self.m_relative,
            self.m_now,
            self.m_numdate,
            self.m_daymonth,
            self.m_weekday,
            self.m_relday,
            self.m_week,
            self.m_time,
            self.m_part,
        )
        while i < self.n:
            t = self.toks[i]
            if t.phone:
                i += 1
                continue
            for mt in matchers:
                j = mt(i)
                if j is not None and j > i:
                    i = j
                    break
            else:
                if t.kind == HEB:
                    if self.mark(i, "או") is not None:
                        self.f.ors.append(i)
                    elif self.mark(i, "לא") is not None:
                        self.f.nots.append(i)
                i += 1
        self._filler_only()
        return self.f
