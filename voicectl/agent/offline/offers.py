"""Availability, offers and booking: `find_slots`, what to offer, `create_appointment`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from voicectl.agent import phrases as P
from voicectl.agent.offline.state import Booked, Waiting
from voicectl.agent.offline.turn import ToolResult, Turn, parse_iso, slot_starts
from voicectl.booking.appointments import CONFIRM_ERRORS
from voicectl.hebrew.calendar import PART_SAID, PART_WINDOWS

MAX_OFFERED = 3
"""How many times to offer when the caller names a day but no time."""
MAX_VALIDATION_RETRIES = 2
"""After this many `validation_error`s in a row the agent stops retrying the booking."""


def advance(c: Turn, availability: bool = False) -> str:
    """Ask for the next missing slot, check availability, or book."""
    st = c.st
    services = c.services
    if st.service is None and len(services) == 1:
        st.service = services[0].id
    day = date.fromisoformat(st.date) if st.date else None

    if st.service is None and services:
        if (
            day is not None
            and st.time is None
            and (availability or st.earliest or st.latest or st.part)
        ):
            return offer_day(c, day, None)
        st.pending = Waiting.SERVICE
        if st.options:
            st.options = []
        return P.ask_service(services)

    if day is None:
        if st.earliest or st.latest:
            return offer_day(c, c.today, st.service, search_ahead=True)
        st.pending = Waiting.DATE
        return P.ASK_DAY if (st.time or st.part) else P.ASK_DAY_AND_TIME

    if day < c.today:
        st.ask_day()
        return f"{P.PAST_DATE} {P.ASK_DAY}"
    window = c.policy.booking_window_days
    if day > c.today + timedelta(days=window):
        st.ask_day()
        return P.beyond_window(window)

    if st.time is None and st.time_alts:
        res = c.find_slots(day, st.service)
        if not res.get("ok"):
            return tool_trouble(c, res)
        free = {(s.hour, s.minute) for s in slot_starts(res, c.tz)}
        for hhmm in st.time_alts:
            t = time.fromisoformat(hhmm)
            if (t.hour, t.minute) in free:
                st.time = hhmm
                st.inferred = True
                st.time_alts = []
                break
        else:
            st.time, st.time_alts = st.time_alts[0], []
    if st.time is None:
        return offer_day(c, day, st.service)

    t = time.fromisoformat(st.time)
    start = datetime.combine(day, t, tzinfo=c.tz)
    res = c.find_slots(day, st.service)
    if not res.get("ok"):
        return tool_trouble(c, res)
    starts = slot_starts(res, c.tz)
    if any(s == start for s in starts):
        if st.inferred and st.name:
            st.pending = Waiting.CONFIRM
            st.options = []
            return P.confirm_time(P.day_label(day, c.today), t)
        if not st.name:
            was = st.pending
            st.pending = Waiting.NAME
            st.options = []
            if st.inferred:
                # Say the inferred time in words ("בשתיים אחר הצהריים") and ask the name
                # in the same turn: giving the name accepts the time, "לא" changes it.
                st.pending = Waiting.CONFIRM
                return f"{P.free_at(P.day_label(day, c.today), t, spoken=True)} {P.ASK_NAME}"
            if was in (Waiting.CONFIRM, Waiting.CHOOSE) or (
                was is Waiting.NAME and not c.slot_changed
            ):
                return P.ASK_NAME
            return f"{P.free_at(P.day_label(day, c.today), t)} {P.ASK_NAME}"
        return create(c, start)
    if starts and st.name:
        # The day has room but not at that time: the booking tool judges the request
        # (off_grid / too_soon / outside_hours / slot_taken) and suggests what is free.
        return create(c, start)
    return not_available(c, day, start, res)


def offer_day(c: Turn, day: date, service: str | None, search_ahead: bool = False) -> str:
    """Call find_slots for `day` and offer up to three times (or the next open day)."""
    st = c.st
    res = c.find_slots(day, service)
    if not res.get("ok"):
        return tool_trouble(c, res)
    starts = slot_starts(res, c.tz)
    label = P.day_label(day, c.today)
    if not starts:
        return offer_alternative(c, day, res, quiet=search_ahead)
    chosen: list[datetime]
    prefix = ""
    if st.earliest:
        chosen = starts[:1]
    elif st.latest:
        chosen = starts[-1:]
    elif st.part:
        lo, hi = _part_window(st.part)
        in_part = [s for s in starts if lo <= _hours(s) < hi]
        if in_part:
            chosen = in_part[:MAX_OFFERED]
        else:
            prefix = f"{label} {PART_SAID.get(st.part or '', 'בשעות האלה')} אין תורים פנויים."
            chosen = _nearest_to_window(starts, lo, hi, 2)
    else:
        chosen = starts[:MAX_OFFERED]
    st.date = day.isoformat()
    st.options = [s.isoformat() for s in chosen]
    st.pending = Waiting.CHOOSE
    if prefix:
        return f"{prefix} {P.suggest_times('', chosen)}"
    return P.offer_times(label, chosen)


def offer_alternative(
    c: Turn,
    day: date,
    res: ToolResult,
    quiet: bool = False,
    want: time | None = None,
) -> str:
    """`day` has no free slot: say why and offer the next open day (find_slots'
    `alternatives`), at the time the caller asked for (`want`) or in the part of the
    day they named when that day has it."""
    st = c.st
    label = P.day_label(day, c.today)
    reason = res.get("reason")
    if reason == "closed" or res.get("closed"):
        why = P.closed_on(P.weekday_label(day, c.today))
    elif reason == "beyond_window":
        window = c.policy.booking_window_days
        st.time = None
        st.ask_day()
        st.options = []
        return P.beyond_window(int(window))
    elif reason == "past":
        st.time = None
        st.ask_day()
        st.options = []
        return f"{P.PAST_DATE} {P.ASK_DAY}"
    else:
        why = P.no_slots_on(label)
    alts = res.get("alternatives") or []
    for alt in alts:
        first = parse_iso(alt.get("first_slot_iso") if isinstance(alt, dict) else None, c.tz)
        if first is None:
            continue
        first = alt_start(c, first, want)
        st.options = [first.isoformat()]
        st.pending = Waiting.CHOOSE
        st.time = None
        st.inferred = False
        offer = P.offer_alternative(P.day_label(first.date(), c.today), first)
        if quiet and first.date() != day:
            return f"התור הקרוב {P.day_label(first.date(), c.today)} {P.at(first)}. מתאים?"
        return f"{why} {offer}"
    st.time = None
    st.ask_day()
    st.options = []
    return f"{why} {P.WHICH_DAY_INSTEAD}"


def alt_start(c: Turn, first: datetime, want: time | None) -> datetime:
    """The start to offer on an alternative day: `want` when free there, else the free
    start nearest to it; the first start in the caller's part of the day; else `first`."""
    st = c.st
    if want is None and not st.part:
        return first
    res = c.find_slots(first.date(), st.service)
    starts = slot_starts(res, c.tz) if res.get("ok") else []
    if not starts:
        return first
    if want is not None:
        wanted = want.hour * 60 + want.minute
        return min(starts, key=lambda s: (abs(s.hour * 60 + s.minute - wanted), s))
    lo, hi = _part_window(st.part)
    return _nearest_to_window(starts, lo, hi, 1)[0]


