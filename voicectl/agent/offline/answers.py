"""Answers to questions (hours, services, durations, ...), closing, and re-asking."""

from __future__ import annotations

from datetime import date, time, timedelta

from voicectl.agent import nlu
from voicectl.agent import phrases as P
from voicectl.agent.offline.state import Waiting
from voicectl.agent.offline.turn import Turn, When, parse_iso
from voicectl.booking.policy import Service


def answer(c: Turn, q: str, when: When, u_service: Service | None = None) -> str:
    policy = c.policy
    services = c.services
    business = policy.name or c.conv.business_id
    if q == "hours":
        if when.date is not None:
            label = P.weekday_label(when.date, c.today)
            ranges = list(policy.hours_on(when.date))
            if policy.allow_24_7:
                return f"{label} אנחנו פתוחים כל היום."
            return P.outside_hours(label, ranges)
        return hours_summary(c)
    if q == "services":
        return P.services_answer(services)
    if q == "price":
        return P.PRICES_UNKNOWN
    if q == "address":
        return P.ADDRESS_UNKNOWN
    if q == "duration_q":
        sid = c.st.service
        if u_service is not None:
            sid = u_service.id
        named = [s for s in services if s.id == sid]
        return P.durations_answer(named or services)
    if q == "notice_q":
        notice = policy.min_notice_min
        window = policy.booking_window_days
        return f"אפשר לקבוע עד {window} ימים מראש. {P.too_soon(notice)}"
    if q == "who":
        return P.who_am_i(business)
    if q == "human":
        return P.HUMAN
    return ""


def hours_summary(c: Turn) -> str:
    policy = c.policy
    if policy.allow_24_7:
        return P.hours_summary([], True)
    start = c.today
    # Sunday .. Saturday of the coming week.
    sunday = start + timedelta(days=(6 - start.weekday()) % 7)
    week = []
    for i in range(7):
        d = sunday + timedelta(days=i)
        week.append((d.weekday(), list(policy.hours_on(d))))
    return P.hours_summary(week, False)


def cancel(c: Turn, u: nlu.Understanding) -> str:
    st = c.st
    st.pending = Waiting.ANYTHING_ELSE
    if st.active and not st.booked:
        st.reset_booking()
        return f"{P.CANCELLED_IN_PROGRESS} {P.ANYTHING_ELSE}"
    return f"{P.CANNOT_CHANGE_EXISTING} {P.ANYTHING_ELSE}"


def close(c: Turn) -> str:
    c.end_call = True
    st = c.st
    booked = bool(st.booked)
    st.pending = None
    if booked:
        return P.GOODBYE_BOOKED
    return P.GOODBYE


def unclear(c: Turn) -> str:
    st = c.st
    st.unclear += 1
    again = repeat_question(c)
    if again:
        return f"{P.UNCLEAR} {again}"
    if st.booked:
        st.pending = Waiting.ANYTHING_ELSE
        return f"{P.UNCLEAR} {P.ANYTHING_ELSE}"
    st.pending = Waiting.OFFER_BOOKING
    return P.UNCLEAR_OFFER


def repeat_question(c: Turn) -> str | None:
    """The question for the current pending slot, without calling tools."""
    st = c.st
    pending = st.pending
    if pending is Waiting.SERVICE:
        return P.ask_service(c.services)
    if pending is Waiting.DATE:
        return P.ASK_DAY if st.time else P.ASK_DAY_AND_TIME
    if pending is Waiting.TIME:
        return P.WHICH_TIME
    if pending is Waiting.NAME:
        return P.ASK_NAME
    if pending is Waiting.CHOOSE and st.options:
        times = [d for d in (parse_iso(o, c.tz) for o in st.options) if d]
        if len(times) == 1:
            return f"{P.offer_alternative(P.day_label(times[0].date(), c.today), times[0])}"
        return P.which_of(times)
    if pending is Waiting.CONFIRM and st.time and st.date:
        day = date.fromisoformat(st.date)
        t = time.fromisoformat(st.time)
        if not st.name:
            return f"{P.free_at(P.day_label(day, c.today), t, spoken=True)} {P.ASK_NAME}"
        return P.confirm_time(P.day_label(day, c.today), t)
    if pending is Waiting.NEED_PHONE:
        c.wants_dtmf = True
        return P.TYPE_PHONE
    if pending is Waiting.WHATSAPP:
        c.wants_dtmf = True
        return P.WHATSAPP_OFFER
    if pending is Waiting.ANYTHING_ELSE:
        return P.ANYTHING_ELSE
    if pending is Waiting.OFFER_BOOKING:
        return P.OFFER_BOOKING
    return None


def last_assistant(c: Turn) -> str | None:
    for m in reversed(c.conv.history):
        if m.role == "assistant" and m.content:
            if c.st.pending in (Waiting.NEED_PHONE, Waiting.WHATSAPP):
                c.wants_dtmf = True
            return m.content
    return None
