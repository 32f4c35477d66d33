"""Turn the mentions of one transcript into a `WhenResolution` (see the package docstring)."""

from __future__ import annotations

import datetime as dt
import logging

from voicectl.hebrew.calendar import PART_OF_DAY
from voicectl.hebrew.negation import cancelled
from voicectl.hebrew.text import Token, clean, tokenize
from voicectl.hebrew.when.mentions import (
    COMING,
    NEXTWEEK,
    PLAIN,
    THIS,
    DateMention,
    Mentions,
    TimeMention,
)
from voicectl.hebrew.when.result import EMPTY, HoursOn, WhenResolution
from voicectl.hebrew.when.scan import Scanner

__all__ = ["resolve_unguarded", "resolve_when"]

log = logging.getLogger(__name__)


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


_NIGHT_ENDS = 6
"""Hours before this belong to the night that began the evening before ("הלילה בשלוש")."""


def _drop_cancelled(toks: list[Token], f: Mentions) -> None:
    """Remove the mentions the caller negated, retracted or replaced ("לא בערב, בבוקר",
    "ביום ראשון - לא, שני", "במקום מחר, מחרתיים"): each kind on its own
    (`voicectl.hebrew.negation.cancelled`)."""
    words = [t.text for t in toks]
    breaks = [t.brk for t in toks]
    for kind in (f.dates, f.times, f.parts):
        if kind:
            gone = cancelled(words, breaks, [(m.t0, m.t1) for m in kind])
            kind[:] = [m for k, m in enumerate(kind) if k not in gone]


def _span(toks: list[Token], t0: int, t1: int, idx: list[int] | None) -> tuple[int, int]:
    s, e = toks[t0].start, toks[t1 - 1].end
    if idx is not None:
        return idx[s], idx[e - 1] + 1
    return s, e


def _union(a: tuple[int, int] | None, b: tuple[int, int]) -> tuple[int, int]:
    return b if a is None else (min(a[0], b[0]), max(a[1], b[1]))


def _between(marks: list[int], a: int, b: int) -> bool:
    return any(a <= k < b for k in marks)


def resolve_unguarded(text: str, now: dt.datetime, hours_on: HoursOn | None) -> WhenResolution:
    """`resolve_when` without its safety net: an internal error raises (for tests)."""
    if not isinstance(text, str) or not text:
        return EMPTY
    norm, idx = clean(text)
    toks = tokenize(norm)
    if not toks:
        return EMPTY
    today = now.date()
    f = Scanner(toks, today, now).run()
    _drop_cancelled(toks, f)
    if not (f.dates or f.times or f.parts):
        return EMPTY
    hours = _Hours(hours_on, today)
    tz = now.tzinfo
    reasons: list[str] = []
    inferred = False

    # ---- parts of day -> nearest time ------------------------------------------------------
    part_out: str | None = None
    for pm in f.parts:
        best: TimeMention | None = None
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
    readings: list[tuple[DateMention, list[dt.date], bool, str | None]] = []
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
        groups: list[list[tuple[DateMention, list[dt.date], bool, str | None]]] = [[readings[0]]]
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
                bad = [
                    r
                    for r in others
                    if r[3] != "past_date" and val not in r[1] and val.weekday() != r[0].wd
                ]
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
            elif not cands:  # every alternative is a date in a past year
                reasons.append("past_date")
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
        tgroups: list[list[TimeMention]] = [[f.times[0]]]
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

        def clock(tm: TimeMention, on: dt.date | None) -> tuple[list[dt.time], bool]:
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
    # "הלילה בשלוש": tonight's small hours are after midnight, on tomorrow's date - unless
    # the caller is already in that night (it is before 06:00 now).
    tonight = any(pm.weak_today and pm.part == "night" for pm in f.parts)
    if (
        tonight
        and not dms
        and date == today
        and time_val is not None
        and time_val.hour < _NIGHT_ENDS
        and now.hour >= _NIGHT_ENDS
    ):
        date = today + dt.timedelta(days=1)
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
    if "alternatives" in reasons and not cands_out:  # every alternative was in a past year
        reasons = ["past_date" if r == "alternatives" else r for r in reasons]
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
        said=tuple((tm.h % 24, tm.m) for tm in f.times),
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
        return resolve_unguarded(text, now, hours_on)
    except Exception:  # noqa: BLE001 - the call must go on
        log.exception("resolve_when failed on %r", text[:80] if isinstance(text, str) else text)
        return EMPTY


# --------------------------------------------------------------------------------------
# Benchmark / CLI
# --------------------------------------------------------------------------------------