def not_available(c: Turn, day: date, start: datetime, res: ToolResult) -> str:
    """The requested start is not free: say why in a few words and offer the nearest."""
    st = c.st
    starts = slot_starts(res, c.tz)
    label = P.day_label(day, c.today)
    if not starts:
        st.time = None
        st.inferred = False
        return offer_alternative(c, day, res, want=start.time())
    reason = why_not(c, day, start)
    if reason == "too_soon":
        chosen = starts[:2]
        why = too_soon_sentence(c, start)
    else:
        chosen = sorted(sorted(starts, key=lambda s: abs((s - start).total_seconds()))[:2])
        if reason == "outside_hours":
            why = P.outside_hours(label, list(c.policy.hours_on(day)))
        elif reason == "off_grid":
            why = _grid_sentence(c.policy.slot_size_min)
        else:
            why = P.TIME_TAKEN
    st.time = None
    st.inferred = False
    st.options = [s.isoformat() for s in chosen]
    st.pending = Waiting.CHOOSE
    return P.suggest_times(why, chosen)


def too_soon_sentence(c: Turn, start: datetime) -> str:
    """Why a start inside the notice period cannot be booked, in a few words."""
    if start <= c.now:
        return P.TIME_PASSED
    notice = c.policy.min_notice_min
    return P.too_soon(notice) if notice > 0 else P.TIME_TOO_SOON


