"""Date mentions: relative days, dates, weekdays, weeks."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from voicectl.hebrew.calendar import ORDINALS, WEEKDAY_LETTERS
from voicectl.hebrew.lexicon import HALF, MONTH, QUARTER, RELDAY, UNIT, WEEKDAY, analyses
from voicectl.hebrew.text import HEB, NUM
from voicectl.hebrew.when.base import ScanBase
from voicectl.hebrew.when.mentions import (
    COMING,
    NEXT,
    NEXTWEEK,
    PLAIN,
    THIS,
    DateMention,
    TimeMention,
)


def _add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    for day in range(d.day, 27, -1):
        try:
            return dt.date(year, month, day)
        except ValueError:
            continue
    return dt.date(year, month, min(d.day, 28))


# --------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------


class DateMentions(ScanBase):
    """Date mentions: relative days, dates, weekdays, weeks."""

    # -- relative: "בעוד 3 ימים", "עוד שבוע", "בעוד שעתיים", "שבוע מהיום" ----------------
    def m_relative(self, i: int) -> int | None:
        a = self.mark(i, "עוד")
        j = i + 1
        bare = False
        within = False
        if a is None:
            a = self.mark(i, "תוך")  # "תוך שעה", "בתוך חצי שעה": hours/minutes only
            within = a is not None
        if a is not None:
            if a.prefix.prep not in ("", "ב") or a.prefix.det or a.prefix.rel:
                return None
            bare = a.prefix.prep == "" and not within
            if bare and self.mark(i - 1, "של") is not None:
                return None  # "טיפול של עוד שעה": a duration
        else:
            # "שבוע מהיום" / "3 ימים מהיום"
            j = i
        count: float | None = None
        t = self.tok(j)
        if t is None or (a is not None and not self.joined(j)):
            return None
        if self.mark(j, "כמה") is not None:
            # "בעוד כמה ימים": vague; swallow so the count is not read as a time
            if a is not None and self.unit_at(j + 1) is not None:
                return j + 2
            return None
        half = self.an(j, HALF)
        quarter = self.an(j, QUARTER)
        if (half or quarter) and (half or quarter).prefix.raw == "":  # type: ignore[union-attr]
            count = 0.5 if half else 0.25
            j += 1
        else:
            nv = self.num_value(j)
            if nv is not None:
                count = float(nv[0])
                j += nv[1]
        u = self.unit_at(j) if (j != i) else self._unit_first(j)
        if u is None:
            return None
        kind, ucount = u
        j += 1
        if count is None:
            if ucount == 0:
                return None
            count = float(ucount)
        elif ucount == 2:  # "שתי שעתיים" makes no sense; keep the dual's 2
            count = 2.0
        # "שעה וחצי", "שעתיים וחצי"
        nxt = self.an(j, HALF)
        if nxt is not None and nxt.prefix.raw == "ו" and self.joined(j):
            count += 0.5
            j += 1
        if a is None:
            if self.mark(j, "מהיום") is None or not self.joined(j):
                return None
            j += 1
        elif bare and kind in ("hour", "minute") and self.mark(j, "של") is not None:
            return None  # "עוד שעה של עיסוי" = one more hour (of treatment)
        elif within and kind not in ("hour", "minute"):
            return None  # "תוך שבוע" = some day within a week, not a date
        if count <= 0 or count > 400:
            return None
        if kind == "other":
            return None
        if kind in ("hour", "minute"):
            minutes = count * (60 if kind == "hour" else 1)
            when = (self.now + dt.timedelta(minutes=minutes)).replace(second=0, microsecond=0)
            self.f.dates.append(DateMention(i, j, "rel", when.date()))
            self.f.times.append(TimeMention(i, j, when.hour, when.minute, True))
            return j
        if count != int(count):
            if kind == "week":
                days = int(count * 7)
            else:
                return None
        elif kind == "day":
            days = int(count)
        elif kind == "week":
            days = int(count) * 7
        else:
            d = _add_months(self.today, int(count))
            self.f.dates.append(DateMention(i, j, "rel", d))
            return j
        self.f.dates.append(DateMention(i, j, "rel", self.today + dt.timedelta(days=days)))
        return j

    # -- "עכשיו" = today (weak: any other date said wins) ------------------------------------
    def m_now(self, i: int) -> int | None:
        a = self.mark(i, "עכשיו")
        if a is None or a.prefix.raw not in ("", "ו"):
            return None
        self.f.dates.append(DateMention(i, i + 1, "weak", self.today))
        return i + 1

    def _unit_first(self, j: int) -> tuple[str, int] | None:
        a = self.an(j, UNIT)
        if a is None or a.prefix.raw != "":
            return None
        return a.value  # type: ignore[return-value]

    # -- numeric dates: 25/11, 25.11.26 ----------------------------------------------------
    def m_numdate(self, i: int) -> int | None:
        j = i
        if self.prefix_tok(i) is not None:
            j = i + 1
        t = self.tok(j)
        if t is None or t.kind != NUM or t.phone:
            return None
        parts = re.split(r"[./]", t.text)
        if len(parts) not in (2, 3) or ":" in t.text:
            return None
        if not all(p.isdigit() and len(p) <= 4 for p in parts):
            return None
        d, m = int(parts[0]), int(parts[1])
        y = int(parts[2]) if len(parts) == 3 else None
        if "." in t.text and len(parts) == 2 and not (1 <= m <= 12):
            return None  # "12.30" is a time
        if not (1 <= d <= 31 and 1 <= m <= 12):
            return None
        if "." in t.text and self.blocks_time(j + 1):
            return None  # "1.5 שעות"
        if y is not None and y < 100:
            y += 2000
        self._add_dm(i, j + 1, d, m, y)
        return j + 1

    def _add_dm(self, t0: int, t1: int, d: int, m: int, y: int | None) -> None:
        if y is not None:
            try:
                date = dt.date(y, m, d)
            except ValueError:
                return
            if date < self.today:
                self.f.dates.append(DateMention(t0, t1, "past"))
            else:
                self.f.dates.append(DateMention(t0, t1, "abs", date))
            return
        self._first_not_past(t0, t1, ((self.today.year + k, m, d) for k in range(9)))

    # -- "25 בנובמבר", "עשרים וחמישה לחודש", "הראשון לדצמבר" -------------------------------
    def m_daymonth(self, i: int) -> int | None:
        j = i
        if self.prefix_tok(i) is not None:
            j = i + 1
        t = self.tok(j)
        if t is None or t.phone:
            return None
        day: int | None = None
        if t.kind == NUM:
            if t.text.isdigit() and len(t.text) <= 2:
                day = int(t.text)
                j += 1
        else:
            a = None
            for cand in analyses(t.text):
                if cand.stem in ORDINALS and cand.prefix.prep in ("", "ב", "ל"):
                    a = cand
                    break
            if a is not None:
                day = ORDINALS[a.stem]
                j += 1
            else:
                nv = self.num_value(j)
                if nv is not None and nv[2] is not None and nv[2].prefix.prep in ("", "ב", "ל"):
                    day = nv[0]
                    j += nv[1]
        if day is None or not (1 <= day <= 31):
            return None
        pre = self.prefix_tok(i)
        last = self.f.dates[-1] if self.f.dates else None
        if (
            pre is not None
            and pre.raw == "ה"
            and last is not None
            and last.kind == "wd"
            and last.t1 == i
            and self.an(j, MONTH) is None
        ):
            self._add_day_of_month(i, j, day)  # "ביום שני ה-30": that weekday's date
            return j
        if not self.joined(j):
            return None
        mon = self.an(j, MONTH)
        if mon is not None and mon.prefix.raw in ("", "ב", "ל"):
            month = int(mon.value)  # type: ignore[arg-type]
            j += 1
            year = None
            yt = self.tok(j)
            if (
                yt is not None
                and yt.kind == NUM
                and yt.text.isdigit()
                and len(yt.text) == 4
                and self.joined(j)
            ):
                year = int(yt.text)
                j += 1
            self._add_dm(i, j, day, month, year)
            return j
        cm = self.mark(j, "חודש")
        if cm is not None and cm.prefix.raw in ("ב", "ל"):
            j += 1
            self._add_day_of_month(i, j, day)
            return j
        return None

    def _add_day_of_month(self, t0: int, t1: int, day: int) -> None:
        """The next date (today or later) with this day of the month ("ב-30 לחודש")."""
        months = (divmod(self.today.month - 1 + k, 12) for k in range(13))
        self._first_not_past(t0, t1, ((self.today.year + y, mth + 1, day) for y, mth in months))

    def _first_not_past(self, t0: int, t1: int, ymds: Iterable[tuple[int, int, int]]) -> None:
        """Add the first valid (year, month, day) that is not before today; any but the
        first reading tried is a rollover (`inferred`)."""
        for k, (y, m, d) in enumerate(ymds):
            try:
                date = dt.date(y, m, d)
            except ValueError:
                continue
            if date >= self.today:
                self.f.dates.append(DateMention(t0, t1, "abs", date, inferred=k > 0))
                return

    # -- weekdays ---------------------------------------------------------------------------
    def m_weekday(self, i: int) -> int | None:
        wd: int | None = None
        j = i
        yom = self.mark(i, "יום")
        if yom is not None and not yom.prefix.det and self.joined(i + 1):
            t = self.tok(i + 1)
            if t is not None and t.kind == HEB:
                if t.text in WEEKDAY_LETTERS:
                    wd = WEEKDAY_LETTERS[t.text]
                else:
                    a = self.an(i + 1, WEEKDAY)
                    if a is not None and a.prefix.raw in ("", "ה"):
                        wd = int(a.value)  # type: ignore[arg-type]
                if wd is not None:
                    j = i + 2
        if wd is None:
            a = self.an(i, WEEKDAY)
            if a is None or a.prefix.det:
                return None
            if a.prefix.raw == "" and self._greeting(i):
                return i + 2  # "שבת שלום"
            wd = int(a.value)  # type: ignore[arg-type]
            j = i + 1
            if a.stem == "שני" and (self.unit_at(j) is not None or self.blocks_time(j)):
                return None  # "בשני ימים", "לשני אנשים"
            if a.prefix.prep == "" and a.stem in ("ראשון", "שני"):
                if (
                    self._week_mode(j)[0] == PLAIN
                    and not self._only_fillers_except(i, i + 1)
                    and not self._time_follows(j)
                    and not self._after_or(i, "wd")
                ):
                    return None  # "אני ראשון בתור", "שני אנשים"
            if a.prefix.prep not in ("", "ב", "ל", "מ"):
                return None
        mode, j2 = self._week_mode(j)
        self.f.dates.append(DateMention(i, j2, "wd", wd=wd, mode=mode))
        return j2

    def _week_mode(self, j: int) -> tuple[str, int]:
        """Modifiers after a weekday: הבא / הקרוב / הזה / השבוע / בשבוע הבא / של שבוע הבא."""
        if not self.joined(j):
            return PLAIN, j
        for canon, mode in (("בא", NEXT), ("קרוב", COMING), ("זה", THIS)):
            a = self.mark(j, canon)
            if a is not None and a.prefix.det and a.prefix.prep == "":
                return mode, j + 1
        k = j
        if self.mark(k, "של") is not None:
            k += 1
        w = self.mark(k, "שבוע")
        if w is not None and self.joined(k) and w.prefix.prep in ("", "ב", "ל"):
            if w.prefix.det and w.prefix.prep == "" and k == j:
                nx = self.mark(k + 1, "זה")
                if nx is not None and nx.prefix.det and self.joined(k + 1):
                    return THIS, k + 2
                return THIS, k + 1  # "השבוע"
            nx = self.mark(k + 1, "בא")
            if nx is not None and nx.prefix.det and self.joined(k + 1):
                return NEXTWEEK, k + 2
            nx = self.mark(k + 1, "זה")
            if nx is not None and nx.prefix.det and self.joined(k + 1):
                return THIS, k + 2
        return PLAIN, j

    # -- היום / מחר / מחרתיים ---------------------------------------------------------------
    def m_relday(self, i: int) -> int | None:
        a = self.an(i, RELDAY)
        if a is None or a.prefix.prep not in ("", "ל", "ב") or a.prefix.det:
            return None
        if self.mark(i, "מהיום") is not None:
            return None
        self.f.dates.append(
            DateMention(i, i + 1, "rel", self.today + dt.timedelta(days=int(a.value)))
        )  # type: ignore[arg-type]
        return i + 1

    # -- השבוע / שבוע הבא / סוף השבוע ---------------------------------------------------------
    def m_week(self, i: int) -> int | None:
        s = self.mark(i, "סוף")
        if s is not None and s.prefix.prep in ("", "ב", "ל"):
            t = self.tok(i)
            if t is not None and t.text.endswith(('סופ"ש', "סופש")):
                self.f.dates.append(DateMention(i, i + 1, "week", week="weekend"))
                return i + 1
            w = self.mark(i + 1, "שבוע")
            if w is not None and w.prefix.det and self.joined(i + 1):
                self.f.dates.append(DateMention(i, i + 2, "week", week="weekend"))
                return i + 2
            return None
        w = self.mark(i, "שבוע")
        if w is None or w.prefix.prep not in ("", "ב", "ל"):
            return None
        nx = self.mark(i + 1, "בא")
        if nx is not None and nx.prefix.det and self.joined(i + 1):
            self.f.dates.append(DateMention(i, i + 2, "week", week="next"))
            return i + 2
        nx = self.mark(i + 1, "זה")
        if w.prefix.det and nx is not None and nx.prefix.det and self.joined(i + 1):
            self.f.dates.append(DateMention(i, i + 2, "week", week="this"))
            return i + 2
        if w.prefix.det and w.prefix.prep == "":
            self.f.dates.append(DateMention(i, i + 1, "week", week="this"))
            return i + 1
        return None
