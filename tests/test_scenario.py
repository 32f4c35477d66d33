"""Tests for the scenario file schema and loader (DESIGN.md "Scenario file (contract)")."""

from __future__ import annotations

import wave
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from voicectl.sim.scenario import (
    DtmfStep,
    ExpectBotStep,
    HangupStep,
    SayStep,
    Scenario,
    ScenarioError,
    SilenceStep,
    load_scenario,
    validate_scenario,
)

EXAMPLE = """\
name: book-tomorrow-noon-no-phone
description: Caller books a Swedish massage for tomorrow at 12 and gives no phone.
now: "2026-11-20T10:00:00+02:00"
business: demo-spa
policy: {require_phone_before_booking: false}
caller: {number: anonymous}
steps:
  - expect_bot: {text_contains: []}
  - say: "תקבע לי מחר ב-12 שוודי, השם דני"
    audio: audio/caller.wav
  - expect_bot: {}
  - dtmf: "0501234567#"
    gap_ms: 150
  - expect_bot: {}
  - say: "רגע, בעצם"
    while_bot_speaking_after_ms: 600
  - silence_ms: 1500
  - hangup: {}
expect:
  tool_calls: [find_slots, create_appointment]
  appointment:
    start: "2026-11-21T12:00:00+02:00"
    service: swedish
    customer_name: "דני"
    customer_phone: null
  caller_number: null
  events: [appointment.created]
  log_contains: []
  no_errors: true
budgets: budgets.yaml
"""

MINIMAL = """\
name: minimal
now: "2026-11-20T10:00:00+02:00"
business: demo-spa
steps:
  - hangup: {}
"""


def _wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 160)
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A scenario folder with the example's audio and budget files."""
    _wav(tmp_path / "audio" / "caller.wav")
    (tmp_path / "budgets.yaml").write_text("marks: {}\n", encoding="utf-8")
    return tmp_path