def why_not(c: Turn, day: date, start: datetime) -> str:
    policy = c.policy
    notice = policy.min_notice_min
    if start < c.now + timedelta(minutes=notice):
        return "too_soon"
    size = policy.slot_size_min
    if (start.hour * 60 + start.minute) % size:
        return "off_grid"
    svc = c.service_obj(c.st.service)
    dur = svc.duration_min if svc else size
    end = (start + timedelta(minutes=dur)).time()
    t = start.time()
    ranges = list(policy.hours_on(day))
    inside = any(
        a <= t and (end <= b or b == time.max or end == time(0, 0) and b >= t) for a, b in ranges
    )
    if not inside:
        return "outside_hours"
    return "taken"


def create(c: Turn, start: datetime) -> str:
    st = c.st
    res = c.create_appointment(start, st.service or "", st.name or "", st.phone)
    if res.get("ok"):
        return booked(c, start, res)
    err = str(res.get("error") or "validation_error")
    if err == "need_phone":
        st.pending = Waiting.NEED_PHONE
        st.options = []
        c.wants_dtmf = True
        return P.NEED_PHONE
    if err in ("off_grid", "outside_hours", "too_soon", "slot_taken"):
        sugg = [d for d in (parse_iso(s, c.tz) for s in res.get("suggestions") or []) if d]
        day = start.date()
        label = P.day_label(day, c.today)
        why = {
            "off_grid": _grid_sentence(c.policy.slot_size_min),
            "too_soon": too_soon_sentence(c, start),
            "slot_taken": P.TIME_TAKEN,
        }.get(err)
        if err == "outside_hours":
            why = P.outside_hours(label, list(c.policy.hours_on(day)))
        notice = c.policy.min_notice_min
        if err == "off_grid" and start < c.now + timedelta(minutes=notice):
            # The tool checks the grid first; "10:15 at 10:00" is too soon above all.
            why = too_soon_sentence(c, start)
        st.time = None
        st.inferred = False
        if sugg:
            # The tool lists the nearest free starts first; offer two, the same day's
            # first, in time order.
            same_day = [s for s in sugg if s.date() == day]
            chosen = sorted((same_day if len(same_day) >= 2 else sugg)[:2])
            st.options = [s.isoformat() for s in chosen]
            st.pending = Waiting.CHOOSE
            return P.suggest_times(why or "", chosen, today=c.today, asked_day=day)
        c.slot_cache.clear()
        return f"{why} {offer_day(c, day, st.service)}"
    if err in CONFIRM_ERRORS:
        # Not the caller's mistake: nothing to ask again. Say so plainly; the summary
        # tells the business to call back (tools.confirm_holds records the failure).
        st.reset_booking()
        st.pending = Waiting.ANYTHING_ELSE
        return P.NOT_SAVED
    if err == "beyond_window":
        st.time = None
        st.ask_day()
        st.options = []
        return P.beyond_window(c.policy.booking_window_days)
    return validation(c, res)


