"""Text normalisation for TTS (voicectl.speech.text_normalize.normalize_for_tts)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicectl.speech.text_normalize import normalize_for_tts

_DIGIT = re.compile(r"\d")

REPLIES = [
    "יש תור מחר ב-12:00, 21/11. המספר 0501234567",
    "מצאתי שני תורים פנויים ביום שני, 21/11: ב-9:30 או ב-14:45.",
    "הטיפול נמשך 60 דקות. יש 3 תורים פנויים, ו-2 פגישות ביום ראשון.",
    "קבעתי לך עיסוי שוודי ליום ה-21.11 בשעה 12:00. אישור יישלח ל-+972-50-123-4567.",
    "אנא הקישו את מספר הטלפון ובסיום הקישו #",
    "המחיר הוא 350 ₪ לטיפול של 45 דקות 😊",
    "**שימו לב**: אנחנו פתוחים 09:00-20:00 בימים א'-ה', ובשישי עד 14:00.",
    "התור שלך: 21/11/2026 בשעה 16:15, חדר 3.",
    "אפשר להגיע 10-15 דקות לפני? הטלפון שלנו 03-1234567.",
    "יש לנו 1,500 לקוחות מרוצים ו-98% המלצות!",
    "נשארה 1 שעה. הקוד הוא 1234*.",
]


@pytest.mark.parametrize("reply", REPLIES)
def test_no_digits_left(reply: str) -> None:
    out = normalize_for_tts(reply)
    assert not _DIGIT.search(out), out
    assert out == out.strip() and "  " not in out


@pytest.mark.parametrize("reply", REPLIES)
def test_idempotent(reply: str) -> None:
    once = normalize_for_tts(reply)
    assert normalize_for_tts(once) == once


def test_brief_example_exactly() -> None:
    assert normalize_for_tts("יש תור מחר ב-12:00, 21/11. המספר 0501234567") == (
        "יש תור מחר בשתים עשרה, עשרים ואחד בנובמבר. "
        "המספר אפס חמש אפס, אחת שתיים שלוש, ארבע חמש שש שבע"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # clock times, with an attached prefix
        ("ב-9:30", "בתשע וחצי"),
        ("14:45", "רבע לשלוש"),
        ("בשעה 20:00", "בשעה שמונה"),
        ("12:00-13:00", "שתים עשרה עד אחת"),
        # dates
        ("21.11", "עשרים ואחד בנובמבר"),
        ("ביום שני, 21/11: ב-9:30", "ביום שני, עשרים ואחד בנובמבר: בתשע וחצי"),
        ("ה-3/12", "השלושה בדצמבר"),
        ("21/11/26", "עשרים ואחד בנובמבר אלפיים עשרים ושש"),
        # phone numbers, digit by digit in the local form
        ("+972-50-123-4567", "אפס חמש אפס, אחת שתיים שלוש, ארבע חמש שש שבע"),
        ("050 123 4567", "אפס חמש אפס, אחת שתיים שלוש, ארבע חמש שש שבע"),
        ("03-1234567", "אפס שלוש, אחת שתיים שלוש, ארבע חמש שש שבע"),
        # plain integers agree with the noun
        ("60 דקות", "שישים דקות"),
        ("3 תורים", "שלושה תורים"),
        ("2 דקות", "שתי דקות"),
        ("2 תורים", "שני תורים"),
        ("1 שעה", "שעה אחת"),
        ("בעוד 5", "בעוד חמש"),
        ("3-4 ימים", "שלושה עד ארבעה ימים"),
        ("1,500", "אלף וחמש מאות"),
        ("2.5 שעות", "שתיים נקודה חמש שעות"),
        ("1000000", "אחת אפס אפס אפס אפס אפס אפס"),
        # money, percent
        ("350 ₪", "שלוש מאות וחמישים שקלים"),
        ('120 ש"ח', "מאה ועשרים שקלים"),
        ("₪49.90", "ארבעים ותשעה שקלים ותשעים אגורות"),
        ("10%", "עשרה אחוז"),
        # keypad and symbols
        ("הקישו #", "הקישו סולמית"),
        ("הקישו * כדי למחוק", "הקישו כוכבית כדי למחוק"),
        ("0501234567#", "אפס חמש אפס אחת שתיים שלוש ארבע חמש שש שבע סולמית"),
        ("שלום - מה שלומך", "שלום, מה שלומך"),
        ("אחר-הצהריים", "אחר הצהריים"),
        ("שלום 😊👍🏽 וברכה", "שלום וברכה"),
        ("**חשוב**: SMS", "חשוב: SMS"),
        ("# כותרת\n- פריט ראשון\n- פריט שני", "כותרת. פריט ראשון. פריט שני"),
        ("שלום (בקרוב)", "שלום, בקרוב"),
        ("בימים א'-ה' וביום ו'", "בימים ראשון עד חמישי וביום שישי"),
        ('צה"ל ג׳ירפה "ציטוט"', "צה\"ל ג'ירפה ציטוט"),
        ("", ""),
    ],
)
def test_rules(text: str, expected: str) -> None:
    assert normalize_for_tts(text) == expected


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(["", " דקות", " תורים"]))
@settings(max_examples=200, deadline=None)
def test_any_integer_is_spelled_out(n: int, noun: str) -> None:
    out = normalize_for_tts(f"יש {n}{noun}.")
    assert not _DIGIT.search(out)


@given(st.text(alphabet="0123456789:/.-,+*#₪% שלוםבה\n😊", max_size=40))
@settings(max_examples=300, deadline=None)
def test_arbitrary_mixtures_never_leave_digits(text: str) -> None:
    assert not _DIGIT.search(normalize_for_tts(text))