def _write(folder: Path, text: str, name: str = "s.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert "\n" not in str(err)
    assert str(path) in str(err)
    return err


# ----------------------------------------------------------------- the happy path


def test_example_from_design_loads(folder: Path) -> None:
    sc = load_scenario(_write(folder, EXAMPLE))
    assert sc.name == "book-tomorrow-noon-no-phone"
    assert sc.now == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert sc.now.utcoffset() == timedelta(hours=2)
    assert sc.business == "demo-spa"
    assert sc.policy == {"require_phone_before_booking": False}
    assert sc.caller.number is None and sc.caller.is_anonymous
    assert sc.caller.twilio_from == "anonymous"
    assert [s.kind for s in sc.steps] == [
        "expect_bot",
        "say",
        "expect_bot",
        "dtmf",
        "expect_bot",
        "say",
        "silence",
        "hangup",
    ]
    say = sc.steps[1]
    assert isinstance(say, SayStep)
    assert say.audio == (folder / "audio" / "caller.wav").resolve()
    assert say.while_bot_speaking_after_ms is None
    barge = sc.steps[5]
    assert isinstance(barge, SayStep) and barge.while_bot_speaking_after_ms == 600
    assert barge.audio is None
    dtmf = sc.steps[3]
    assert isinstance(dtmf, DtmfStep) and dtmf.dtmf == "0501234567#" and dtmf.gap_ms == 150
    silence = sc.steps[6]
    assert isinstance(silence, SilenceStep) and silence.silence_ms == 1500
    assert isinstance(sc.steps[7], HangupStep)
    eb = sc.steps[0]
    assert isinstance(eb, ExpectBotStep)
    assert eb.text_contains == [] and eb.timeout_ms == 15000
    assert sc.expect.tool_calls == ["find_slots", "create_appointment"]
    assert sc.expect.appointment is not None
    assert sc.expect.appointment.start == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert sc.expect.events == ["appointment.created"]
    assert sc.budgets == (folder / "budgets.yaml").resolve()
    assert sc.source == (folder / "s.yaml").resolve()


def test_minimal_defaults(folder: Path) -> None:
    sc = load_scenario(_write(folder, MINIMAL))
    assert sc.description == ""
    assert sc.policy == {}
    assert sc.caller.number is None
    assert sc.budgets is None
    exp = sc.expect
    assert exp.tool_calls is None and exp.events is None
    assert exp.log_contains == [] and exp.no_errors is True
    assert not exp.checks_appointment and not exp.checks_caller_number


def test_step_defaults_and_empty_options(folder: Path) -> None:
    text = MINIMAL.replace(
        "  - hangup: {}\n",
        "  - expect_bot:\n  - expect_bot: {text_contains: שלום, timeout_ms: 500}\n"
        "  - dtmf: '12*#'\n  - hangup:\n",
    )
    sc = load_scenario(_write(folder, text))
    first, second, dtmf, hang = sc.steps
    assert isinstance(first, ExpectBotStep) and first.timeout_ms == 15000
    assert isinstance(second, ExpectBotStep)
    assert second.text_contains == ["שלום"] and second.timeout_ms == 500
    assert isinstance(dtmf, DtmfStep) and dtmf.gap_ms == 150
    assert hang.kind == "hangup"


# ----------------------------------------------------------------- null vs absent


def test_appointment_null_vs_absent(folder: Path) -> None:
    absent = load_scenario(_write(folder, MINIMAL))
    assert not absent.expect.checks_appointment

    null = load_scenario(_write(folder, MINIMAL + "expect:\n  appointment: null\n"))
    assert null.expect.checks_appointment and null.expect.appointment is None

    empty = load_scenario(_write(folder, MINIMAL + "expect:\n  appointment: {}\n"))
    assert empty.expect.checks_appointment
    assert empty.expect.appointment is not None
    assert empty.expect.appointment.checked_fields == []


def test_appointment_fields_null_vs_absent(folder: Path) -> None:
    text = MINIMAL + "expect:\n  appointment: {service: swedish, customer_phone: null}\n"
    appt = load_scenario(_write(folder, text)).expect.appointment
    assert appt is not None
    assert appt.checked_fields == ["service", "customer_phone"]
    assert appt.customer_phone is None and appt.customer_name is None


def test_caller_number_null_vs_absent(folder: Path) -> None:
    null = load_scenario(_write(folder, MINIMAL + "expect: {caller_number: null}\n"))
    assert null.expect.checks_caller_number and null.expect.caller_number is None
    num = load_scenario(_write(folder, MINIMAL + "expect: {caller_number: '+972501234567'}\n"))
    assert num.expect.checks_caller_number and num.expect.caller_number == "+972501234567"


# ----------------------------------------------------------------- YAML pitfalls


def test_unquoted_digits_stay_text(folder: Path) -> None:
    """YAML 1.1 reads 0501234567 as an octal int and +972... as an int without the +."""
    text = MINIMAL.replace("  - hangup: {}\n", "  - dtmf: 0501234567\n  - say: 12\n")
    text += "caller: {number: +972501234567}\n"
    text += "expect: {caller_number: +972501234567, appointment: {customer_phone: 0501234567}}\n"
    sc = load_scenario(_write(folder, text))
    dtmf, say = sc.steps
    assert isinstance(dtmf, DtmfStep) and dtmf.dtmf == "0501234567"
    assert isinstance(say, SayStep) and say.say == "12"
    assert sc.caller.number == "+972501234567"
    assert sc.caller.twilio_from == "+972501234567"
    assert sc.expect.caller_number == "+972501234567"
    assert sc.expect.appointment is not None
    assert sc.expect.appointment.customer_phone == "0501234567"


def test_unquoted_aware_timestamp_and_z(folder: Path) -> None:
    text = MINIMAL.replace('"2026-11-20T10:00:00+02:00"', "2026-11-20T08:00:00Z")
    text += "expect: {appointment: {start: 2026-11-21T12:00:00+02:00}}\n"
    sc = load_scenario(_write(folder, text))
    assert sc.now == datetime(2026, 11, 20, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    assert sc.expect.appointment is not None
    assert sc.expect.appointment.start == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def test_policy_values_keep_yaml_types(folder: Path) -> None:
    text = MINIMAL + "policy: {slot_size_min: 15, allow_24_7: true}\n"
    assert load_scenario(_write(folder, text)).policy == {"slot_size_min": 15, "allow_24_7": True}


# ----------------------------------------------------------------- audio paths


def test_audio_resolved_against_scenario_folder_first(
    folder: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path_factory.mktemp("cwd")
    _wav(cwd / "audio" / "caller.wav")
    monkeypatch.chdir(cwd)
    sc = load_scenario(_write(folder, EXAMPLE))
    assert sc.steps[1].audio == (folder / "audio" / "caller.wav").resolve()  # type: ignore[union-attr]


def test_audio_falls_back_to_cwd(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path_factory.mktemp("repo")
    _wav(cwd / "fixtures" / "a.wav")
    monkeypatch.chdir(cwd)
    scen_dir = tmp_path / "scenarios"
    scen_dir.mkdir()
    text = MINIMAL.replace("  - hangup: {}\n", "  - say: שלום\n    audio: fixtures/a.wav\n")
    sc = load_scenario(_write(scen_dir, text))
    assert sc.steps[0].audio == (cwd / "fixtures" / "a.wav").resolve()  # type: ignore[union-attr]


def test_audio_missing(folder: Path) -> None:
    path = _write(folder, EXAMPLE.replace("audio/caller.wav", "audio/nope.wav"))
    err = _error(path)
    assert err.field == "steps[1].audio"
    assert "steps[1].audio" in str(err) and "audio/nope.wav" in str(err)
    assert "not found" in str(err)
    assert err.line == 10


def test_audio_not_a_wav(folder: Path) -> None:
    (folder / "audio" / "caller.wav").write_bytes(b"ID3 not a wav at all")
    err = _error(_write(folder, EXAMPLE))
    assert err.field == "steps[1].audio" and "not a WAV" in str(err)


# ----------------------------------------------------------------- one-line errors


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("  - silence_ms: 1500", "  - silense_ms: 1500", "steps[6]", "did you mean 'silence_ms'"),
        ("  - silence_ms: 1500", "  - silence_ms: 1500\n    hangup: {}", "steps[6]", "2 action"),
        ('dtmf: "0501234567#"', 'dtmf: "050a234567#"', "steps[3].dtmf", "bad digit 'a'"),
        ('"2026-11-20T10:00:00+02:00"', '"2026-11-20T10:00:00"', "now", "no UTC offset"),
        ('"2026-11-20T10:00:00+02:00"', "2026-11-20T10:00:00", "now", "no UTC offset"),
        ('"2026-11-20T10:00:00+02:00"', '"tomorrow"', "now", "not an ISO 8601"),
        ("description:", "descripton:", "descripton", "unknown top-level key"),
        ("gap_ms: 150", "gapms: 150", "steps[3].gapms", "did you mean 'gap_ms'"),
        ("  - silence_ms: 1500", "  - silence_ms: -1", "steps[6].silence_ms", "greater than 0"),
        ("  - silence_ms: 1500", "  - silence_ms: soon", "steps[6].silence_ms", "'soon'"),
        ("  - hangup: {}", "  - hangup", "steps[7]", "must be a mapping"),
        ("  - hangup: {}", "  - hangup: {now: 1}", "steps[7].hangup.now", "takes no keys"),
        ("{text_contains: []}", "{text_contain: []}", "steps[0].expect_bot.text_contain", "mean"),
        ("{number: anonymous}", "{number: '0501234567'}", "caller.number", "E.164"),
        ("caller_number: null", "caller_number: '050'", "expect.caller_number", "E.164"),
        ("service: swedish", "servce: swedish", "expect.appointment.servce", "'service'"),
        ("no_errors: true", "no_error: true", "expect.no_error", "'no_errors'"),
        (
            'start: "2026-11-21T12:00:00+02:00"',
            'start: "2026-11-21T12:00"',
            "expect.appointment.start",
            "offset",
        ),  # noqa: E501
        ("business: demo-spa\n", "", "business", "missing"),
        ("name: book-tomorrow-noon-no-phone", "name: 'my scenario'", "name", "valid id"),
        ("budgets: budgets.yaml", "budgets: nope.yaml", "budgets", "budget file not found"),
        (
            "  - silence_ms: 1500",
            "  - silence_ms: 1500\n    silence_ms: 5",
            "steps[6].silence_ms",
            "duplicate",
        ),  # noqa: E501
        ('  - say: "רגע, בעצם"', "  - say: '  '", "steps[5].say", "empty"),
    ],
)
def test_errors_are_one_line_with_file_and_field(
    folder: Path, old: str, new: str, field: str, words: str
) -> None:
    assert old in EXAMPLE
    err = _error(_write(folder, EXAMPLE.replace(old, new, 1)))
    assert err.field == field
    assert f": {field}: " in str(err)
    assert words in str(err)


def test_error_line_number_points_at_field(folder: Path) -> None:
    err = _error(_write(folder, EXAMPLE.replace('dtmf: "0501234567#"', 'dtmf: "12x"')))
    assert err.line == 12
    assert str(err).startswith(f"{folder / 's.yaml'}:12: steps[3].dtmf: ")


def test_missing_file(tmp_path: Path) -> None:
    err = _error(tmp_path / "nope.yaml")
    assert str(err) == f"{tmp_path / 'nope.yaml'}: file not found"


def test_malformed_yaml_gives_line(folder: Path) -> None:
    err = _error(_write(folder, EXAMPLE.replace("  - hangup: {}", "  - hangup: {")))
    assert "malformed YAML" in str(err)
    assert err.line == 20


def test_empty_and_non_mapping_files(folder: Path) -> None:
    assert "empty" in str(_error(_write(folder, "")))
    assert "expected a mapping" in str(_error(_write(folder, "- a\n- b\n")))


def test_several_problems_reported_as_count(folder: Path) -> None:
    text = EXAMPLE.replace("description:", "descripton:").replace("gap_ms: 150", "gapms: 1")
    err = _error(_write(folder, text))
    assert "(+1 more problem)" in str(err)


def test_empty_steps_rejected(folder: Path) -> None:
    err = _error(_write(folder, MINIMAL.replace("  - hangup: {}\n", "").replace(":\n", ": []\n")))
    assert err.field == "steps"


# ----------------------------------------------------------------- validate from a dict


def test_validate_scenario_from_dict() -> None:
    sc = validate_scenario(
        {
            "name": "x",
            "now": "2026-11-20T10:00:00+02:00",
            "business": "demo-spa",
            "steps": [{"dtmf": "1#"}, {"hangup": {}}],
        }
    )
    assert isinstance(sc, Scenario) and [s.kind for s in sc.steps] == ["dtmf", "hangup"]
    with pytest.raises(ScenarioError, match=r"^<scenario>: steps\[0\]\.dtmf: bad digit"):
        validate_scenario(
            {"name": "x", "now": "2026-11-20T10:00:00Z", "business": "b", "steps": [{"dtmf": "x"}]}
        )


def test_recursive_alias_rejected(folder: Path) -> None:
    err = _error(_write(folder, MINIMAL + "policy: &p {a: *p}\n"))
    assert err.field == "policy.a" and "recursive" in str(err)


def test_step_kind_is_a_class_attribute() -> None:
    assert [m.kind for m in (ExpectBotStep, SayStep, DtmfStep, SilenceStep, HangupStep)] == [
        "expect_bot",
        "say",
        "dtmf",
        "silence",
        "hangup",
    ]
    assert "kind" not in SayStep(say="שלום").model_dump()


def test_bad_yaml_value_is_a_scenario_error(folder: Path) -> None:
    err = _error(_write(folder, MINIMAL + "policy: {opens: 2026-13-45}\n"))
    assert "malformed YAML value" in str(err)
