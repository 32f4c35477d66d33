"""Resolve what a Hebrew-speaking caller says into a date and a time of day.

SEEDS.md seed 001 item 6: "add a parser for 'next Sunday / tomorrow / today' and pass
`date_iso` to `find_slots`; otherwise the model guesses". `resolve_when` finds the date and
time words inside a whole transcript ("תקבע לי מחר ב-12 שוודי, השם דני"), resolves them
against the call's `now` and the business's opening hours, and reports ambiguity instead
of guessing. The offline agent uses it directly; the LLM agent gets `date_iso(res)`.

Handled (spelling variants, niqqud, maqaf and the prefixes ו/ש/כש/ב/ל/מ/כ/ה included):

- days: היום, מחר, מחרתיים; הבוקר/הערב/הלילה (= today + part of day);
  weekdays with or without "יום" (ביום שלישי, בשלישי, לחמישי, יום ה'), with הבא / הקרוב /
  הזה / השבוע / בשבוע הבא; ערב שבת, מוצאי שבת / מוצ"ש;
- relative: בעוד יום/יומיים/3 ימים/שלושה ימים/שבוע/שבועיים/חודש, עוד שבוע,
  "שבוע מהיום"; (ב)עוד / (ב)תוך שעה/שעתיים/חצי שעה/20 דקות (today's date and now+delta,
  unpadded: the booking tools apply the grid and the notice); עכשיו (= today, weak: any
  other date said wins);
- ranges without a day: השבוע, שבוע הבא, סוף השבוע (ambiguous "which_day");
- dates: 25/11, 25.11, 25/11/2026, 25 בנובמבר, ה-25 לנובמבר, עשרים וחמישה בנובמבר,
  ב-25 לחודש, הראשון לחודש;
- times: 12:30, 16:00, ב-12, ב12, ב 5, בשעה 5, ב-5 וחצי; number words in both genders and
  spellings (שתיים/שתים עשרה, אחת עשרה, שלוש); וחצי, ורבע, ועשרה, ועשרים, ועשרים וחמש,
  ארבע ארבעים; רבע ל-/עשרה ל-/עשרים ל-/חמש ל-; חצות; "בין ארבע לשש" (a range);
- parts of day: בבוקר, בצהריים, אחר הצהריים / אחרי הצהריים / אחה"צ, בערב, בלילה,
  לפנות בוקר, לפני הצהריים / לפנה"צ, בשעות הבוקר.

Documented choices (the corpus in tests/data/hebrew_time_corpus.yaml pins each one):

1. A weekday equal to today ("ביום שישי" said on a Friday) means today, unless a time said
   for it has already passed, or (with opening hours) the business has no opening time
   left today: then the same weekday next week, `inferred=True`.
2. "X הבא" said on day D: the two readings are "the coming X" (1..7 days ahead; on a
   Sunday ראשון הבא = +7) and "X of next week" (Sun-Sat calendar week after this one).
   When they are the same day (X is not later in the current week) the date is resolved;
   otherwise (on a Tuesday, חמישי הבא = +2 or +9) the result is ambiguous "which_week"
   with both candidates. "X הקרוב" = the coming X (today excluded); "X הזה"/"X השבוע" =
   this calendar week's X (if already past: the coming X, `inferred`); "X בשבוע הבא" =
   next calendar week's X.
3. An hour 1..11 with no part of day has two readings, h and h+12. Without opening hours
   (`hours_on=None`): 1-6 -> PM, 7-11 -> AM, `inferred`. With opening hours: the reading
   inside the hours of the resolved date (no date, or a closed day: any day of the coming
   week) wins, `inferred`; both inside -> ambiguous "am_pm"; neither -> the one nearer to
   the hours (tie: the no-hours rule), `inferred`. On today a reading already past is
   dropped when the other is still ahead. 12 is noon (12 at midnight is said "12 בלילה"
   or "חצות"), not inferred. Explicit 24-hour forms (13-23, 0, a leading zero "08:30")
   and any part of day are taken as said.
4. "בצהריים"/"בבוקר"/... without an hour is reported in `part_of_day` only; no time is
   invented (a part of day is a range, not a point).
5. Several dates or times in one utterance: joined by "או" -> ambiguous "alternatives";
   otherwise the last one wins (callers correct themselves: "לא מחר, מחרתיים"). A
   weekday next to an explicit date ("ביום שלישי, 24/11") must agree, else
   "date_conflict"; next to a relative day ("להזיז את התור של מחר ליום שני") the later
   one wins. After "או", a bare number or weekday continues the list ("בשתיים או שלוש").
6. A day/month already past this year -> next year (`inferred`); a date with an explicit
   past year -> `date=None`, ambiguous "past_date". No returned date is before today.
7. Not times: numbers followed by a counting unit ("45 דקות", "שלושה אנשים", "שעה אחת"
   is a duration), phone numbers (7+ digits, with or without dashes/spaces), a bare
   number with no time context ("תור לשלושה"), "לשעה אחת" (for one hour). A bare hour word
   with nothing else but fillers ("אז שלוש?", "ארבע וחצי") is a time (the answer to
   "באיזו שעה?").
8. Negation is not modelled: "לא בארבע" still reports 16:00 (the agent confirms anyway).
9. Whenever something is ambiguous the field it concerns (`date` and/or `time`) is None
   and `candidates` lists the readings: datetimes (date-only readings at 00:00) when a
   date is involved or known, else times.
10. The local date and clock of `now` are used as given (pass it in the business zone,
    Asia/Jerusalem); candidate datetimes carry `now.tzinfo`.

`python -m voicectl.booking.hebrew_time --bench` times the resolver over the corpus.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from voicectl.booking import hebrew_words as hw

__all__ = [
    "WhenResolution",
    "HoursOn",
    "resolve_when",
    "date_iso",
    "normalize_hebrew",
    "PART_OF_DAY",
]

log = logging.getLogger(__name__)

HoursOn = Callable[[dt.date], list[tuple[dt.time, dt.time]]]
"""Opening ranges of the business on a date; [] = closed. An end <= start runs to midnight."""

PART_OF_DAY = ("morning", "noon", "afternoon", "evening", "night")


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
    """

    date: dt.date | None = None
    time: dt.time | None = None
    date_span: tuple[int, int] | None = None
    time_span: tuple[int, int] | None = None
    part_of_day: str | None = None
    inferred: bool = False
    ambiguous: tuple[str, ...] = ()
    candidates: tuple[dt.datetime | dt.time, ...] = ()

    @property
    def found(self) -> bool:
        """True if a date or a time was found, resolved or ambiguous (part of day alone: no)."""
        return self.date is not None or self.time is not None or bool(self.candidates)


