"""The offline agent's Hebrew sentences, and how it says dates, times and lists.

Rules (SEEDS.md seed 001 item 3, seed 002 D.4): every answer is one or two short sentences,
the first answer of a call at most 24 words; the caller is addressed in the plural/neutral
form (הקלידו, תרצו); the bot speaks in the feminine first person (אני צריכה). Times are
written as digits ("ב-12:30") - the TTS normaliser reads them; a time the agent inferred is
said in words with the part of the day ("בשלוש אחר הצהריים") so the caller can catch it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from voicectl.hebrew.calendar import MONTHS, WEEKDAYS, day_period, time_to_words

_GENERIC_PREFIXES = ("עיסוי", "טיפול")

# --- fixed sentences ------------------------------------------------------------------
HOW_CAN_I_HELP = "איך אפשר לעזור?"
YES_HOW_CAN_I_HELP = "כן, איך אפשר לעזור?"
ASK_DAY_AND_TIME = "לאיזה יום ובאיזו שעה?"
ASK_DAY = "לאיזה יום?"
ASK_TIME = "באיזו שעה?"
ASK_NAME = "על איזה שם לרשום?"
WHICH_SERVICE = "איזה טיפול תרצו?"
ASK_NAME_AGAIN = "סליחה, לא קלטתי את השם. על איזה שם לרשום?"
NEED_PHONE = "כדי לקבוע אני צריכה מספר טלפון. הקלידו את המספר וסיימו בסולמית."
TYPE_PHONE = "הקלידו את המספר וסיימו בסולמית."
INVALID_PHONE = "המספר לא תקין. הקלידו שוב וסיימו בסולמית."
PHONE_BY_KEYPAD = "את המספר צריך להקליד. הקלידו אותו וסיימו בסולמית."
NO_PHONE_NO_BOOKING = "בלי מספר טלפון לא אוכל לקבוע. אם תרצו, הקלידו אותו וסיימו בסולמית."
DTMF_RETRY = "לא קלטתי את כל הספרות. הקלידו שוב וסיימו בסולמית."
PHONE_LATER = "נמשיך בלי מספר, אפשר להקליד אותו גם בהמשך."
PHONE_GAVE_UP = "לא הצלחתי לקלוט את המספר. אפשר להתקשר שוב מאוחר יותר. להתראות."
WHATSAPP_OFFER = "אם תרצו אישור בוואטסאפ, הקלידו את המספר וסיימו בסולמית."
WHATSAPP_WILL_SEND = "אישור יישלח בוואטסאפ."
PHONE_SAVED = "תודה, המספר נשמר והאישור יישלח בוואטסאפ."
PHONE_NOTED = "תודה, המספר נשמר."
ANYTHING_ELSE = "אפשר לעזור במשהו נוסף?"
OFFER_BOOKING = "תרצו לקבוע תור?"
GOODBYE = "תודה שהתקשרתם, יום טוב!"
GOODBYE_BOOKED = "תודה, נתראה! יום טוב."
GOODBYE_NO_WHATSAPP = "בסדר, התור נקבע. תודה ויום טוב!"
NUDGE = "אתם עדיין שם?"
SILENCE_BYE = "לא שומעת אתכם. תודה שהתקשרתם, להתראות."
APOLOGY = "סליחה, הייתה תקלה קטנה. אפשר לחזור על זה?"
#: The booking was held but its confirmation failed (`hold_lost` / `confirm_failed`): the
#: call's summary asks the business to call the customer back.
NOT_SAVED = "סליחה, בגלל תקלה התור לא נשמר. נחזור אליכם כדי לקבוע אותו."
UNCLEAR = "סליחה, לא הבנתי."
WHAT_TO_ASK = "בשמחה, מה תרצו לברר?"
UNCLEAR_OFFER = "סליחה, לא הבנתי. אפשר לקבוע תור או לשאול על שעות הפתיחה."
PRICES_UNKNOWN = "אין לי מידע על מחירים, אפשר לברר במקום."
ADDRESS_UNKNOWN = "אין לי כאן את פרטי הכתובת, סליחה."
HUMAN = "כרגע אין נציג זמין, אבל אני יכולה לקבוע לכם תור."
CANCELLED_IN_PROGRESS = "בסדר, לא קבעתי כלום."
CANNOT_CHANGE_EXISTING = "ביטול או שינוי של תור קיים אי אפשר לעשות בשיחה הזאת, סליחה."
OK = "בסדר."
WHICH_TIME = "איזו שעה מתאימה לכם?"
WHICH_DAY_INSTEAD = "לאיזה יום במקום?"
PAST_DATE = "התאריך הזה כבר עבר."
TIME_TAKEN = "השעה הזאת לא פנויה."
TIME_OFF_GRID = "התורים הם רק בשעות עגולות או בחצאי שעות."
TIME_TOO_SOON = "זה קרוב מדי לקבוע."
TIME_PASSED = "השעה הזאת כבר עברה."
NO_SLOTS_NEAR = "אין תורים פנויים בזמן הזה."
VALIDATION_RETRY = "סליחה, משהו לא הסתדר ברישום."
NEW_BOOKING = "בשמחה."


# --- formatting -----------------------------------------------------------------------


def clock(t: time | datetime) -> str:
    """A clock time as digits without a leading zero: 9:00, 12:30 ("24:00" for time.max)."""
    if isinstance(t, time) and t == time.max:
        return "24:00"
    return f"{t.hour}:{t.minute:02d}"


def at(t: time | datetime) -> str:
    """ "ב-12:30"."""
    return f"ב-{clock(t)}"


def part_of_day(hour: int) -> str:
    """The part of the day for an hour: בבוקר, בצהריים, אחר הצהריים, בערב, בלילה
    (`voicectl.hebrew.calendar.day_period`: one definition for the agent and TTS)."""
    return day_period(hour)


def spoken_time(t: time | datetime) -> str:
    """A time in words with the part of day: "בשלוש אחר הצהריים", "בתשע וחצי בבוקר"."""
    if t.minute not in (0, 15, 30):
        return f"{at(t)} {part_of_day(t.hour)}"
    return f"ב{time_to_words(t.hour, t.minute)} {part_of_day(t.hour)}"


def day_label(day: date, today: date) -> str:
    """How to say a date relative to today, usable as an adverb before "ב-12:00".

    "היום", "מחר", within a week "ביום ראשון", later "ביום ראשון, 29 בנובמבר" (a weekday
    is clearer on the phone than "מחרתיים").
    """
    if (day - today).days == 1:
        return "מחר"
    return weekday_label(day, today)


def weekday_label(day: date, today: date) -> str:
    """Like `day_label` but names the weekday from tomorrow on: "ביום שישי", "היום"."""
    delta = (day - today).days
    if delta == 0:
        return "היום"
    if 0 < delta < 7:
        return f"ביום {WEEKDAYS[day.weekday()]}"
    return f"ב{date_words(day)}"


def date_words(day: date) -> str:
    """A date in words, not relative to today: "יום שבת, 21 בנובמבר" (for messages read
    later, e.g. a WhatsApp confirmation)."""
    return f"יום {WEEKDAYS[day.weekday()]}, {day.day} ב{MONTHS[day.month]}"


def join_or(items: Sequence[str]) -> str:
    """ "א", "א או ב", "א, ב או ג"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " או " + items[-1]