def validation(c: Turn, res: ToolResult) -> str:
    """One short clarification after a validation_error; the next turn retries."""
    st = c.st
    st.validation += 1
    msg = str(res.get("message") or "").lower()
    if st.validation > MAX_VALIDATION_RETRIES:
        st.reset_booking()
        st.pending = Waiting.ANYTHING_ELSE
        return "סליחה, לא הצלחתי לקבוע כרגע. אפשר לנסות שוב מאוחר יותר."
    if "service" in msg:
        st.service = None
        st.pending = Waiting.SERVICE
        return f"{P.VALIDATION_RETRY} {P.ask_service(c.services)}"
    if "phone" in msg:
        st.phone = None
        st.pending = Waiting.NEED_PHONE
        c.wants_dtmf = True
        return P.INVALID_PHONE
    if "start" in msg or "time" in msg or "date" in msg:
        st.time = None
        st.inferred = False
        st.pending = Waiting.TIME
        return f"{P.VALIDATION_RETRY} {P.WHICH_TIME}"
    st.name = None
    st.pending = Waiting.NAME
    return P.ASK_NAME_AGAIN


def booked(c: Turn, start: datetime, res: ToolResult) -> str:
    st = c.st
    started = parse_iso(res.get("start_iso"), c.tz) or start
    svc = c.service_obj(st.service)
    phone = res.get("customer_phone")
    appointment_id = res.get("appointment_id")
    st.booked = Booked(
        id=appointment_id if isinstance(appointment_id, int) else None,
        start_iso=started.isoformat(),
        service=st.service,
        name=st.name,
        phone=phone,
    )
    text = P.booked(svc, P.day_label(started.date(), c.today), started, st.name or "")
    st.reset_booking()
    if res.get("confirmation", "whatsapp") is None:  # flows off: promise nothing
        st.pending = Waiting.ANYTHING_ELSE
        return f"{text} {P.ANYTHING_ELSE}"
    if phone:
        st.pending = Waiting.ANYTHING_ELSE
        full = f"{text} {P.WHATSAPP_WILL_SEND} {P.ANYTHING_ELSE}"
        return full if len(full.split()) <= 24 else f"{text} {P.WHATSAPP_WILL_SEND}"
    st.pending = Waiting.WHATSAPP
    c.wants_dtmf = True
    return f"{text} {P.WHATSAPP_OFFER}"


def tool_trouble(c: Turn, res: ToolResult) -> str:
    err = res.get("error")
    if err == "validation_error":
        return validation(c, res)
    c.st.pending = Waiting.DATE
    return f"{P.UNCLEAR} {P.ASK_DAY}"


def _grid_sentence(slot_min: int) -> str:
    if slot_min == 30:
        return P.TIME_OFF_GRID
    if slot_min == 60:
        return "התורים הם רק בשעות עגולות."
    if slot_min == 15:
        return "התורים הם רק ברבעי שעה."
    return f"התורים הם רק כל {slot_min} דקות."


def _hours(s: datetime) -> float:
    return s.hour + s.minute / 60


def _nearest_to_window(starts: list[datetime], lo: float, hi: float, n: int) -> list[datetime]:
    """The `n` starts nearest to the hours [lo, hi) (those inside first), in time order."""

    def gap(s: datetime) -> float:
        h = _hours(s)
        return lo - h if h < lo else max(0.0, h - hi + 1 / 60)

    return sorted(sorted(starts, key=lambda s: (gap(s), s))[:n])


def _part_window(part: str) -> tuple[float, float]:
    """Hours [lo, hi) of a part of day, or of a "HH:MM-HH:MM" range the caller said."""
    if part in PART_WINDOWS:
        lo, hi = PART_WINDOWS[part]
        return float(lo), float(hi)
    try:
        a, b = part.split("-")
        ta, tb = time.fromisoformat(a), time.fromisoformat(b)
        return ta.hour + ta.minute / 60, tb.hour + tb.minute / 60 + 1e-6
    except ValueError:
        return 0.0, 24.0