_EMPTY = WhenResolution()


def date_iso(res: WhenResolution) -> str | None:
    """The ``date_iso`` argument for ``calendar.find_slots``: "YYYY-MM-DD" or None.

    None when no date was named or the date is ambiguous (the agent must ask).
    """
    return res.date.isoformat() if res.date is not None else None


# --------------------------------------------------------------------------------------
# Normalisation and tokens
# --------------------------------------------------------------------------------------

_TRANSLATE = str.maketrans(
    {
        "\u05f4": '"',  # gershayim
        "\u05f3": "'",  # geresh
        "\u2019": "'",
        "\u2018": "'",
        "`": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u05be": "-",  # maqaf
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u05c0": " ",
        "\u05c3": ".",
    }
)
# niqqud and cantillation, bidi and zero-width controls: removed (offsets are remapped).
_DROP_RE = re.compile(
    "[\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u200b-\u200f"
    "\u202a-\u202e\u2066-\u2069\ufeff]"
)


def normalize_hebrew(text: str) -> tuple[str, list[int] | None]:
    """Strip niqqud/controls and unify quotes, geresh and dashes.

    Args:
        text: raw transcript.

    Returns:
        ``(normalised, index_map)``: ``index_map[i]`` is the input offset of normalised
        character ``i`` (None when no character was removed: offsets are identical).
    """
    if _DROP_RE.search(text) is None:
        return text.translate(_TRANSLATE), None
    out: list[str] = []
    idx: list[int] = []
    for i, ch in enumerate(text):
        if _DROP_RE.match(ch):
            continue
        out.append(ch)
        idx.append(i)
    return "".join(out).translate(_TRANSLATE), idx


_TOKEN_RE = re.compile(r"[\u05d0-\u05ea]+(?:[\"'][\u05d0-\u05ea]+)*'?|[0-9]+(?:[:./][0-9]+)*")
_PHONE_RE = re.compile(r"(?<![0-9])\+?[0-9](?:[0-9 \-]*[0-9])?(?![0-9])")
_BREAK_CHARS = frozenset(",.;:!?\u2026\n\r\t()[]{}|/\\")

HEB, NUM = 0, 1


@dataclass(slots=True)
class _Tok:
    text: str
    start: int
    end: int
    kind: int
    brk: bool  # punctuation (a phrase break) between the previous token and this one
    tight: bool  # written attached to the previous token, or with only a hyphen between
    phone: bool = False


def _tokenize(norm: str) -> list[_Tok]:
    toks: list[_Tok] = []
    prev_end = 0
    for m in _TOKEN_RE.finditer(norm):
        s, e = m.span()
        text = m.group()
        if text[-1] == "'" and len(text) > 2:  # a closing quote, not "יום א'"
            text = text[:-1]
            e -= 1
        gap = norm[prev_end:s]
        brk = any(c in _BREAK_CHARS for c in gap)
        tight = gap == "" or gap.strip(" ") == "-"
        kind = NUM if text[0].isdigit() else HEB
        toks.append(_Tok(text, s, e, kind, brk, tight))
        prev_end = e
    if any(t.kind == NUM for t in toks):
        for m in _PHONE_RE.finditer(norm):
            if sum(c.isdigit() for c in m.group()) >= 7:
                s, e = m.span()
                for t in toks:
                    if t.kind == NUM and t.start < e and t.end > s:
                        t.phone = True
        for t in toks:
            if t.kind == NUM and t.text.isdigit() and len(t.text) >= 7:
                t.phone = True
    return toks


# --------------------------------------------------------------------------------------
# Mentions found in the token stream
# --------------------------------------------------------------------------------------

# weekday modes
PLAIN, NEXT, COMING, THIS, NEXTWEEK = "plain", "next", "coming", "this", "nextweek"


@dataclass
class _DateM:
    t0: int
    t1: int
    kind: str  # "abs" | "rel" | "wd" | "week" | "weak" | "past"
    date: dt.date | None = None
    inferred: bool = False
    wd: int = 0
    mode: str = PLAIN
    week: str = ""  # for kind "week": "this" | "next" | "weekend"


@dataclass
class _TimeM:
    t0: int
    t1: int
    h: int
    m: int
    explicit: bool
    part: str | None = None
    range_end: _TimeM | None = None


@dataclass
class _PartM:
    t0: int
    t1: int
    part: str
    weak_today: bool = False


@dataclass
class _Found:
    dates: list[_DateM] = field(default_factory=list)
    times: list[_TimeM] = field(default_factory=list)
    parts: list[_PartM] = field(default_factory=list)
    ors: list[int] = field(default_factory=list)
    nots: list[int] = field(default_factory=list)


_FILLERS = frozenset(
    """אז אולי טוב נו כן אה אהה אמ אממ אמממ בסדר יאללה סבבה אוקיי אוקי רגע נגיד בעצם פשוט
    מתאים לי יותר אפשר בוא נעשה נלך על עם זה מה אני דווקא בערך שיהיה תעשה תעשי תקבע תקבעי
    תרשום תרשמי לך בדיוק הכי תן תני לנו אם עדיף מעדיף מעדיפה חושב חושבת נראה שעה""".split()
) - {"שעה"}

_GREET_HEADS = frozenset(("בוקר", "ערב", "לילה", "צהריים", "צהרים", "שבת"))
_GREET_TAILS = frozenset(("טוב", "טובים", "טובה", "שלום", "אור"))

_MINUTE_BEFORE = {"רבע": 15, "עשרה": 10, "עשר": 10, "עשרים": 20, "חמש": 5, "חמישה": 5}


