"""Unit tests of the offline agent's Hebrew understanding (voicectl.hebrew, voicectl.agent.nlu)
and phrases."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from voicectl.agent import nlu
from voicectl.agent import phrases as P
from voicectl.booking.policy import load_policies
from voicectl.hebrew.acts import is_goodbye, is_greeting_only, is_no, is_thanks_only, is_yes
from voicectl.hebrew.letters import fold
from voicectl.hebrew.names import extract_name, trailing_name
from voicectl.hebrew.prefixes import variants
from voicectl.hebrew.services import match_service, mentions_generic_service
from voicectl.hebrew.text import normalize
from voicectl.hebrew.when import resolve_when

SERVICES = load_policies()["demo-spa"].services


def _sid(text: str) -> str | None:
    svc = match_service(text, SERVICES)
    return svc.id if svc else None


# -- normalisation ---------------------------------------------------------------------


def test_normalize_strips_niqqud_punctuation_and_glues_prefixes() -> None:
    assert normalize("תקבע לי מחר ב-12:30, השם דָּנִי!") == "תקבע לי מחר ב12:30 השם דני"
    assert normalize('אחה"צ') == "אחהצ"
    assert normalize("ב 12") == "ב12"
    assert normalize("מה  יש?") == "מה יש"  # two-letter words are not glued
    assert normalize("") == ""


def test_fold_and_variants() -> None:
    assert fold("שלום") == "שלומ"
    assert "שוודי" in variants("ובשוודי")
    assert "12" in variants("ב12")


# -- services --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sid"),
    [
        ("שוודי", "swedish"),
        ("עיסוי שוודי בבקשה", "swedish"),
        ("תקבע לי מחר ב-12 שוודי, השם דני", "swedish"),
        ("לשוודי", "swedish"),
        ("שבדי", "swedish"),
        ("עיסוי קלאסי", "swedish"),
        ("רקמות עמוקות", "deep_tissue"),
        ("ברקמות עמוק", "deep_tissue"),
        ("עיסוי רקמות", "deep_tissue"),
        ("ספורט", "sports"),
        ("עיסוי ספורטיבי", "sports"),
        ("לרפלקסולוגיה", "reflexology"),
        ("כפות רגליים", "reflexology"),
        ("אני רוצה לקבוע עיסוי", None),
        ("מחר בעשר", None),
    ],
)
def test_match_service(text: str, sid: str | None) -> None:
    assert _sid(text) == sid


def test_generic_service_word() -> None:
    assert mentions_generic_service("אני רוצה עיסוי")
    assert not mentions_generic_service("מחר בעשר")


# -- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("תקבע לי מחר ב-12 שוודי, השם דני", "דני"),
        ("השם שלי רונית לוי, מחר בשלוש", "רונית לוי"),
        ("שמי נועה", "נועה"),
        ("קוראים לי משה כהן ואני רוצה שוודי", "משה כהן"),
        ("אני דני", "דני"),
        ("על שם יעל", "יעל"),
        ("זה על שם אבי", "אבי"),
        ("שלום, מדברת מיכל, רציתי לקבוע", "מיכל"),
        ("אני רוצה לקבוע על שם שני לוי מחר בעשר", "שני לוי"),
        ("השם דני מחר בעשר", "דני"),
        ("השם ג'ני", "ג'ני"),
        ("היי זה אבי, אני רוצה לקבוע רפלקסולוגיה", "אבי"),
        ("זה לא מתאים לי", None),
        ("אני רוצה לקבוע תור", None),
        ("אני צריכה עיסוי שוודי", None),
        ("אני מתקשרת לגבי תור", None),
        ("מחר בעשר", None),
    ],
)
def test_extract_name_with_markers(text: str, name: str | None) -> None:
    assert extract_name(text, SERVICES) == name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("דני", "דני"),
        ("דני כהן", "דני כהן"),
        ("כן, דני", "דני"),
        ("שני", "שני"),
        ("מחר", None),
        ("כן", None),
        ("שוודי", None),
        ("ב-12", None),
    ],
)
def test_extract_bare_name_when_asked(text: str, name: str | None) -> None:
    assert extract_name(text, SERVICES, bare=True) == name


def test_trailing_name_without_marker() -> None:
    assert trailing_name("תקבע לי מחר ב-12 שוודי שעה. דני.", SERVICES) == "דני"
    assert trailing_name("תקבע לי מחר ב-12 שוודי דני", SERVICES) == "דני"
    assert trailing_name("תקבע לי שוודי מחר בבקשה", SERVICES) is None


# -- yes / no / goodbye ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "כן",
        "בסדר",
        "מאשר",
        "מאשרת",
        "נכון",
        "יאללה",
        "סגור",
        "כן, מתאים לי",
        "אוקיי",
        "בטח",
        "אין בעיה",
        "זה מתאים",
        "סבבה",
    ],
)
def test_yes(text: str) -> None:
    assert is_yes(text)
    assert not is_no(text)


@pytest.mark.parametrize(
    "text",
    ["לא", "לא, ביום שלישי", "ממש לא", "לא מתאים לי", "עדיף שלא", "לא תודה", "אין לי"],
)
def test_no(text: str) -> None:
    assert is_no(text)
    assert not is_yes(text)


@pytest.mark.parametrize(
    "text",
    ["לא משנה לי", "אפשר לקבוע תור?", "תקבע לי מחר ב-12", "אין לי העדפה", "מה?"],
)
def test_neither_yes_nor_no(text: str) -> None:
    assert not is_yes(text)
    assert not is_no(text)


def test_phone_opener_is_not_a_yes() -> None:
    assert not is_yes("כן שלום, רציתי לברר משהו לגבי אמא שלי")
    assert not is_yes("כן הלו, מדברת מיכל")
    assert is_yes("כן שלום, כן, מתאים לי")  # a yes after the opener still counts
    assert is_yes("כן, בסדר")


def test_vague_request_words() -> None:
    u = nlu.analyze("אהה... כן... רגע, זה בקשר ל...")
    assert "inquire" in u.intents and u.name is None
    assert "inquire" in nlu.detect_intents("רציתי לשאול משהו")


@pytest.mark.parametrize(
    "text",
    [
        "תודה, ביי",
        "זהו, תודה",
        "לא, זה הכל",
        "להתראות",
        "תודה רבה, יום טוב",
        "זה הכול תודה",
        "ביי ביי",
        "אוקיי, תודה, אני אחזור אליכם",
        "טוב, אני אחשוב על זה",
    ],
)
def test_goodbye(text: str) -> None:
    assert is_goodbye(text)


@pytest.mark.parametrize(
    "text",
    ["שלום", "שלום, אני רוצה לקבוע", "מה יש ביום טוב?", "לא", "תודה", "לא, ביום שלישי"],
)
def test_not_goodbye(text: str) -> None:
    assert not is_goodbye(text)


def test_thanks_and_greeting_only() -> None:
    assert is_thanks_only("תודה רבה")
    assert not is_thanks_only("תודה, ומחר?")
    assert is_greeting_only("שלום")
    assert is_greeting_only("היי, מה נשמע?")
    assert not is_greeting_only("שלום, אני רוצה תור")


# -- intents ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("אפשר לקבוע תור?", "book"),
        ("אני רוצה לקבוע עיסוי", "book"),
        ("יש לכם מקום מחר?", "availability"),
        ("מה יש ביום ראשון?", "availability"),
        ("מה שעות הפתיחה?", "hours"),
        ("אתם פתוחים בשישי?", "hours"),
        ("עד מתי אתם עובדים היום?", "hours"),
        ("אילו טיפולים יש?", "services"),
        ("איזה סוגי עיסוי יש לכם?", "services"),
        ("כמה עולה עיסוי?", "price"),
        ("מה המחיר?", "price"),
        ("כמה זמן לוקח עיסוי ספורט?", "duration_q"),
        ("תבטל", "cancel"),
        ("אני רוצה לבטל את התור", "cancel"),
        ("הכי מוקדם שיש", "earliest"),
        ("לא משנה לי השעה", "any_time"),
        ("אפשר לדבר עם נציג?", "human"),
        ("רגע, בעצם", "correction"),
        ("איפה אתם נמצאים?", "address"),
        ("כמה זמן מראש צריך לקבוע?", "notice_q"),
        ("מה השעות שלכם?", "hours"),
    ],
)
def test_intents(text: str, intent: str) -> None:
    assert intent in nlu.detect_intents(text)


def test_intent_false_friends() -> None:
    assert "hours" not in nlu.detect_intents("סגור")  # "deal", not "closed?"
    assert "availability" not in nlu.detect_intents("מה השעות שלכם?")
    assert "availability" in nlu.detect_intents("מה השעות הפנויות מחר?")
    assert "availability" not in nlu.detect_intents("ומה יש לכם, איזה טיפולים?")
    assert nlu.analyze("ואם בשלוש?", expecting_name=True).name is None
    assert "latest" not in nlu.detect_intents("האחרון")
    assert "price" not in nlu.detect_intents("זה עולה לי על העצבים")


# -- clock times, ordinals, durations --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clocks"),
    [
        ("ב-13", [(13, 0)]),
        ("ב-12:30", [(12, 30)]),
        ("אחת וחצי", [(1, 30)]),
        ("רבע לשלוש", [(2, 45)]),
        ("בשתיים עשרה", [(12, 0)]),
        ("ביום ראשון", []),
        ("לשעה אחת", []),
        ("שלוש שעות", []),
    ],
)
def test_clock_times_as_said(text: str, clocks: list[tuple[int, int]]) -> None:
    """The resolver reports each clock time as said, before any am/pm choice (the agent
    tells "ב-11" said as such from "בשלוש" read as 15:00 by it)."""
    now = datetime(2026, 11, 22, 8, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))
    assert list(resolve_when(text, now).said) == clocks


@pytest.mark.parametrize(
    ("text", "idx"),
    [
        ("הראשונה", 0),
        ("את השנייה", 1),
        ("האחרונה", -1),
        ("ביום ראשון", None),
        ("בראשון", None),
        ("כן", None),
    ],
)
def test_ordinal_choice(text: str, idx: int | None) -> None:
    assert nlu.ordinal_choice(text) == idx


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("עיסוי שוודי לשעה אחת", 60),
        ("חצי שעה", 30),
        ("45 דקות", 45),
        ("שעה וחצי", 90),
        ("שוודי שעה, דני", 60),
        ("בשעה אחת", None),
        ("בעוד שעה", None),
        ("לשעה שלוש", None),
    ],
)
def test_extract_duration(text: str, minutes: int | None) -> None:
    assert nlu.extract_duration(text)[0] == minutes


def test_looks_like_phone() -> None:
    assert nlu.looks_like_phone("אפס חמש אפס אחת שתיים")
    assert nlu.looks_like_phone("050-1234567")
    assert not nlu.looks_like_phone("מחר בעשר")


def test_analyze_never_raises_on_odd_input() -> None:
    for text in ["", "   ", "!!!", "12345678901234567890", "ב", "ה-", "\u05bc\u05b8", "a" * 500]:
        u = nlu.analyze(text, SERVICES, expecting_name=True)
        assert isinstance(u, nlu.Understanding)


def test_analyze_seed_sentence() -> None:
    u = nlu.analyze("תקבע לי מחר ב-12 שוודי, השם דני", SERVICES)
    assert u.service.id == "swedish"
    assert u.name == "דני"
    assert "book" in u.intents
    assert u.duration_min is None


# -- phrases ---------------------------------------------------------------------------


def test_phrases_formatting() -> None:
    today = date(2026, 11, 19)
    assert P.day_label(today, today) == "היום"
    assert P.day_label(date(2026, 11, 20), today) == "מחר"
    assert P.day_label(date(2026, 11, 22), today) == "ביום ראשון"
    assert P.day_label(date(2026, 11, 29), today) == "ביום ראשון, 29 בנובמבר"
    assert P.weekday_label(date(2026, 11, 21), today) == "ביום שבת"
    assert P.clock(time(9, 0)) == "9:00"
    assert P.spoken_time(time(15, 0)) == "בשלוש אחר הצהריים"
    assert P.spoken_time(time(9, 30)) == "בתשע וחצי בבוקר"
    assert P.join_or(["9:00", "9:30", "10:00"]) == "9:00, 9:30 או 10:00"
    assert P.join_and(["א", "ב", "ג"]) == "א, ב וג"
    assert P.offer_times("ביום ראשון", [time(9), time(9, 30), time(10)]) == (
        "ביום ראשון יש ב-9:00, 9:30 או 10:00. מה מתאים?"
    )
    assert P.suggest_times(P.TIME_TAKEN, [time(12, 30), time(13)]) == (
        "השעה הזאת לא פנויה. אפשר ב-12:30 או ב-13:00?"
    )
    tz = ZoneInfo("Asia/Jerusalem")
    fri = [datetime(2026, 11, 20, 12, tzinfo=tz), datetime(2026, 11, 20, 12, 30, tzinfo=tz)]
    assert P.suggest_times("", fri, today=today, asked_day=date(2026, 11, 20)) == (
        "אפשר ב-12:00 או ב-12:30?"
    )
    mixed = [datetime(2026, 11, 19, 19, tzinfo=tz), datetime(2026, 11, 20, 13, tzinfo=tz)]
    assert P.suggest_times("", mixed, today=today, asked_day=date(2026, 11, 20)) == (
        "אפשר היום ב-19:00 או מחר ב-13:00?"
    )
    assert P.free_at("מחר", time(14), spoken=True) == "מחר בשתיים בצהריים פנוי."
    assert P.too_soon(60) == "צריך לקבוע לפחות שעה מראש."


def test_service_phrase_uses_massage_alias() -> None:
    by_id = {s.id: s for s in SERVICES}
    assert P.service_phrase(by_id["swedish"]) == "עיסוי שוודי"
    assert P.service_phrase(by_id["reflexology"]) == "טיפול רפלקסולוגיה"


def test_greeting_is_short_and_names_business() -> None:
    g = P.greeting("ספא דמו")
    assert "ספא דמו" in g
    assert len(g.split()) <= 24


# -- issue 11: names that are words, replaced services -----------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("מדברת בת שבע", "בת שבע"),
        ("מדבר בן ציון", "בן ציון"),
        ("שמי בת שבע, מחר בשלוש", "בת שבע"),
        ("השם שלי בת שבע כהן", "בת שבע כהן"),
        ("קוראים לי שני", "שני"),
        ("מדברת שני", "שני"),
        ("מדבר שני לוי", "שני לוי"),
        ("אני רוצה מחר בשלוש, שמי שני", "שני"),
        ("שמי דני מחר בשלוש", "דני"),
        ("השם בת", None),
    ],
)
def test_names_that_are_number_or_weekday_words(text: str, name: str | None) -> None:
    assert extract_name(text, SERVICES) == name


def test_bare_compound_name_answer() -> None:
    assert extract_name("בת שבע", SERVICES, bare=True) == "בת שבע"
    assert extract_name("שני", SERVICES, bare=True) == "שני"


@pytest.mark.parametrize(
    ("text", "sid"),
    [
        ("במקום רקמות עמוק תן לי ספורט", "sports"),
        ("במקום רקמות עמוק תני לי ספורט", "sports"),
        ("ספורט במקום שוודי", "sports"),
        ("לא שוודי, ספורט", "sports"),
        ("ולא שוודי, ספורט", "sports"),
        ("שוודי, לא סליחה, רפלקסולוגיה", "reflexology"),
        ("שוודי בעצם לספורט", "sports"),
        ("שוודי או ספורט", None),
    ],
)
def test_replaced_or_negated_service_does_not_count(text: str, sid: str | None) -> None:
    assert _sid(text) == sid


def test_name_is_taken_out_where_it_was_given() -> None:
    from voicectl.hebrew.names import without_name

    text = "שוודי ביום ראשון - לא, שני, בעשר, שמי שני"
    assert "ביום ראשון - לא, שני, בעשר" in without_name(text, "שני")
    assert without_name("מדברת בת שבע, מחר בשבע", "בת שבע").split() == [",", "מחר", "בשבע"]


def test_month_words_are_not_names() -> None:
    assert trailing_name("שוודי ב-30 לחודש", SERVICES) is None


# -- caches of caller text -------------------------------------------------------------


def test_caches_of_caller_text_stay_bounded_and_answer_as_uncached() -> None:
    from voicectl.hebrew.cache import clear_caches

    clear_caches()
    for i in range(3000):  # more distinct utterances than the cache keeps
        assert normalize(f"תקבע לי מחר ב-{i}") == f"תקבע לי מחר ב{i}"
    info = normalize.cache_info()  # type: ignore[attr-defined]
    # Bounded below the utterances asked, and full: it keeps entries, up to its bound.
    assert info.maxsize is not None and info.currsize == info.maxsize < 3000, info
    before = normalize.cache_info().currsize  # type: ignore[attr-defined]
    long_text = "שלום, " * 2000  # a hostile transcript: computed, never kept
    assert normalize(long_text) == " ".join(["שלום"] * 2000)
    assert normalize.cache_info().currsize == before  # type: ignore[attr-defined]
    long_word = "ו" + "ש" * 500
    assert variants(long_word)[:2] == (long_word, long_word[1:])
    assert variants.cache_info().currsize == 0  # type: ignore[attr-defined]
    # A cached answer is the uncached one, whatever was asked before.
    assert normalize("תקבע לי מחר ב-12:30, השם דָּנִי!") == "תקבע לי מחר ב12:30 השם דני"
    assert normalize("תקבע לי מחר ב-12:30, השם דָּנִי!") == "תקבע לי מחר ב12:30 השם דני"
