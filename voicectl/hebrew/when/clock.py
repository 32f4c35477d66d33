"""Clock-time mentions: hours, minutes, ranges, bare hour answers."""

from __future__ import annotations

import re

from voicectl.hebrew.lexicon import (
    CARDINAL,
    FUSED,
    HALF,
    PART,
    QUARTER,
    TENS,
    UNIT,
    analyses,
    parse_number_words,
)
from voicectl.hebrew.numbers import MASC
from voicectl.hebrew.text import HEB, NUM
from voicectl.hebrew.when.base import ScanBase
from voicectl.hebrew.when.mentions import TimeMention

_MINUTE_BEFORE = {"רבע": 15, "עשרה": 10, "עשר": 10, "עשרים": 20, "חמש": 5, "חמישה": 5}


class ClockMentions(ScanBase):
    """Clock-time mentions: hours, minutes, ranges, bare hour answers."""

    # -- times ------------------------------------------------------------------------------
    def m_time(self, i: int) -> int | None:
        t = self.tok(i)
        if t is None:
            return None
        if t.kind == HEB:
            p = self.an(i, PART)
            if p is not None and p.value == "midnight" and p.prefix.prep in ("", "ב", "ל", "מ"):
                j = i + 1
                nl = self.an(j, PART)
                if nl is not None and nl.value == "night" and self.joined(j):
                    j += 1
                self.f.times.append(TimeMention(i, j, 0, 0, True))
                return j
            # range: "בין ארבע לשש", "בין 4 ל-6"
            if self.mark(i, "בין") is not None:
                r = self._clock(i + 1, forced=True)
                if r is None:
                    return None
                first, j = r
                second = self._range_second(j)
                if second is None:
                    self.f.times.append(first)
                    first.t0 = i
                    return j
                first.t0 = i
                first.range_end = second[0]
                first.t1 = second[1]
                self.f.times.append(first)
                return second[1]
        r = self._clock(i, forced=False)
        if r is None:
            return None
        tm, j = r
        # "מארבע עד שש"
        lead = self._lead_prep(i)
        if lead == "מ":
            second = self._range_second(j)
            if second is not None:
                tm.range_end = second[0]
                tm.t1 = second[1]
                j = second[1]
        self.f.times.append(tm)
        return j

    def _range_second(self, j: int) -> tuple[TimeMention, int] | None:
        if not self.joined(j):
            return None
        k = j
        if self.mark(k, "עד") is not None:
            k += 1
            r = self._clock(k, forced=True)
        else:
            t = self.tok(k)
            if t is None:
                return None
            pre = self.prefix_tok(k)
            if pre is not None and pre.prep == "ל":
                r = self._clock(k, forced=True)
            elif t.kind == HEB:
                a = self._num_or_teen(k)
                if a is None or a.prefix.prep != "ל":
                    return None
                r = self._clock(k, forced=True)
            else:
                return None
        if r is None:
            return None
        return r[0], r[1]

    def _clock(self, i: int, forced: bool) -> tuple[TimeMention, int] | None:
        """Parse a clock time starting at token i. Returns the mention and the next index.

        Args:
            i: first token (a prefix-only token, a context word, a number or a minute word).
            forced: the caller already established a time context ("בין").
        """
        t = self.tok(i)
        if t is None or t.phone:
            return None
        ctx = forced or self._after_or(i, "time")
        start = i
        j = i
        # context words: "בשעה", "לשעה", "אחרי", "לפני", "עד", "בסביבות", "בערך"
        sh = self.mark(j, "שעה") if t.kind == HEB else None
        lshaa_one_block = False
        if sh is not None:
            if sh.prefix.prep not in ("ב", "ל", "מ") or not self.joined(j + 1):
                return None
            lshaa_one_block = sh.prefix.prep == "ל"
            ctx = True
            j += 1
        elif t.kind == HEB:
            for canon in ("אחר", "לפני", "עד", "סביב", "בערך"):
                a = self.mark(j, canon)
                if a is not None and self.joined(j + 1):
                    nt = self.tok(j + 1)
                    if nt is not None and (
                        nt.kind == NUM
                        or self._num_or_teen(j + 1) is not None
                        or self.prefix_tok(j + 1) is not None
                        or self._minute_before(j + 1) is not None
                    ):
                        ctx = True
                        j += 1
                    break
        pre = self.prefix_tok(j)
        if pre is not None:
            if pre.prep in ("ב", "מ") or (pre.prep == "ל") or (pre.det and ctx):
                ctx = ctx or pre.prep in ("ב", "ל", "מ")
            elif not pre.det:
                return None
            j += 1
        t = self.tok(j)
        if t is None or t.phone:
            return None
        # "רבע לשלוש", "עשרים ל-5"
        mb = self._minute_before(j)
        if mb is not None:
            h, m, k = mb
            tm = TimeMention(start, k, h, m, False)
            return tm, self._part_after(tm, k)
        if t.kind == NUM:
            parsed = self._digits(t.text)
            if parsed is None:
                return None
            h, m, explicit, strong = parsed
            k = j + 1
            if strong:
                tm = TimeMention(start, k, h, m, explicit)
                return tm, self._part_after(tm, k)
            if self.blocks_time(k):
                return None
            if not explicit and not (1 <= h <= 12):
                return None
            mins, k2 = self._minutes_after(k)
            if mins is not None:
                ctx = True
                m = mins
            elif h > 23:
                return None
            if not ctx and not self._part_follows(k2):
                return None
            if lshaa_one_block and h == 1 and mins is None:
                return None
            tm = TimeMention(start, k2, h % 24, m, explicit)
            return tm, self._part_after(tm, k2)
        a = self._num_or_teen(j)
        if a is None:
            return None
        words = [x.text for x in self.toks[j : j + 3]]
        r = parse_number_words(words, 0, a)
        if r is None:
            return None
        h, gender, nw, bare_ok = r
        if not (1 <= h <= 12):
            return None
        if nw == 2 and not self.joined(j + 1):
            return None
        if not bare_ok and nw == 1:
            return None
        k = j + nw
        unit = self.unit_at(k)
        if self.blocks_time(k) or (unit is not None and unit[0] in ("hour", "minute", "other")):
            return None
        p = a.prefix
        if p.det:
            return None
        if p.prep == "ב" or p.prep == "מ" or p.prep == "כ":
            ctx = True
        elif p.prep == "ל":
            if gender == MASC and not forced:
                return None  # "לשלושה" = for three (people)
            ctx = True
        if lshaa_one_block and h == 1:
            # "לשעה אחת" = for one hour
            mins, _ = self._minutes_after(k)
            if mins is None:
                return None
        mins, k2 = self._minutes_after(k)
        m = 0
        if mins is not None:
            ctx = True
            m = mins
        if not ctx and not self._part_follows(k2):
            return None
        tm = TimeMention(start, k2, h, m, False)
        return tm, self._part_after(tm, k2)

    def _digits(self, text: str) -> tuple[int, int, bool, bool] | None:
        """(h, m, explicit_24h, strong) of "16", "08", "12:30", "9.15"; None if not a clock."""
        if ":" in text or "." in text:
            parts = re.split(r"[:.]", text)
            if len(parts) < 2 or len(parts) > 3 or not all(p.isdigit() for p in parts):
                return None
            if "/" in text or len(parts[0]) > 2 or len(parts[1]) != 2:
                return None
            h, m = int(parts[0]), int(parts[1])
            if h > 24 or m > 59 or (h == 24 and m != 0):
                return None
            explicit = h > 12 or h in (0, 24) or (len(parts[0]) == 2 and parts[0][0] == "0")
            return h % 24, m, explicit, True
        if not text.isdigit() or len(text) > 2:
            return None
        h = int(text)
        if h > 24:
            return None
        explicit = h > 12 or h in (0, 24) or (len(text) == 2 and text[0] == "0")
        return h % 24, 0, explicit, False

    def _minute_before(self, j: int) -> tuple[int, int, int] | None:
        """ "רבע לשלוש" -> (2, 45, next_index); also עשרה/עשרים/חמש/עשרים וחמש ל-."""
        t = self.tok(j)
        if t is None or t.kind != HEB:
            return None
        mins: int | None = None
        k = j + 1
        for a in analyses(t.text):
            if a.stem in _MINUTE_BEFORE and a.prefix.prep in ("", "ב") and not a.prefix.det:
                mins = _MINUTE_BEFORE[a.stem]
                break
        if mins is None:
            return None
        if mins == 20:
            nt = self.tok(k)
            if nt is not None and nt.text in ("וחמש", "וחמישה") and self.joined(k):
                mins = 25
                k += 1
        nt = self.an(k, UNIT)
        if nt is not None and nt.value[0] == "minute" and self.joined(k):  # type: ignore[index]
            k += 1
        if not self.joined(k):
            return None
        pre = self.prefix_tok(k)
        if pre is not None and pre.prep == "ל" and not pre.det:
            ht = self.tok(k + 1)
            if ht is None or not ht.text.isdigit() or len(ht.text) > 2:
                return None
            hour = int(ht.text)
            k += 2
        else:
            a = self._num_or_teen(k)
            if a is None or a.prefix.raw != "ל":
                return None
            r = parse_number_words([x.text for x in self.toks[k : k + 3]], 0, a)
            if r is None:
                return None
            hour = r[0]
            if r[2] == 2 and not self.joined(k + 1):
                return None
            if r[1] == MASC and hour not in (11, 12):
                return None
            k += r[2]
        if not (1 <= hour <= 12):
            return None
        h = hour - 1 if hour > 1 else 12
        return h, 60 - mins, k

    def _minutes_after(self, k: int) -> tuple[int | None, int]:
        """Minutes said after an hour: וחצי, ורבע, ועשרה, ועשרים וחמש, ארבעים (no ו)."""
        if not self.joined(k):
            return None, k
        t = self.tok(k)
        if t is None or t.kind != HEB:
            return None, k
        for a in analyses(t.text):
            if a.prefix.raw != "ו" and not (a.cat == TENS and a.prefix.raw == ""):
                continue
            if a.cat == HALF:
                return 30, k + 1
            if a.cat == QUARTER:
                return 15, k + 1
            if a.cat in (CARDINAL, TENS, FUSED):
                r = parse_number_words([x.text for x in self.toks[k : k + 3]], 0, a)
                if r is None:
                    continue
                v, _g, nw, _b = r
                if not (1 <= v <= 59):
                    continue
                if nw == 2 and not self.joined(k + 1):
                    continue
                k2 = k + nw
                u = self.unit_at(k2)
                if u is not None:
                    if u[0] == "minute":
                        return v, k2 + 1
                    return None, k
                return v, k2
        return None, k

    def _part_follows(self, k: int) -> bool:
        if not self.joined(k):
            return False
        p = self.an(k, PART)
        if p is not None and p.value in ("morning", "noon", "evening", "night", "afternoon"):
            return p.prefix.prep in ("", "ב", "ל") or p.prefix.det
        for canon, want in (("אחר", "noon"), ("לפני", "noon"), ("לפנות", "morning")):
            if self.mark(k, canon) is not None and self.joined(k + 1):
                p = self.an(k + 1, PART)
                if p is not None and p.value == want:
                    return True
        return False

    def _part_after(self, tm: TimeMention, k: int) -> int:
        """Attach an immediately following part of day to tm (and record it)."""
        if not self._part_follows(k):
            return k
        n_parts = len(self.f.parts)
        n_dates = len(self.f.dates)
        j = self.m_part(k)
        if j is None:
            return k
        if len(self.f.parts) > n_parts:
            pm = self.f.parts[-1]
            tm.part = pm.part
            if pm.weak_today:  # "שמונה הערב" = tonight
                pass
        del n_dates
        tm.t1 = j
        return j

    def _filler_only(self) -> None:
        f = self.f
        if f.times or f.dates or f.parts:
            return
        for i, t in enumerate(self.toks):
            if t.phone:
                continue
            if t.kind == NUM:
                parsed = self._digits(t.text)
                if parsed is None or parsed[3] or not (1 <= parsed[0] <= 23):
                    continue
                if self._only_fillers_except(i, i + 1):
                    h, m, explicit, _ = parsed
                    f.times.append(TimeMention(i, i + 1, h, m, explicit))
                return
            a = self._num_or_teen(i)
            if a is None or a.prefix.raw not in ("", "ו"):
                continue
            r = parse_number_words([x.text for x in self.toks[i : i + 3]], 0, a)
            if r is None:
                continue
            h, gender, nw, bare_ok = r
            if not bare_ok or gender == MASC or not (1 <= h <= 12):
                continue
            if self._only_fillers_except(i, i + nw):
                f.times.append(TimeMention(i, i + nw, h, 0, False))
            return