class _Scanner:
    """Finds date, time and part-of-day mentions; one instance per call, no I/O."""

    def __init__(self, toks: list[_Tok], today: dt.date, now: dt.datetime) -> None:
        self.toks = toks
        self.n = len(toks)
        self.today = today
        self.now = now
        self.f = _Found()

    # -- token helpers ------------------------------------------------------------------
    def tok(self, i: int) -> _Tok | None:
        return self.toks[i] if 0 <= i < self.n else None

    def joined(self, i: int) -> bool:
        """Token i continues the phrase of token i-1 (no punctuation between)."""
        t = self.tok(i)
        return t is not None and not t.brk

    def an(self, i: int, cat: str) -> hw.Analysis | None:
        t = self.tok(i)
        if t is None or t.kind != HEB:
            return None
        return hw.lookup(t.text, cat)

    def mark(self, i: int, canon: str) -> hw.Analysis | None:
        t = self.tok(i)
        if t is None or t.kind != HEB:
            return None
        for a in hw.analyses(t.text):
            if a.cat == hw.MARK and a.value == canon:
                return a
        return None

    def prefix_tok(self, i: int) -> hw.Prefix | None:
        """Token i is only prefix letters ("ב", "וב", "ה") written before a number at i+1."""
        t = self.tok(i)
        nx = self.tok(i + 1)
        if t is None or nx is None or t.kind != HEB or nx.kind != NUM or nx.brk:
            return None
        if len(t.text) > 3:
            return None
        return hw.split_prefix(t.text)

    def unit_at(self, i: int) -> tuple[str, int] | None:
        a = self.an(i, hw.UNIT)
        if a is None or not self.joined(i):
            return None
        if a.prefix.raw not in ("", "ה"):
            return None
        return a.value  # type: ignore[return-value]

    def blocks_time(self, i: int) -> bool:
        """A counting unit at i ("דקות", "אנשים", "שעות") makes the number before it a count."""
        u = self.unit_at(i)
        return u is not None and u[1] != 1

    def num_value(self, i: int) -> tuple[int, int, hw.Analysis | None] | None:
        """(value, n_tokens, analysis) of a number at i: digits (no separators) or words."""
        t = self.tok(i)
        if t is None or t.phone:
            return None
        if t.kind == NUM:
            if not t.text.isdigit() or len(t.text) > 3:
                return None
            return int(t.text), 1, None
        for a in hw.analyses(t.text):
            if a.cat in (hw.NUM, hw.TENS, hw.FUSED):
                r = hw.parse_number_words([x.text for x in self.toks[i : i + 3]], 0, a)
                if r is not None:
                    return r[0], r[2], a
        return None

    # -- main loop ----------------------------------------------------------------------
    def run(self) -> _Found:
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
        half = self.an(j, hw.HALF)
        quarter = self.an(j, hw.QUARTER)
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
        nxt = self.an(j, hw.HALF)
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
            self.f.dates.append(_DateM(i, j, "rel", when.date()))
            self.f.times.append(_TimeM(i, j, when.hour, when.minute, True))
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
            self.f.dates.append(_DateM(i, j, "rel", d))
            return j
        self.f.dates.append(_DateM(i, j, "rel", self.today + dt.timedelta(days=days)))
        return j

    # -- "עכשיו" = today (weak: any other date said wins) ------------------------------------
    def m_now(self, i: int) -> int | None:
        a = self.mark(i, "עכשיו")
        if a is None or a.prefix.raw not in ("", "ו"):
            return None
        self.f.dates.append(_DateM(i, i + 1, "weak", self.today))
        return i + 1

    def _unit_first(self, j: int) -> tuple[str, int] | None:
        a = self.an(j, hw.UNIT)
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
                self.f.dates.append(_DateM(t0, t1, "past"))
            else:
                self.f.dates.append(_DateM(t0, t1, "abs", date))
            return
        for k in range(0, 9):
            try:
                date = dt.date(self.today.year + k, m, d)
            except ValueError:
                continue
            if date >= self.today:
                self.f.dates.append(_DateM(t0, t1, "abs", date, inferred=k > 0))
                return

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
            for cand in hw.analyses(t.text):
                if cand.stem in hw.ORDINALS and cand.prefix.prep in ("", "ב", "ל"):
                    a = cand
                    break
            if a is not None:
                day = hw.ORDINALS[a.stem]
                j += 1
            else:
                nv = self.num_value(j)
                if nv is not None and nv[2] is not None and nv[2].prefix.prep in ("", "ב", "ל"):
                    day = nv[0]
                    j += nv[1]
        if day is None or not (1 <= day <= 31) or not self.joined(j):
            return None
        mon = self.an(j, hw.MONTH)
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
            for k in range(0, 13):
                y, mth = divmod(self.today.month - 1 + k, 12)
                try:
                    date = dt.date(self.today.year + y, mth + 1, day)
                except ValueError:
                    continue
                if date >= self.today:
                    self.f.dates.append(_DateM(i, j, "abs", date, inferred=k > 0))
                    return j
            return j
        return None

    # -- weekdays ---------------------------------------------------------------------------
    def m_weekday(self, i: int) -> int | None:
        wd: int | None = None
        j = i
        yom = self.mark(i, "יום")
        if yom is not None and not yom.prefix.det and self.joined(i + 1):
            t = self.tok(i + 1)
            if t is not None and t.kind == HEB:
                if t.text in hw.WEEKDAY_LETTERS:
                    wd = hw.WEEKDAY_LETTERS[t.text]
                else:
                    a = self.an(i + 1, hw.WEEKDAY)
                    if a is not None and a.prefix.raw in ("", "ה"):
                        wd = int(a.value)  # type: ignore[arg-type]
                if wd is not None:
                    j = i + 2
        if wd is None:
            a = self.an(i, hw.WEEKDAY)
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
        self.f.dates.append(_DateM(i, j2, "wd", wd=wd, mode=mode))
        return j2

    def _greeting(self, i: int) -> bool:
        """ "בוקר טוב", "ערב טוב", "צהריים טובים", "שבת שלום" (unprefixed)."""
        t, nx = self.tok(i), self.tok(i + 1)
        if t is None or nx is None or nx.brk:
            return False
        return t.text in _GREET_HEADS and nx.text in _GREET_TAILS

    def _time_follows(self, j: int) -> bool:
        """A time phrase starts at j ("ראשון בשתיים", "שני ב-5", "שני בבוקר")."""
        if not self.joined(j):
            return False
        pre = self.prefix_tok(j)
        if pre is not None and pre.prep == "ב":
            return True
        a = self._num_or_teen(j)
        if a is not None and a.prefix.prep == "ב":
            return True
        sh = self.mark(j, "שעה")
        if sh is not None and sh.prefix.prep == "ב":
            return True
        return self._part_follows(j)

    def _after_or(self, i: int, what: str) -> bool:
        """Token i follows "או" right after a mention of the same kind ("בשתיים או שלוש")."""
        if i < 2 or not self.joined(i) or self.mark(i - 1, "או") is None:
            return False
        if not self.joined(i - 1):
            return False
        if what == "wd":
            return (
                bool(self.f.dates)
                and self.f.dates[-1].kind == "wd"
                and self.f.dates[-1].t1 == i - 1
            )
        return bool(self.f.times) and self.f.times[-1].t1 == i - 1

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
        a = self.an(i, hw.RELDAY)
        if a is None or a.prefix.prep not in ("", "ל", "ב") or a.prefix.det:
            return None
        if self.mark(i, "מהיום") is not None:
            return None
        self.f.dates.append(_DateM(i, i + 1, "rel", self.today + dt.timedelta(days=int(a.value))))  # type: ignore[arg-type]
        return i + 1

    # -- השבוע / שבוע הבא / סוף השבוע ---------------------------------------------------------
    def m_week(self, i: int) -> int | None:
        s = self.mark(i, "סוף")
        if s is not None and s.prefix.prep in ("", "ב", "ל"):
            t = self.tok(i)
            if t is not None and t.text.endswith(('סופ"ש', "סופש")):
                self.f.dates.append(_DateM(i, i + 1, "week", week="weekend"))
                return i + 1
            w = self.mark(i + 1, "שבוע")
            if w is not None and w.prefix.det and self.joined(i + 1):
                self.f.dates.append(_DateM(i, i + 2, "week", week="weekend"))
                return i + 2
            return None
        w = self.mark(i, "שבוע")
        if w is None or w.prefix.prep not in ("", "ב", "ל"):
            return None
        nx = self.mark(i + 1, "בא")
        if nx is not None and nx.prefix.det and self.joined(i + 1):
            self.f.dates.append(_DateM(i, i + 2, "week", week="next"))
            return i + 2
        nx = self.mark(i + 1, "זה")
        if w.prefix.det and nx is not None and nx.prefix.det and self.joined(i + 1):
            self.f.dates.append(_DateM(i, i + 2, "week", week="this"))
            return i + 2
        if w.prefix.det and w.prefix.prep == "":
            self.f.dates.append(_DateM(i, i + 1, "week", week="this"))
            return i + 1
        return None

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
                p = self.an(i + 1, hw.PART)
                if p is not None and p.value == want and p.prefix.prep == "":
                    self.f.parts.append(_PartM(i, i + 2, part))
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
        p = self.an(i, hw.PART)
        if p is None or p.prefix.prep == "מ" or p.prefix.rel:
            return None
        if self._greeting(i):
            return i + 2  # "בוקר טוב", "ערב טוב", "לילה טוב": greetings, not times
        part = str(p.value)
        if part == "midnight":
            return None
        if part == "motzei":
            sh = self.an(i + 1, hw.WEEKDAY)
            if sh is not None and sh.stem == "שבת" and sh.prefix.raw == "" and self.joined(i + 1):
                self.f.dates.append(_DateM(i, i + 2, "wd", wd=5, mode=self._week_mode(i + 2)[0]))
                self.f.parts.append(_PartM(i, i + 2, "evening"))
                return i + 2
            return None
        if part == "saturday_night":
            self.f.dates.append(_DateM(i, i + 1, "wd", wd=5))
            self.f.parts.append(_PartM(i, i + 1, "evening"))
            return i + 1
        if part == "evening":
            sh = self.an(i + 1, hw.WEEKDAY)
            if sh is not None and sh.stem == "שבת" and sh.prefix.raw == "" and self.joined(i + 1):
                mode, j = self._week_mode(i + 2)
                self.f.dates.append(_DateM(i, j, "wd", wd=4, mode=mode))  # ערב שבת = Friday
                self.f.parts.append(_PartM(i, j, "evening"))
                return j
        weak = (
            p.prefix.det and p.prefix.prep == "" and part in ("morning", "noon", "evening", "night")
        )
        if weak:
            prev = i - 1
            for canon in ("אחר", "לפני", "לפנות", "שעות"):
                if self.mark(prev, canon) is not None and self.joined(i):
                    weak = False
        self.f.parts.append(_PartM(i, i + 1, part, weak_today=bool(weak)))
        if weak:
            self.f.dates.append(_DateM(i, i + 1, "weak", self.today))
        return i + 1

    # -- times ------------------------------------------------------------------------------
    def m_time(self, i: int) -> int | None:
        t = self.tok(i)
        if t is None:
            return None
        if t.kind == HEB:
            p = self.an(i, hw.PART)
            if p is not None and p.value == "midnight" and p.prefix.prep in ("", "ב", "ל", "מ"):
                j = i + 1
                nl = self.an(j, hw.PART)
                if nl is not None and nl.value == "night" and self.joined(j):
                    j += 1
                self.f.times.append(_TimeM(i, j, 0, 0, True))
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

    def _range_second(self, j: int) -> tuple[_TimeM, int] | None:
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

    def _num_or_teen(self, i: int) -> hw.Analysis | None:
        t = self.tok(i)
        if t is None or t.kind != HEB:
            return None
        for a in hw.analyses(t.text):
            if a.cat in (hw.NUM, hw.FUSED, hw.TENS):
                return a
        return None

    def _lead_prep(self, i: int) -> str:
        t = self.tok(i)
        if t is None:
            return ""
        if t.kind == HEB:
            pre = self.prefix_tok(i)
            if pre is not None:
                return pre.prep
            a = self._num_or_teen(i)
            if a is not None:
                return a.prefix.prep
        return ""

    def _clock(self, i: int, forced: bool) -> tuple[_TimeM, int] | None:
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
            tm = _TimeM(start, k, h, m, False)
            return tm, self._part_after(tm, k)
        if t.kind == NUM:
            parsed = self._digits(t.text)
            if parsed is None:
                return None
            h, m, explicit, strong = parsed
            k = j + 1
            if strong:
                tm = _TimeM(start, k, h, m, explicit)
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
            tm = _TimeM(start, k2, h % 24, m, explicit)
            return tm, self._part_after(tm, k2)
        a = self._num_or_teen(j)
        if a is None:
            return None
        words = [x.text for x in self.toks[j : j + 3]]
        r = hw.parse_number_words(words, 0, a)
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
            if gender == hw.MASC and not forced:
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
        tm = _TimeM(start, k2, h, m, False)
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
        for a in hw.analyses(t.text):
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
        nt = self.an(k, hw.UNIT)
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
            r = hw.parse_number_words([x.text for x in self.toks[k : k + 3]], 0, a)
            if r is None:
                return None
            hour = r[0]
            if r[2] == 2 and not self.joined(k + 1):
                return None
            if r[1] == hw.MASC and hour not in (11, 12):
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
        for a in hw.analyses(t.text):
            if a.prefix.raw != "ו" and not (a.cat == hw.TENS and a.prefix.raw == ""):
                continue
            if a.cat == hw.HALF:
                return 30, k + 1
            if a.cat == hw.QUARTER:
                return 15, k + 1
            if a.cat in (hw.NUM, hw.TENS, hw.FUSED):
                r = hw.parse_number_words([x.text for x in self.toks[k : k + 3]], 0, a)
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
        p = self.an(k, hw.PART)
        if p is not None and p.value in ("morning", "noon", "evening", "night", "afternoon"):
            return p.prefix.prep in ("", "ב", "ל") or p.prefix.det
        for canon, want in (("אחר", "noon"), ("לפני", "noon"), ("לפנות", "morning")):
            if self.mark(k, canon) is not None and self.joined(k + 1):
                p = self.an(k + 1, hw.PART)
                if p is not None and p.value == want:
                    return True
        return False

    def _part_after(self, tm: _TimeM, k: int) -> int:
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

    # -- bare hour answer: "שלוש?", "אז ארבע וחצי" -------------------------------------------
    def _only_fillers_except(self, a: int, b: int) -> bool:
        for k, t in enumerate(self.toks):
            if a <= k < b:
                continue
            if t.kind != HEB:
                return False
            w = t.text
            if w in _FILLERS or (w[0] == "ו" and w[1:] in _FILLERS):
                continue
            return False
        return True

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
                    f.times.append(_TimeM(i, i + 1, h, m, explicit))
                return
            a = self._num_or_teen(i)
            if a is None or a.prefix.raw not in ("", "ו"):
                continue
            r = hw.parse_number_words([x.text for x in self.toks[i : i + 3]], 0, a)
            if r is None:
                continue
            h, gender, nw, bare_ok = r
            if not bare_ok or gender == hw.MASC or not (1 <= h <= 12):
                continue
            if self._only_fillers_except(i, i + nw):
                f.times.append(_TimeM(i, i + nw, h, 0, False))
            return


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


