"""The dialogue policy: read an utterance, merge it into the slots, choose the next step."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from voicectl.agent import nlu
from voicectl.agent import phrases as P
from voicectl.agent.offline import answers, offers
from voicectl.agent.offline.state import Waiting
from voicectl.agent.offline.turn import Turn, When, hhmm, parse_iso, resolve, slot_starts
from voicectl.hebrew.calendar import WEEKDAYS
from voicectl.hebrew.names import without_name
from voicectl.hebrew.vocab import has_phrase


def other_weekday(c: Turn, u: nlu.Understanding) -> bool:
    """ "ומה עם יום ראשון?" said on a Sunday: the resolver reads today (documented rule);
    it means next week's when a later date was under discussion or today has no free
    slot left."""
    if not has_phrase(u.norm, WEEKDAYS[c.today.weekday()]) or has_phrase(
        u.norm, "היום", "עכשיו", "הבוקר", "הערב", "הלילה", "השבוע", "הזה", "הזאת"
    ):
        return False
    if c.st.date and c.st.date > c.today.isoformat():
        return True
    res = c.find_slots(c.today, c.st.service)
    return bool(res.get("ok")) and not slot_starts(res, c.tz)


def speech(c: Turn) -> str:
    st = c.st
    text = c.turn.text or ""
    services = c.services
    pending = st.pending
    expecting_name = pending is Waiting.NAME or (pending is Waiting.CONFIRM and not st.name)
    u = nlu.analyze(text, services, expecting_name=expecting_name)
    time_text = without_name(text, u.name) if u.name else text
    hours_on = c.policy.hours_on
    when = resolve(time_text, c.now, hours_on) if u.norm else When()
    if when.date is None and when.time is not None and has_phrase(u.norm, "עכשיו"):
        when.date = c.today  # "יש משהו עכשיו בעשר וחצי?" is today
    if (
        u.duration_min is not None
        and when.time is not None
        and (resolve(u.time_text, c.now, hours_on).time is None)
    ):
        # "לשעה אחת" read as a clock time by the resolver: it was a duration.
        when.time, when.inferred = None, False
    if when.date == c.today and when.time is None and other_weekday(c, u):
        when.date = c.today + timedelta(days=7)

    if not u.norm:
        return answers.unclear(c)

    intents = u.intents
    questions = u.questions
    if "human" in intents:
        questions = [*questions, "human"]
    booking_words = bool(
        {"book", "availability", "earliest", "any_time", "latest", "another"} & intents
    )
    content = bool(u.service or when.found or u.name or booking_words or u.generic_service)

    # Repeat the last question ("מה?", "לא שמעתי").
    repeat = "repeat" in intents or u.norm in ("מה", "סליחה", "סליחה מה", "מה אמרת")
    if repeat and not content and not questions:
        return answers.last_assistant(c) or P.HOW_CAN_I_HELP

    # Goodbyes and polite endings.
    if u.goodbye and not (u.service or when.found or booking_words or questions):
        return answers.close(c)
    if u.thanks_only and (st.booked or pending in (Waiting.ANYTHING_ELSE, Waiting.WHATSAPP)):
        return answers.close(c)
    if (
        pending in (Waiting.ANYTHING_ELSE, Waiting.WHATSAPP, Waiting.OFFER_BOOKING)
        and u.no
        and not content
        and not questions
    ):
        return answers.close(c)

    # Waiting for a typed phone number.
    if pending is Waiting.WHATSAPP and not content and not questions:
        c.wants_dtmf = True
        if u.yes or nlu.looks_like_phone(text):
            return P.TYPE_PHONE if u.yes else P.PHONE_BY_KEYPAD
        c.wants_dtmf = False
        st.pending = None
        return answers.unclear(c)
    if pending is Waiting.NEED_PHONE and not (u.service or when.found or questions):
        c.wants_dtmf = True
        if u.no:
            return P.NO_PHONE_NO_BOOKING
        if nlu.looks_like_phone(text):
            return P.PHONE_BY_KEYPAD
        return P.NEED_PHONE

    # A bare greeting ("שלום") - never greet back again.
    if u.greeting_only and not content and not questions:
        if pending and pending not in (Waiting.ANYTHING_ELSE, Waiting.OFFER_BOOKING):
            again = answers.repeat_question(c)
            if again:
                return again
        return P.YES_HOW_CAN_I_HELP

    # Cancel / change requests.
    if {"cancel", "reschedule"} & intents:
        return answers.cancel(c, u)

    # "רציתי לברר משהו" without saying what: ask what, keep the current question.
    if (
        "inquire" in intents
        and not content
        and not questions
        and not u.no
        and (not u.yes or pending in (None, Waiting.ANYTHING_ELSE))
    ):
        st.unclear = 0
        return P.WHAT_TO_ASK

    replies = [answers.answer(c, q, when, u.service) for q in questions]
    replies = [a for a in replies if a]

    # After a booking, new booking details start a new booking only when asked for.
    if st.booked and (u.service or when.found or booking_words):
        if "another" in intents or "book" in intents:
            st.reset_booking(keep_name=False)
            st.booked = None
        elif not questions:
            b = st.booked
            start = parse_iso(b.start_iso, c.tz)
            day = P.day_label(start.date(), c.today) if start else ""
            st.pending = Waiting.ANYTHING_ELSE
            return (
                f"התור כבר נקבע {day} {P.at(start) if start else ''}. {P.CANNOT_CHANGE_EXISTING}"
            ).replace("  ", " ")

    picked = apply(c, u, when)
    if isinstance(picked, str):  # a follow-up question was needed
        return " ".join([*replies, picked])

    soft_book = booking_words and intents & {
        "book",
        "availability",
        "earliest",
        "any_time",
        "latest",
        "another",
    } == {"book"}
    question_only = bool(questions) and not (
        u.name
        or picked
        or when.time is not None
        or (booking_words and not ("notice_q" in questions and soft_book and not u.service))
    )
    if not st.active and (content or picked) and not question_only:
        st.active = True
    if pending is Waiting.OFFER_BOOKING and u.yes:
        st.active = True

    understood = content or picked or questions or u.yes or u.no or u.thanks_only
    if st.active and not understood and st.pending not in (None, Waiting.ANYTHING_ELSE):
        return answers.unclear(c)
    if st.active:
        st.unclear = 0
        step = offers.advance(c, availability="availability" in intents)
        if "services" in questions and step == P.ask_service(c.services):
            step = P.WHICH_SERVICE  # the list was just said
        return " ".join([*replies, step])
    if replies:
        st.unclear = 0
        st.pending = Waiting.OFFER_BOOKING if not st.booked else Waiting.ANYTHING_ELSE
        tail = P.OFFER_BOOKING if not st.booked else P.ANYTHING_ELSE
        return " ".join([*replies, tail])
    if u.thanks_only:
        return f"בשמחה. {answers.repeat_question(c) or P.HOW_CAN_I_HELP}"
    if u.yes and pending in (None, Waiting.ANYTHING_ELSE):
        st.active = True
        return offers.advance(c)
    if u.no:
        st.pending = Waiting.ANYTHING_ELSE
        return f"{P.OK} {P.ANYTHING_ELSE}"
    return answers.unclear(c)


def apply(c: Turn, u: nlu.Understanding, when: When) -> bool | str:
    """Merge the utterance into the slots. Returns True when an offered option was
    picked, or a question (str) to ask right away."""
    st = c.st
    pending = st.pending
    picked = False
    new_time = when.time is not None or bool(when.said)
    _same_weekday_as_discussed(c, u, when)

    if st.options and pending is Waiting.CHOOSE:
        opt = pick_option(c, u, when)
        if (
            opt is None
            and not new_time
            and not when.date
            and ((u.yes and len(st.options) == 1) or "any_time" in u.intents)
        ):
            opt = parse_iso(st.options[0], c.tz)
        if opt is not None:
            st.date = opt.date().isoformat()
            st.time = hhmm(opt.time())
            st.inferred = False
            st.part = None
            st.earliest = False
            st.latest = False
            st.options = []
            picked = True
        elif pending is Waiting.CHOOSE and u.yes and not new_time and not when.date:
            times = [d for d in (parse_iso(o, c.tz) for o in st.options) if d]
            return P.which_of(times)
        elif (
            pending is Waiting.CHOOSE and u.no and not new_time and not when.found and not u.service
        ):
            offered_days = {o[:10] for o in st.options}
            st.options = []
            st.time = None
            st.inferred = False
            st.pending = Waiting.TIME
            if st.date and st.date in offered_days:
                return P.WHICH_TIME
            st.ask_day()
            return P.ASK_DAY_AND_TIME

    if pending is Waiting.CHOOSE and st.options and not picked and new_time and when.date is None:
        # "כן, בעשר זה טוב" after "סגורים בשבת, אפשר ביום ראשון ב-9:00?": another time
        # on the day that was offered, not on the day first asked for.
        days = {o[:10] for o in st.options}
        if len(days) == 1 and st.date not in days:
            when.date = date.fromisoformat(days.pop())

    if pending is Waiting.AMPM and st.ampm and not new_time and not picked:
        chosen = _pick_ampm(st.ampm, when.part, u)
        if chosen is not None:
            st.time = chosen
            st.inferred = False
            st.ampm = []
            st.part = None
            new_time = True
    if pending is Waiting.WHICH_WEEK and st.day_options and when.date is None:
        d = _pick_week(st.day_options, u)
        if d is not None:
            when.date = d
            st.day_options = []

    if pending is Waiting.CONFIRM and not picked and not new_time:
        if u.no and not when.date:
            st.time = None
            st.inferred = False
            if when.part is None:  # "לא, בבוקר" falls through: offer the morning
                st.pending = Waiting.TIME
                return P.WHICH_TIME
        if u.yes or (not u.no and (u.name or u.service)):
            # "כן", or an answer that moves on ("דני כהן") accepts the time.
            st.inferred = False

    before = (st.service, st.date, st.time)
    try:
        return apply_slots(c, u, when, picked)
    finally:
        c.slot_changed = before != (st.service, st.date, st.time)


def apply_slots(c: Turn, u: nlu.Understanding, when: When, picked: bool) -> bool | str:
    st = c.st
    pending = st.pending
    if u.service is not None:
        st.service = u.service.id
    if when.date is not None:
        if when.date.isoformat() != st.date:
            st.options = []
        st.date = when.date.isoformat()
    if when.time is not None and not picked:
        st.time = hhmm(when.time)
        st.inferred = _needs_confirmation(u, when)
        st.part = None
        st.earliest = False
        st.latest = False
        st.options = []
        st.time_alts = []
    elif when.part is not None and not picked and pending is not Waiting.AMPM:
        st.part = when.part
        st.time = None
        st.inferred = False
        st.earliest = False
        st.options = []
        st.time_alts = []
    elif when.ambiguous and not picked:
        asked = ambiguous(c, when)
        if asked:
            return asked
    if ({"earliest", "any_time"} & u.intents) and when.time is None and not picked:
        st.earliest = True
        st.latest = False
        st.time = None
        st.inferred = False
        st.part = None
    if "latest" in u.intents and when.time is None and not picked:
        st.latest = True
        st.earliest = False
        st.time = None
        st.inferred = False
    if u.name:
        st.name = u.name
        st.name_tries = 0
    return picked


def ambiguous(c: Turn, when: When) -> str | None:
    """Handle what the resolver could not decide; returns a question or None."""
    st = c.st
    amb = set(when.ambiguous)
    cands = list(when.candidates)
    cand_dates = [x.date() for x in cands if isinstance(x, datetime)]
    cand_times = [x for x in cands if isinstance(x, time)] + [
        x.time() for x in cands if isinstance(x, datetime) and x.time() != time(0, 0)
    ]
    if "past_date" in amb:
        st.ask_day()
        return f"{P.PAST_DATE} {P.ASK_DAY}"
    if "date_conflict" in amb:
        st.ask_day()
        return "לאיזה תאריך בדיוק?"
    if "am_pm" in amb and cand_times:
        if cand_dates and len(set(cand_dates)) == 1:
            st.date = cand_dates[0].isoformat()
        st.ampm = sorted({hhmm(t) for t in cand_times})
        st.pending = Waiting.AMPM
        st.time = None
        return P.am_or_pm(cand_times[0].hour)
    if "which_week" in amb and len(set(cand_dates)) >= 2:
        days = sorted(set(cand_dates))[:2]
        st.day_options = [d.isoformat() for d in days]
        st.pending = Waiting.WHICH_WEEK
        return f"הכוונה ל{P.day_label(days[0], c.today).removeprefix('ב')} או לשבוע שאחריו?"
    if "time_range" in amb and len(cand_times) >= 2:
        a, b = cand_times[0], cand_times[-1]
        st.part = f"{hhmm(a)}-{hhmm(b)}"
        st.time = None
        st.inferred = False
        st.options = []
        return None
    if "alternatives" in amb:
        if cand_times:
            st.time_alts = [hhmm(t) for t in cand_times]
            st.time = None
            st.inferred = False
            st.options = []
        days = [d for d in cand_dates if d >= c.today]
        if days:
            st.date = days[0].isoformat()
        return None
    if "which_day" in amb and cand_dates:
        days = [d for d in cand_dates if d >= c.today]
        if days:
            st.date = days[0].isoformat()
            st.range_days = [d.isoformat() for d in days]
        return None
    return None


def pick_option(c: Turn, u: nlu.Understanding, when: When) -> datetime | None:
    opts = [d for d in (parse_iso(o, c.tz) for o in c.st.options) if d]
    if not opts:
        return None
    if u.ordinal is not None and -len(opts) <= u.ordinal < len(opts):
        return opts[u.ordinal]
    if when.date is not None:
        same_day = [d for d in opts if d.date() == when.date]
        if same_day:
            opts_day = same_day
        else:
            return None
    else:
        opts_day = opts
    wanted: list[tuple[int, int]] = []
    if when.time is not None:
        wanted.append((when.time.hour, when.time.minute))
    wanted.extend(when.said)
    for h, m in wanted:
        exact = [d for d in opts_day if d.hour == h and d.minute == m]
        if exact:
            return exact[0]
        loose = [d for d in opts_day if d.hour % 12 == h % 12 and d.minute == m]
        if loose:
            return loose[0]
    if not wanted and when.date is not None and when.part is None and len(opts_day) == 1:
        return opts_day[0]
    return None


_WEEK_WORDS = ("הבא", "הבאה", "הקרוב", "הקרובה", "הזה", "הזאת", "השבוע", "שאחריו", "אחריו")


def _same_weekday_as_discussed(c: Turn, u: nlu.Understanding, when: When) -> None:
    """ "אז ביום שני בעשר" right after the agent offered "ביום שני, 30 בנובמבר ...": the
    weekday is the date under discussion, not the coming Monday. Only a bare weekday is
    moved ("ביום שני הבא", "ביום שני ה-23" are taken as said)."""
    st = c.st
    if when.date is None:
        return
    discussed = {o[:10] for o in st.options} | ({st.date} if st.date else set())
    if when.date.isoformat() in discussed:
        return
    same = sorted(d for d in discussed if date.fromisoformat(d).weekday() == when.date.weekday())
    name = WEEKDAYS[when.date.weekday()]
    if len(same) != 1 or not has_phrase(u.norm, name) or has_phrase(u.norm, *_WEEK_WORDS):
        return
    rest = re.sub(rf"(?<![\w]){re.escape(name)}(?![\w])", " ", u.text)
    if resolve(rest, c.now, c.policy.hours_on).date is None:
        when.date = date.fromisoformat(same[0])


def _needs_confirmation(u: nlu.Understanding, when: When) -> bool:
    """True when the resolver chose a time the caller did not say as such.

    "בשלוש" -> 15:00 needs a confirmation; "ב-11" -> 11:00, "ב-12", "13:30" do not (the
    hour booked is the hour said), even though the resolver marks any 1-11 as inferred.
    """
    if when.time is None or not when.inferred:
        return False
    return not any(h == when.time.hour and m == when.time.minute for h, m in when.said)


def _pick_ampm(readings: list[str], part: str | None, u: nlu.Understanding) -> str | None:
    """Choose between "08:00"/"20:00" from the caller's answer ("בערב", "בבוקר")."""
    times = sorted(readings)
    if not times:
        return None
    if part in ("morning",):
        return times[0]
    if part in ("noon", "afternoon", "evening", "night"):
        return times[-1]
    if u.ordinal is not None and -len(times) <= u.ordinal < len(times):
        return times[u.ordinal]
    return None


def _pick_week(days: list[str], u: nlu.Understanding) -> date | None:
    """Choose between this week's and next week's day ("הקרוב" / "הבא" / "השני")."""
    if has_phrase(u.norm, "שבוע הבא", "בשבוע הבא", "שאחריו", "אחריו", "הבא", "השני", "המאוחר"):
        return date.fromisoformat(days[-1])
    if has_phrase(u.norm, "הקרוב", "הזה", "השבוע", "הראשון", "הקרובה", "הזאת") or u.yes:
        return date.fromisoformat(days[0])
    return None
