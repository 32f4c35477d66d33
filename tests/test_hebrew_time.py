"""Tests for the Hebrew date/time resolver (SEEDS.md seed 001 item 6).

The corpus tests/data/hebrew_time_corpus.yaml pins the expected reading of every phrasing,
including the documented ambiguity choices (docstring of voicectl.hebrew.when). Hypothesis
checks the invariants: never raises, dates never before today, spans inside the text.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from voicectl.hebrew.calendar import PART_OF_DAY
from voicectl.hebrew.lexicon import words_to_int
from voicectl.hebrew.when import WhenResolution, date_iso, resolve_when
from voicectl.hebrew.when.cli import HOURS_FIXTURES, bench
from voicectl.hebrew.when.resolve import resolve_unguarded

TZ = ZoneInfo("Asia/Jerusalem")
CORPUS_PATH = Path(__file__).parent / "data" / "hebrew_time_corpus.yaml"
CORPUS = yaml.safe_load(CORPUS_PATH.read_text(encoding="utf-8"))


def _now(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s).astimezone(TZ)


def _fmt_cand(c: dt.datetime | dt.time) -> str:
    if isinstance(c, dt.datetime):
        return c.strftime("%Y-%m-%dT%H:%M")
    return c.strftime("%H:%M")


def test_corpus_size_and_coverage() -> None:
    assert len(CORPUS) >= 150
    weekdays = {_now(e["now"]).weekday() for e in CORPUS}
    assert {4, 6} <= weekdays  # a Friday (2026-11-20) and a Sunday at least
    assert {e["hours"] for e in CORPUS} == {"spa", "none", "24_7"}
    assert any(_now(e["now"]).date() == dt.date(2026, 11, 20) for e in CORPUS)


@pytest.mark.parametrize(
    "entry", CORPUS, ids=[f"{i:03d}-{e['text'][:30]}" for i, e in enumerate(CORPUS)]
)
def test_corpus(entry: dict) -> None:
    now = _now(entry["now"])
    res = resolve_unguarded(entry["text"], now, HOURS_FIXTURES[entry["hours"]])  # no safety net
    exp = entry["expect"]
    got_date = res.date.isoformat() if res.date else None
    got_time = res.time.strftime("%H:%M") if res.time else None
    want_date = str(exp["date"]) if exp.get("date") is not None else None
    assert (got_date, got_time) == (want_date, exp.get("time")), res
    assert list(res.ambiguous) == list(exp.get("ambiguous", [])), res
    if "inferred" in exp:
        assert res.inferred is exp["inferred"], res
    if "part_of_day" in exp:
        assert res.part_of_day == exp["part_of_day"], res
    if "candidates" in exp:
        assert [_fmt_cand(c) for c in res.candidates] == exp["candidates"], res
    if "date_span" in exp:
        assert res.date_span == tuple(exp["date_span"]), res
    if "time_span" in exp:
        assert res.time_span == tuple(exp["time_span"]), res
    if not res.ambiguous:
        assert res.candidates == ()
    assert res.found == bool(
        want_date
        or exp.get("time")
        or exp.get("candidates")
        or exp.get("ambiguous")
        and "past_date" not in exp["ambiguous"]
    )


def test_spans_point_at_the_words() -> None:
    text = "תקבע לי מחר ב-12 שוודי, השם דני"
    res = resolve_when(text, _now("2026-11-20T10:00:00+02:00"), HOURS_FIXTURES["spa"])
    assert res.date_span is not None and res.time_span is not None
    assert text[slice(*res.date_span)] == "מחר"
    assert text[slice(*res.time_span)] == "ב-12"


def test_date_iso_and_found() -> None:
    now = _now("2026-11-22T09:30:00+02:00")
    res = resolve_when("ראשון הבא", now)
    assert date_iso(res) == "2026-11-29" and res.found
    amb = resolve_when("חמישי הבא", now)
    assert date_iso(amb) is None and amb.found and amb.ambiguous == ("which_week",)
    empty = resolve_when("השם שלי דני", now)
    assert date_iso(empty) is None and not empty.found and empty == WhenResolution()


def test_candidates_carry_the_business_zone() -> None:
    res = resolve_when("מחר בשלוש", _now("2026-11-20T10:00:00+02:00"), HOURS_FIXTURES["24_7"])
    assert res.ambiguous == ("am_pm",)
    assert all(isinstance(c, dt.datetime) and c.tzinfo is TZ for c in res.candidates)


def test_broken_hours_callable_falls_back_to_the_default_rule() -> None:
    def boom(_d: dt.date) -> list[tuple[dt.time, dt.time]]:
        raise RuntimeError("policy store down")

    res = resolve_when("מחר בשבע", _now("2026-11-22T09:30:00+02:00"), boom)
    assert res.date == dt.date(2026, 11, 23) and res.time == dt.time(7, 0) and res.inferred


def test_words_to_int() -> None:
    assert words_to_int("עשרים וחמש") == 25
    assert words_to_int("שתים-עשרה") == 12
    assert words_to_int("אחת עשרה") == 11
    assert words_to_int("שלושה") == 3
    assert words_to_int("שוודי") is None
    assert words_to_int("") is None


# --- properties ------------------------------------------------------------------------

_ALPHABET = st.sampled_from(
    list("אבגדהוזחטיכלמנסעפצקרשתםןץףך0123456789 -:./,?'\"־״׳\u05b0\u05b4\u05bc\u05b8+\n")
)
_WORDS = st.sampled_from(
    "מחר היום מחרתיים ביום יום שלישי ראשון שני הבא הקרוב השבוע בשבוע שבוע בעוד עוד ימים "
    "שעה שעות דקות בשלוש שלוש וחצי ורבע רבע לשלוש לחמישי בשתים עשרה שתיים עשרה אחת עשרים "
    'וחמש בבוקר בערב בצהריים אחר הצהריים אחה"צ בלילה חצות ב-12 ב12 12:30 16:00 25/11 '
    "25.11 31/02 29/2 1/1/2020 בנובמבר לחודש או לא בין ל-6 עד ב 5 0501234567 050-123 "
    "שבת מוצ\"ש ערב הערב הבוקר יום א' 99:99 00:00 24:00 ה-25 בשעה".split()
)
_TEXTS = st.one_of(
    st.text(_ALPHABET, max_size=60),
    st.lists(_WORDS, max_size=12).map(" ".join),
    st.text(max_size=40),
)
_NOWS = st.datetimes(
    min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2098, 12, 1), timezones=st.just(TZ)
)
_HOURS = st.sampled_from(
    [
        None,
        HOURS_FIXTURES["spa"],
        HOURS_FIXTURES["24_7"],
        lambda _d: [],
        lambda d: [(dt.time(22), dt.time(2))] if d.weekday() < 5 else [],
    ]
)


@settings(max_examples=600, deadline=None)
@given(text=_TEXTS, now=_NOWS, hours=_HOURS)
def test_never_raises_and_never_returns_the_past(text, now, hours) -> None:
    res = resolve_unguarded(text, now, hours)  # the unguarded core: bugs surface here
    today = now.date()
    if res.date is not None:
        assert res.date >= today
    for c in res.candidates:
        if isinstance(c, dt.datetime):
            assert c.date() >= today
    for span in (res.date_span, res.time_span):
        if span is not None:
            assert 0 <= span[0] < span[1] <= len(text)
    if res.ambiguous:
        assert res.candidates or "past_date" in res.ambiguous
    assert res.part_of_day in (None, *PART_OF_DAY)
    assert resolve_when(text, now, hours) == res


@settings(max_examples=200, deadline=None)
@given(st.from_type(object))
def test_public_function_survives_any_input(obj) -> None:
    res = resolve_when(obj, dt.datetime(2026, 11, 20, 10, tzinfo=TZ))  # type: ignore[arg-type]
    assert isinstance(res, WhenResolution)


def test_bench_runs() -> None:
    r = bench(CORPUS_PATH, repeat=1)
    assert r["phrases"] == len(CORPUS) and r["us_per_phrase"] > 0