def _heb_index(d: dt.date) -> int:
    """Day of the Israeli week: Sunday 0 .. Saturday 6."""
    return (d.weekday() + 1) % 7


def _week_start(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=_heb_index(d))


def _weekday_dates(wd: int, mode: str, today: dt.date) -> tuple[list[dt.date], bool]:
    """Readings of a weekday mention; returns (dates, inferred)."""
    delta = (wd - today.weekday()) % 7
    hidx = (wd + 1) % 7
    if mode == PLAIN:
        return [today + dt.timedelta(days=delta)], False
    coming = today + dt.timedelta(days=delta or 7)
    nextweek = _week_start(today) + dt.timedelta(days=7 + hidx)
    if mode == COMING:
        return [coming], False
    if mode == NEXTWEEK:
        return [nextweek], False
    if mode == THIS:
        d = _week_start(today) + dt.timedelta(days=hidx)
        if d < today:
            return [today + dt.timedelta(days=delta)], True
        return [d], False
    # NEXT
    if coming == nextweek:
        return [coming], False
    return [coming, nextweek], False


def _minutes(t: dt.time) -> float:
    return t.hour * 60 + t.minute + t.second / 60


class _Hours:
    """Opening hours lookups with a guard around the caller's callable."""

    def __init__(self, hours_on: HoursOn | None, today: dt.date) -> None:
        self.fn = hours_on
        self.today = today
        self._week: list[tuple[float, float]] | None = None

    def on(self, d: dt.date) -> list[tuple[float, float]] | None:
        if self.fn is None:
            return None
        try:
            ranges = self.fn(d) or []
            out = []
            for s, e in ranges:
                a, b = _minutes(s), _minutes(e)
                if b <= a:
                    b += 1440
                out.append((a, b))
            return out
        except Exception:  # noqa: BLE001 - a broken policy must not break the call
            log.warning("hours_on failed for %s", d, exc_info=True)
            self.fn = None
            return None

    def week(self) -> list[tuple[float, float]] | None:
        if self.fn is None:
            return None
        if self._week is None:
            acc: list[tuple[float, float]] = []
            for k in range(7):
                r = self.on(self.today + dt.timedelta(days=k))
                if r is None:
                    return None
                acc.extend(x for x in r if x not in acc)
            self._week = acc
        return self._week