def join_and(items: Sequence[str]) -> str:
    """ "א", "א וב", "א, ב וג" (Hebrew "ו" attaches to the last item)."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " ו" + items[-1]


def service_phrase(service: Any) -> str:
    """How to name a service in a sentence: "עיסוי שוודי", "טיפול רפלקסולוגיה".

    Uses the alias "עיסוי X"/"טיפול X" of the service's name when the policy has one.
    """
    name = str(getattr(service, "name", None) or getattr(service, "name_he", "") or "")
    if name.startswith(_GENERIC_PREFIXES):
        return name
    for alias in getattr(service, "aliases", ()) or ():
        for g in _GENERIC_PREFIXES:
            if alias == f"{g} {name}":
                return alias
    return name


def service_names(services: Sequence[Any]) -> str:
    """ "שוודי, רקמות עמוק, ספורט ורפלקסולוגיה"."""
    return join_and([str(getattr(s, "name", None) or getattr(s, "name_he", "")) for s in services])


# --- sentences with slots -------------------------------------------------------------


def greeting(business: str) -> str:
    """The one greeting of a call (<= 24 words)."""
    return f"שלום, הגעתם ל{business}. איך אפשר לעזור?"


def ask_service(services: Sequence[Any]) -> str:
    """ "איזה טיפול תרצו? יש שוודי, רקמות עמוק, ספורט ורפלקסולוגיה."."""
    return f"{WHICH_SERVICE} יש {service_names(services)}."


def services_answer(services: Sequence[Any]) -> str:
    """ "יש לנו עיסוי שוודי, רקמות עמוק, ספורט ורפלקסולוגיה."."""
    if not services:
        return "אין לי כרגע רשימת טיפולים."
    return f"יש לנו {service_names(services)}."


def durations_answer(services: Sequence[Any]) -> str:
    """ "שוודי 60 דקות, ספורט 45 דקות ...". One service -> just its length."""
    parts = [
        f"{getattr(s, 'name', None) or getattr(s, 'name_he', '')} {s.duration_min} דקות"
        for s in services
    ]
    return join_and(parts) + "."


def ask_time(day: str) -> str:
    """ "באיזו שעה מחר?"."""
    return f"באיזו שעה {day}?"


def offer_times(day: str, times: Sequence[time | datetime]) -> str:
    """ "מחר יש ב-9:00, 9:30 או 10:00. מה מתאים?" / one time: "... אפשר ב-9:00. מתאים?"."""
    if len(times) == 1:
        return f"{day} אפשר {at(times[0])}. מתאים?"
    return f"{day} יש ב-{join_or([clock(t) for t in times])}. מה מתאים?"


def suggest_times(
    reason: str,
    times: Sequence[time | datetime],
    day: str = "",
    today: date | None = None,
    asked_day: date | None = None,
) -> str:
    """ "השעה הזאת לא פנויה. אפשר ב-12:30 או ב-13:00?" in one sentence.

    Args:
        reason: the short reason said first ("" for none).
        times: the offered starts, in order.
        day: a day label said before all the times ("מחר").
        today / asked_day: with datetimes not all on `asked_day`, every time gets its own
            day label: "אפשר היום ב-19:00 או מחר ב-13:00?".
    """
    dated = [t for t in times if isinstance(t, datetime)]
    if (
        today is not None
        and asked_day is not None
        and not day
        and dated
        and any(t.date() != asked_day for t in dated)
    ):
        labels = [
            f"{day_label(t.date(), today)} {at(t)}" if isinstance(t, datetime) else at(t)
            for t in times
        ]
        when = join_or(labels)
    else:
        when = join_or([at(t) for t in times])
    prefix = f"{reason} " if reason else ""
    day_part = f"{day} " if day else ""
    return f"{prefix}אפשר {day_part}{when}?"


def free_at(day: str, t: time | datetime, spoken: bool = False) -> str:
    """ "מחר ב-12:00 פנוי." / spoken (an inferred time): "מחר בשתיים אחר הצהריים פנוי."."""
    return f"{day} {spoken_time(t) if spoken else at(t)} פנוי.".strip()


def closed_on(day: str) -> str:
    """ "ביום שבת אנחנו סגורים."."""
    return f"{day} אנחנו סגורים."


def no_slots_on(day: str) -> str:
    """ "מחר אין תורים פנויים."."""
    return f"{day} אין תורים פנויים."


def offer_alternative(day: str, t: time | datetime) -> str:
    """ "אפשר ביום ראשון ב-9:00?"."""
    return f"אפשר {day} {at(t)}?"


def open_until(day: str, ranges: Sequence[tuple[time, time]]) -> str:
    """ "ביום שישי אנחנו פתוחים מ-9:00 עד 14:00."."""
    return f"{day} אנחנו פתוחים {ranges_text(ranges)}."


def ranges_text(ranges: Sequence[tuple[time, time]]) -> str:
    """ "מ-9:00 עד 13:00 ומ-14:00 עד 19:00"."""
    parts = [f"מ-{clock(a)} עד {clock(b)}" for a, b in ranges]
    return " ו".join(parts)


def confirm_time(day: str, t: time | datetime) -> str:
    """Confirm an inferred time: "מחר בשלוש אחר הצהריים, כן?"."""
    return f"{day} {spoken_time(t)}, כן?".strip()


def which_of(times: Sequence[time | datetime]) -> str:
    """ "איזו מהשעות, 12:30 או 13:00?"."""
    return f"איזו מהשעות, {join_or([clock(t) for t in times])}?"


def am_or_pm(hour: int) -> str:
    """Ask about an ambiguous hour: "בשמונה בבוקר או בערב?"."""
    return f"ב{time_to_words(hour % 24, 0)} בבוקר או בערב?"


def booked(service: Any, day: str, t: time | datetime, name: str) -> str:
    """ "קבעתי לכם עיסוי שוודי מחר ב-12:00, על שם דני."."""
    svc = service_phrase(service) if service is not None else "תור"
    return f"קבעתי לכם {svc} {day} {at(t)}, על שם {name}."


def beyond_window(days: int) -> str:
    """ "אפשר לקבוע עד 30 ימים מראש. לאיזה יום?"."""
    return f"אפשר לקבוע עד {days} ימים מראש. לאיזה יום?"


def too_soon(notice_min: int) -> str:
    """ "צריך לקבוע לפחות שעה מראש."."""
    if notice_min % 60 == 0 and notice_min >= 60:
        hours = notice_min // 60
        span = "שעה" if hours == 1 else ("שעתיים" if hours == 2 else f"{hours} שעות")
    else:
        span = f"{notice_min} דקות"
    return f"צריך לקבוע לפחות {span} מראש."


def outside_hours(day: str, ranges: Sequence[tuple[time, time]]) -> str:
    """ "מחר אנחנו פתוחים מ-9:00 עד 14:00." (closed day -> "... סגורים")."""
    if not ranges:
        return closed_on(day)
    return open_until(day, ranges)


def who_am_i(business: str) -> str:
    """ "אני העוזרת הדיגיטלית של ספא דמו, אפשר לקבוע איתי תור."."""
    return f"אני העוזרת הדיגיטלית של {business}, אפשר לקבוע איתי תור."


def hours_summary(week: Sequence[tuple[int, list[tuple[time, time]]]], all_day: bool) -> str:
    """Opening hours of a week, grouping equal consecutive days.

    Args:
        week: (python weekday, ranges) for Sunday..Saturday, in that order.
        all_day: the business is open 24/7.

    Example: "אנחנו פתוחים ראשון עד חמישי מ-9:00 עד 20:00, שישי מ-9:00 עד 14:00, ובשבת סגור."
    """
    if all_day:
        return "אנחנו פתוחים 24 שעות ביממה, כל השבוע."
    groups: list[tuple[list[int], list[tuple[time, time]]]] = []
    for wd, ranges in week:
        if groups and groups[-1][1] == ranges:
            groups[-1][0].append(wd)
        else:
            groups.append(([wd], ranges))
    open_parts: list[str] = []
    closed: list[str] = []
    for days, ranges in groups:
        first, last = WEEKDAYS[days[0]], WEEKDAYS[days[-1]]
        label = first if len(days) == 1 else f"{first} עד {last}"
        if ranges:
            open_parts.append(f"{label} {ranges_text(ranges)}")
        else:
            closed.append(label)
    if not open_parts:
        return "כרגע אנחנו סגורים."
    text = "אנחנו פתוחים " + ", ".join(open_parts)
    if closed:
        text += ", וב" + " וב".join(closed) + " סגור"
    return text + "."
