"""Phone normalisation and the choice of source (seed 000 item 3, seed 001 item 2)."""

from __future__ import annotations

import pytest

from voicectl.booking.phone import (
    choose_phone,
    is_withheld,
    normalize_phone,
    session_caller_number,
    usable_phone,
)


@pytest.mark.parametrize(
    "raw",
    [
        "0501234567",
        "050-123-4567",
        "+972501234567",
        "972501234567",
        "050 1234567",
        "0501234567#",
        " \u200f050-1234567 ",
        "+972 50 123 4567",
        "(050) 123-4567",
        "tel:+972501234567",
    ],
)
def test_normalises_israeli_mobile(raw: str) -> None:
    assert normalize_phone(raw) == "+972501234567"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("03-1234567", "+97231234567"),
        ("02 6234567", "+97226234567"),
        ("077-1234567", "+972771234567"),
        ("+15005550006", "+15005550006"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_normalises_other_numbers(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "1234",
        "abc",
        "050-CALL-NOW",
        "1-800-FLOWERS",
        "12345678901234567890",
        "050123456789",  # too long for an Israeli mobile
        "05012345",  # too short
        "anonymous",
        "Anonymous",
        "UNKNOWN",
        "+266696687",  # Twilio's withheld-caller placeholder
        "client:agent",
        "0501234567; DROP TABLE",
    ],
)
def test_rejects_non_numbers(raw: str | None) -> None:
    assert normalize_phone(raw) is None


def test_non_string_is_none() -> None:
    assert normalize_phone(501234567) is None  # type: ignore[arg-type]


def test_usable_requires_plus_or_zero() -> None:
    assert usable_phone("0501234567") == "+972501234567"
    assert usable_phone("+972501234567") == "+972501234567"
    assert usable_phone("972501234567") is None
    assert usable_phone("501234567") is None
    assert usable_phone("0abc") is None
    assert usable_phone(None) is None


def test_withheld() -> None:
    assert is_withheld(None) and is_withheld("") and is_withheld(" anonymous ")
    assert not is_withheld("0501234567")


def test_choose_phone_order() -> None:
    assert choose_phone("0501111111", "0502222222", "0503333333") == "+972501111111"
    assert choose_phone(None, "0502222222", "0503333333") == "+972502222222"
    assert choose_phone(None, None, "+972503333333") == "+972503333333"
    assert choose_phone(None, None, None) is None


def test_choose_phone_falls_through_unusable() -> None:
    # no + / 0 prefix (seed 001 item 2), garbage, withheld -> next source
    assert choose_phone("972501111111", "0502222222", None) == "+972502222222"
    assert choose_phone("abc", "1234", "0503333333") == "+972503333333"
    assert choose_phone("anonymous", "", "anonymous") is None
    assert choose_phone("UNKNOWN", None, None) is None


def test_session_caller_number() -> None:
    class S:
        caller_number = "+972501234567"

    assert session_caller_number(S()) == "+972501234567"
    assert session_caller_number({"caller_number": "0501234567"}) == "0501234567"
    assert session_caller_number({}) is None
    assert session_caller_number(object()) is None
    assert session_caller_number(None) is None