def _default_pm(h: int) -> bool:
    """The no-policy rule for an hour 1..11 said without a part of day: 1-6 PM, 7-11 AM."""
    return 1 <= h <= 6


def _clock_readings(h: int, m: int, explicit: bool, part: str | None) -> list[dt.time]:
    if explicit:
        return [dt.time(h % 24, m)]
    if part is not None:
        if part == "morning":
            hh = h
        elif part == "noon":
            hh = h if h in (11, 12) else h + 12
        elif part == "afternoon":
            hh = h if h == 12 else h + 12
        elif part == "evening":
            hh = 0 if h == 12 else h + 12
        elif part == "night":
            hh = h + 12 if 6 <= h <= 11 else (0 if h == 12 else h)
        else:
            hh = h
        return [dt.time(hh % 24, m)]
    if h == 12:
        return [dt.time(12, m)]
    return [dt.time(h, m), dt.time(h + 12, m)]


def _choose_clock(
    readings: list[dt.time], date: dt.date | None, hours: _Hours, now: dt.datetime
) -> tuple[list[dt.time], bool]:
    """Pick among the am/pm readings. Returns (chosen readings, inferred)."""
    if len(readings) == 1:
        return readings, False
    am, pm = readings
    if date is not None and date == now.date():
        nowt = now.time().replace(tzinfo=None)
        ahead = [r for r in readings if r > nowt]
        if len(ahead) == 1:
            return ahead, True
    ranges = hours.on(date) if date is not None else hours.week()
    if ranges is not None and not ranges:
        ranges = hours.week()
    if not ranges:
        return ([pm] if _default_pm(am.hour) else [am]), True

    def fits(t: dt.time) -> bool:
        x = _minutes(t)
        return any(a <= x < b or a <= x + 1440 < b for a, b in ranges)

    def dist(t: dt.time) -> float:
        x = _minutes(t)
        best = 1e9
        for a, b in ranges:
            for xx in (x, x + 1440):
                best = min(best, 0 if a <= xx <= b else min(abs(xx - a), abs(xx - b)))
        return best

    ok = [r for r in readings if fits(r)]
    if len(ok) == 1:
        return ok, True
    if len(ok) == 2:
        return readings, False
    da, dp = dist(am), dist(pm)
    if da < dp:
        return [am], True
    if dp < da:
        return [pm], True
    return ([pm] if _default_pm(am.hour) else [am]), True


