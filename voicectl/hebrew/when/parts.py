"""Part-of-day mentions: בבוקר, אחר הצהריים, בערב, בלילה, לפנות בוקר."""

from __future__ import annotations

from voicectl.hebrew.lexicon import PART, WEEKDAY
from voicectl.hebrew.text import HEB
from voicectl.hebrew.when.base import ScanBase
from voicectl.hebrew.when.mentions import DateMention, PartMention


class PartMentions(ScanBase):
    """Part-of-day mentions: בבוקר, אחר הצהריים, בערב, בלילה, לפנות בוקר."""

    # -- parts of day -------------------------------------------------------------------------
    def m_part(self, i: int) -> int | None:
        t = self.tok(i)
        if t is None or t.kind != HEB:
            return None
        # "אחר הצהריים" / "לפני הצהריים" / "לפנות בוקר"
        for canon, want, part in (
            ("אחר", "noon", "afternoon"),
            ("לפני", "noon", "morning"),
            ("לפנות", "morning", "morning"),
        ):
            a = self.mark(i, canon)
            if a is not None and a.prefix.prep in ("", "ב", "ל") and self.joined(i + 1):
                p = self.an(i + 1, PART)
                if p is not None and p.value == want and p.prefix.prep == "":
                    self.f.parts.append(PartMention(i, i + 2, part))
                    return i + 2
        # "בשעות הבוקר" / "בשעות אחר הצהריים"
        sh = self.mark(i, "שעות")
        if sh is not None and sh.prefix.prep in ("ב", "ל") and self.joined(i + 1):
            j = self.m_part(i + 1)
            if j is not None and self.f.parts and self.f.parts[-1].t0 == i + 1:
                pm = self.f.parts[-1]
                pm.t0, pm.weak_today = i, False
                return j
            return None
        p = self.an(i, PART)
        if p is None or p.prefix.prep == "מ" or p.prefix.rel:
            return None
        if self._greeting(i):
            return i + 2  # "בוקר טוב", "ערב טוב", "לילה טוב": greetings, not times
        part = str(p.value)
        if part == "midnight":
            return None
        if part == "motzei":
            sh = self.an(i + 1, WEEKDAY)
            if sh is not None and sh.stem == "שבת" and sh.prefix.raw == "" and self.joined(i + 1):
                self.f.dates.append(
                    DateMention(i, i + 2, "wd", wd=5, mode=self._week_mode(i + 2)[0])
                )
                self.f.parts.append(PartMention(i, i + 2, "evening"))
                return i + 2
            return None
        if part == "saturday_night":
            self.f.dates.append(DateMention(i, i + 1, "wd", wd=5))
            self.f.parts.append(PartMention(i, i + 1, "evening"))
            return i + 1
        if part == "evening":
            sh = self.an(i + 1, WEEKDAY)
            if sh is not None and sh.stem == "שבת" and sh.prefix.raw == "" and self.joined(i + 1):
                mode, j = self._week_mode(i + 2)
                self.f.dates.append(DateMention(i, j, "wd", wd=4, mode=mode))  # ערב שבת = Friday
                self.f.parts.append(PartMention(i, j, "evening"))
                return j
        weak = (
            p.prefix.det and p.prefix.prep == "" and part in ("morning", "noon", "evening", "night")
        )
        if weak:
            prev = i - 1
            for canon in ("אחר", "לפני", "לפנות", "שעות"):
                if self.mark(prev, canon) is not None and self.joined(i):
                    weak = False
        self.f.parts.append(PartMention(i, i + 1, part, weak_today=bool(weak)))
        if weak:
            self.f.dates.append(DateMention(i, i + 1, "weak", self.today))
        return i + 1
