"""Resolve what a Hebrew-speaking caller says into a date and a time of day (`resolve_when`).

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
8. A mention the caller negated, took back or replaced does not count
   (`voicectl.hebrew.negation`): "לא בערב, בבוקר" is the morning, "ביום ראשון - לא, שני"
   is Monday (a bare weekday or hour after a retraction continues the same kind),
   "במקום מחר, מחרתיים" the day after tomorrow; "לא בארבע" alone names no time; "לא לפני
   ארבע" is a bound, not a negation (16:00 is reported).
9. Whenever something is ambiguous the field it concerns (`date` and/or `time`) is None
   and `candidates` lists the readings: datetimes (date-only readings at 00:00) when a
   date is involved or known, else times.
10. The local date and clock of `now` are used as given (pass it in the business zone,
    Asia/Jerusalem); candidate datetimes carry `now.tzinfo`.
11. "הלילה" + an hour after midnight (00-05) is the coming night: tomorrow's date, unless
   it is already that night (before 06:00 now). A weekday with a day of the month
   ("ביום שני ה-30") is that date, or "date_conflict" when they disagree.

The resolver is split by kind of mention: `scan` finds the mentions (`dates`: relative
days, numeric and spoken dates, weekdays, weeks; `clock`: clock times and ranges; `parts`:
parts of the day), `resolve` turns them into one `WhenResolution` against `now` and the
opening hours. `python -m voicectl.hebrew.when "..." --now ...` resolves a phrase;
`--bench` times the resolver over the corpus.
"""

from voicectl.hebrew.when.resolve import resolve_when
from voicectl.hebrew.when.result import PART_OF_DAY, HoursOn, WhenResolution, date_iso

__all__ = ["PART_OF_DAY", "HoursOn", "WhenResolution", "date_iso", "resolve_when"]