def _span(toks: list[_Tok], t0: int, t1: int, idx: list[int] | None) -> tuple[int, int]:
    s, e = toks[t0].start, toks[t1 - 1].end
    if idx is not None:
        return idx[s], idx[e - 1] + 1
    return s, e


def _union(a: tuple[int, int] | None, b: tuple[int, int]) -> tuple[int, int]:
    return b if a is None else (min(a[0], b[0]), max(a[1], b[1]))


def _between(marks: list[int], a: int, b: int) -> bool:
    return any(a <= k < b for k in marks)


def _resolve(text: str, now: dt.datetime, hours_on: HoursOn | None) -> WhenResolution:
    if not isinstance(text, str) or not text:
        return _EMPTY
    norm, idx = normalize_hebrew(text)
    toks = _tokenize(norm)
    if not toks:
        return _EMPTY
    today = now.date()
    f = _Scanner(toks, today, now).run()
    if not (f.dates or f.times or f.parts):
        return _EMPTY
    hours = _Hours(hours_on, today)
    tz = now.tzinfo
    reasons: list[str] = []
    inferred = False

    # ---- parts of day -> nearest time ------------------------------------------------------
    part_out: str | None = None
    for pm in f.parts:
        best: _TimeM | None = None
        for tm in f.times:
            if tm.part is not None and tm.t0 <= pm.t0 < tm.t1:
                best = None
                break
            gap = pm.t0 - tm.t1 if pm.t0 >= tm.t1 else tm.t0 - pm.t1
            if 0 <= gap <= 2 and tm.part is None and (best is None):
                best = tm
        if best is not None:
            best.part = pm.part
            best.t0, best.t1 = min(best.t0, pm.t0), max(best.t1, pm.t1)
        part_out = pm.part

    # ---- dates --------------------------------------------------------------------------
    date: dt.date | None = None
    date_cands: list[dt.date] = []
    date_span: tuple[int, int] | None = None
    rollable = False
    dms = [d for d in f.dates if d.kind != "weak"]
    weak = [d for d in f.dates if d.kind == "weak"]
    weeks = [d for d in dms if d.kind == "week"]
    wds = [d for d in dms if d.kind == "wd"]
    if weeks and wds:
        # "בשבוע הבא ביום שלישי": the week word sets the weekday's mode
        for w in list(weeks):
            if w.week == "weekend":
                continue
            for d in wds:
                if d.mode == PLAIN:
                    d.mode = NEXTWEEK if w.week == "next" else THIS
                    d.t0, d.t1 = min(d.t0, w.t0), max(d.t1, w.t1)
                    if w in dms:
                        dms.remove(w)
                    break
    # readings per mention
    readings: list[tuple[_DateM, list[dt.date], bool, str | None]] = []
    for d in dms:
        if d.kind == "wd":
            ds, inf = _weekday_dates(d.wd, d.mode, today)
            readings.append((d, ds, inf, "which_week" if len(ds) > 1 else None))
        elif d.kind == "week":
            ds = _week_days(d.week, today, hours)
            readings.append((d, ds, False, "which_day"))
        elif d.kind == "past":
            readings.append((d, [], False, "past_date"))
        elif d.date is not None:
            readings.append((d, [d.date], d.inferred, None))
    if readings:
        # group mentions written next to each other (apposition: "יום שלישי, 24/11")
        groups: list[list[tuple[_DateM, list[dt.date], bool, str | None]]] = [[readings[0]]]
        for r in readings[1:]:
            prev = groups[-1][-1][0]
            close = r[0].t0 - prev.t1 <= 3
            if close and not _between(f.ors + f.nots, prev.t1, r[0].t0):
                groups[-1].append(r)
            else:
                groups.append([r])
        resolved: list[tuple[list[dt.date], bool, str | None, tuple[int, int], bool]] = []
        for g in groups:
            span = None
            for r in g:
                span = _union(span, (r[0].t0, r[0].t1))
            assert span is not None
            firm = [r for r in g if r[3] is None]
            if firm:
                non_wd = [r for r in firm if r[0].kind != "wd"]
                final = non_wd[-1] if non_wd else firm[-1]
                val = final[1][0]
                # a weekday (or "X הבא" readings) next to the date must agree with it;
                # two plain dates side by side: the later one corrects the earlier
                others = [r for r in g if r[0].kind == "wd" and r is not final]
                bad = [r for r in others if r[3] != "past_date" and val not in r[1]]
                if bad and final[0].kind == "abs":
                    allv = sorted({val} | {x for r in bad for x in r[1]})
                    resolved.append((allv, False, "date_conflict", span, False))
                elif bad:
                    # "מחר ליום שני": a relative day and a weekday that disagree - the later
                    # one is what the caller is asking for (moving, correcting)
                    r0 = g[-1]
                    resolved.append(
                        (
                            r0[1],
                            r0[2],
                            r0[3] if len(r0[1]) > 1 else None,
                            span,
                            r0[0].kind == "wd" and r0[0].mode == PLAIN,
                        )
                    )
                else:
                    resolved.append(
                        (
                            [val],
                            final[2],
                            None,
                            span,
                            final[0].kind == "wd" and final[0].mode == PLAIN,
                        )
                    )
                continue
            r0 = g[-1]
            resolved.append((r0[1], r0[2], r0[3], span, False))
        # several groups: "או" between -> alternatives, else the last one wins
        last = resolved[-1]
        alt = len(resolved) > 1 and any(
            _between(f.ors, groups[k][-1][0].t1, groups[k + 1][0][0].t0)
            for k in range(len(groups) - 1)
        )
        if alt:
            cands: list[dt.date] = []
            span = None
            for r in resolved:
                cands.extend(x for x in r[0] if x not in cands)
                span = _union(span, r[3])
            assert span is not None
            if len(cands) == 1:
                date = cands[0]
            else:
                date_cands = cands
                reasons.append("alternatives")
            date_span_t = span
        else:
            ds, inf, reason, date_span_t, rollable = last
            if reason is None and len(ds) == 1:
                date = ds[0]
                inferred = inferred or inf
            elif reason == "which_day" and len(ds) == 1:
                date = ds[0]  # "השבוע" on a Friday at a business closed on Saturday
                inferred = True
            else:
                date_cands = list(ds)
                reasons.append(reason or "alternatives")
        date_span = _span(toks, date_span_t[0], date_span_t[1], idx)
    elif weak:
        date = today
        date_span = _span(toks, weak[-1].t0, weak[-1].t1, idx)

    # ---- times ----------------------------------------------------------------------------
    time_val: dt.time | None = None
    time_cands: list[dt.time] = []
    time_span: tuple[int, int] | None = None
    chosen_part: str | None = None
    if f.times:
        tgroups: list[list[_TimeM]] = [[f.times[0]]]
        for tm in f.times[1:]:
            if _between(f.ors, tgroups[-1][-1].t1, tm.t0):
                tgroups[-1].append(tm)
            else:
                tgroups.append([tm])
        chosen = tgroups[-1]
        span_t: tuple[int, int] | None = None
        for tm in chosen:
            span_t = _union(span_t, (tm.t0, tm.t1))
        assert span_t is not None
        time_span = _span(toks, span_t[0], span_t[1], idx)

        def clock(tm: _TimeM, on: dt.date | None) -> tuple[list[dt.time], bool]:
            rd = _clock_readings(tm.h, tm.m, tm.explicit, tm.part)
            return _choose_clock(rd, on, hours, now)

        def resolve_times(on: dt.date | None) -> tuple[list[dt.time], bool, str | None]:
            if len(chosen) == 1 and chosen[0].range_end is None:
                got, inf = clock(chosen[0], on)
                return got, inf, ("am_pm" if len(got) > 1 else None)
            if len(chosen) == 1:
                tm = chosen[0]
                a, inf_a = clock(tm, on)
                end = tm.range_end
                assert end is not None
                if end.part is None:
                    end.part = tm.part
                if len(a) == 1 and not tm.explicit and not end.explicit and end.part is None:
                    # the end of a range follows its start: "בין ארבע לשש" at 16:00 -> 18:00
                    base = a[0].hour
                    hh = end.h if end.h > (base % 12 if base >= 12 else base) else end.h
                    bb = [dt.time(hh % 24, end.m), dt.time((hh + 12) % 24, end.m)]
                    b = [x for x in bb if x > a[0]][:1] or bb[:1]
                    inf_b = inf_a
                else:
                    b, inf_b = clock(end, on)
                out = [x for x in a + b]
                return out, inf_a or inf_b, "time_range"
            vals: list[dt.time] = []
            inf_any = False
            for tm in chosen:
                got, inf = clock(tm, on)
                inf_any = inf_any or inf
                vals.extend(x for x in got if x not in vals)
            if len(vals) == 1:
                return vals, inf_any, None
            return vals, inf_any, "alternatives"

        on = date if date is not None else None
        tvals, tinf, treason = resolve_times(on)
        # choice 1: a plain weekday equal to today whose time has passed -> next week
        if rollable and date == today:
            nowt = now.time().replace(tzinfo=None)
            if treason is None and tvals and tvals[0] <= nowt:
                date = date + dt.timedelta(days=7)
                inferred = True
                tvals, tinf, treason = resolve_times(date)
        if treason is None:
            time_val = tvals[0]
        else:
            time_cands = tvals
            reasons.append(treason)
        inferred = inferred or tinf
        chosen_part = next((tm.part for tm in reversed(chosen) if tm.part), None)
    if rollable and date == today and time_val is None and not time_cands:
        # no time said: roll when the business has no opening time left today
        rng = hours.on(today)
        if rng is not None:
            nowm = _minutes(now.time())
            if not any(b > nowm for _a, b in rng):
                date = today + dt.timedelta(days=7)
                inferred = True
    # part-of-day words with no time: extend the time span to them
    for pm in f.parts:
        if not any(tm.t0 <= pm.t0 < tm.t1 for tm in f.times):
            time_span = _union(time_span, _span(toks, pm.t0, pm.t1, idx))
    part = chosen_part or part_out
    if part == "saturday_night":
        part = "evening"
    if part not in PART_OF_DAY:
        part = None

    # ---- candidates ---------------------------------------------------------------------
    cands_out: list[dt.datetime | dt.time] = []
    if date_cands or time_cands:
        dlist = date_cands or ([date] if date is not None else [])
        tlist = time_cands or ([time_val] if time_val is not None else [])
        if dlist:
            for d in dlist:
                for t in tlist or [dt.time(0, 0)]:
                    cands_out.append(dt.datetime.combine(d, t, tzinfo=tz))
        else:
            cands_out.extend(tlist)
    if "past_date" in reasons:
        cands_out = []
    if date_cands:
        date = None
    return WhenResolution(
        date=date,
        time=time_val,
        date_span=date_span,
        time_span=time_span,
        part_of_day=part,
        inferred=inferred,
        ambiguous=tuple(dict.fromkeys(reasons)),
        candidates=tuple(cands_out),
    )


def _week_days(which: str, today: dt.date, hours: _Hours) -> list[dt.date]:
    """Days of "השבוע" (today..Saturday), "שבוע הבא" (next Sun..Sat) or the weekend."""
    start = _week_start(today)
    if which == "next":
        days = [start + dt.timedelta(days=7 + k) for k in range(7)]
    elif which == "weekend":
        days = [start + dt.timedelta(days=k) for k in (5, 6)]
        days = [d for d in days if d >= today] or [d + dt.timedelta(days=7) for d in days]
    else:
        days = [start + dt.timedelta(days=k) for k in range(7)]
        days = [d for d in days if d >= today]
    if hours.fn is not None:
        open_days = [d for d in days if hours.on(d)]
        if open_days:
            days = open_days
    return days


def resolve_when(text: str, now: dt.datetime, hours_on: HoursOn | None = None) -> WhenResolution:
    """Find and resolve the date and time a caller named in a transcript.

    Args:
        text: the caller's utterance (any string; niqqud, punctuation and other numbers
            such as phone digits are tolerated).
        now: the call's current time, timezone-aware in the business zone
            (Asia/Jerusalem); its local date and clock are used as given.
        hours_on: the business's opening ranges on a date (``[]`` = closed; an end <=
            start runs to midnight), used to choose between h and h+12; None = no policy
            (1-6 -> PM, 7-11 -> AM, 12 -> noon). An exception from it is logged and
            treated as None.

    Returns:
        A `WhenResolution`; empty (``found`` False) when nothing was named. Never raises:
        an internal error is logged and returns the empty resolution. Every returned
        date and candidate date is >= ``now.date()``.
    """
    try:
        return _resolve(text, now, hours_on)
    except Exception:  # noqa: BLE001 - the call must go on
        log.exception("resolve_when failed on %r", text[:80] if isinstance(text, str) else text)
        return _EMPTY


# --------------------------------------------------------------------------------------
# Benchmark / CLI
# --------------------------------------------------------------------------------------

_CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "hebrew_time_corpus.yaml"


def spa_hours(d: dt.date) -> list[tuple[dt.time, dt.time]]:
    """The demo spa's hours (Sun-Thu 09:00-20:00, Fri 09:00-14:00, Sat closed)."""
    wd = d.weekday()
    if wd == 5:
        return []
    if wd == 4:
        return [(dt.time(9), dt.time(14))]
    return [(dt.time(9), dt.time(20))]


def all_day_hours(d: dt.date) -> list[tuple[dt.time, dt.time]]:
    """A 24/7 business: the whole day every day."""
    return [(dt.time(0), dt.time(0))]


HOURS_FIXTURES: dict[str, HoursOn | None] = {"spa": spa_hours, "none": None, "24_7": all_day_hours}


def bench(path: Path = _CORPUS, repeat: int = 20) -> dict[str, float]:
    """Time `resolve_when` over the corpus.

    Args:
        path: corpus YAML (list of {text, now, hours}).
        repeat: passes over the corpus; the best pass is reported.

    Returns:
        ``{"phrases": n, "us_per_phrase": best µs, "us_per_phrase_median": median µs}``.
    """
    import statistics
    import time as _time

    import yaml

    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = [
        (e["text"], dt.datetime.fromisoformat(e["now"]), HOURS_FIXTURES[e.get("hours", "none")])
        for e in entries
    ]
    for text, now, h in items:  # warm caches
        resolve_when(text, now, h)
    passes = []
    for _ in range(repeat):
        t0 = _time.perf_counter()
        for text, now, h in items:
            resolve_when(text, now, h)
        passes.append((_time.perf_counter() - t0) / len(items) * 1e6)
    return {
        "phrases": float(len(items)),
        "us_per_phrase": min(passes),
        "us_per_phrase_median": statistics.median(passes),
    }


def _main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m voicectl.booking.hebrew_time",
        description="Resolve Hebrew date/time phrases.",
    )
    ap.add_argument("text", nargs="?", help="an utterance to resolve")
    ap.add_argument("--now", help="ISO datetime with offset (default: now, Asia/Jerusalem)")
    ap.add_argument("--hours", choices=sorted(HOURS_FIXTURES), default="spa")
    ap.add_argument("--bench", action="store_true", help="time the resolver over the corpus")
    ap.add_argument("--corpus", type=Path, default=_CORPUS)
    args = ap.parse_args(argv)
    if args.bench:
        r = bench(args.corpus)
        print(
            f"hebrew_time: {int(r['phrases'])} phrases, {r['us_per_phrase']:.1f} µs/phrase "
            f"(best of 20 passes; median {r['us_per_phrase_median']:.1f} µs)"
        )
        return 0
    if not args.text:
        ap.print_help()
        return 2
    if args.now:
        now = dt.datetime.fromisoformat(args.now)
    else:
        from zoneinfo import ZoneInfo

        now = dt.datetime.now(ZoneInfo("Asia/Jerusalem"))
    print(resolve_when(args.text, now, HOURS_FIXTURES[args.hours]))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
