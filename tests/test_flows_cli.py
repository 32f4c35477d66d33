"""`voicectl flows list/show/retry/run` on a real database file, and the scenario key
`expect: messages:` (validation errors and checks)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from voicectl.booking.appointments import create_appointment
from voicectl.booking.policy import get_business_policy, seed_policies
from voicectl.cli import app
from voicectl.sim.checks import check_expectations
from voicectl.sim.scenario import Expect, ScenarioError, load_scenario
from voicectl.store.db import Database

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def dbfile(tmp_path: Path) -> Path:
    path = tmp_path / "cli.db"
    db = Database(path)
    seed_policies(db)
    policy = get_business_policy("demo-spa", db=db)
    now = datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))
    for start, phone in (("2026-11-22T09:00:00+02:00", "0501234567"),
                         ("2026-11-22T12:00:00+02:00", None)):  # fmt: skip
        assert create_appointment(db, policy, now, start, "swedish", "דני", phone)["ok"]
    db.dispose()
    return path


def _json(args: list[str], **kw) -> list | dict:
    r = runner.invoke(app, args, **kw)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_run_once_then_list_json_and_filters(dbfile: Path) -> None:
    assert _json(["flows", "list", "--json", "--db", str(dbfile)]) == []
    r = runner.invoke(app, ["flows", "run", "--once", "--db", str(dbfile)])
    assert r.exit_code == 0, r.output
    assert "2 event(s) fanned out" in r.output and "sent 1" in r.output
    messages = _json(["flows", "list", "--json", "--db", str(dbfile)])
    assert [(m["status"], m["to"]) for m in messages] == [
        ("sent", "+972501234567"),
        ("skipped", None),
    ]
    for key in ("id", "event", "handler", "to", "text", "status", "attempts"):
        assert key in messages[0]
    sent = _json(["flows", "list", "--status", "sent", "--json", "--db", str(dbfile)])
    assert [m["id"] for m in sent] == [messages[0]["id"]]


def test_database_comes_from_voicectl_database_too(dbfile: Path) -> None:
    runner.invoke(app, ["flows", "run", "--once"], env={"VOICECTL_DATABASE": str(dbfile)})
    msgs = _json(["flows", "list", "--json"], env={"VOICECTL_DATABASE": str(dbfile)})
    assert len(msgs) == 2


def test_table_fits_80_columns(dbfile: Path) -> None:
    runner.invoke(app, ["flows", "run", "--once", "--db", str(dbfile)])
    r = runner.invoke(app, ["flows", "list", "--db", str(dbfile)], terminal_width=80)
    assert r.exit_code == 0
    assert "+972501234567" in r.output and "נקבע לך תור" in r.output
    assert max(len(line) for line in r.output.splitlines()) <= 80


def test_show_retry_and_exit_codes(dbfile: Path) -> None:
    db = ["--db", str(dbfile)]
    runner.invoke(app, ["flows", "run", "--once", *db])
    shown = _json(["flows", "show", "1", "--json", *db])
    assert shown["status"] == "sent" and shown["attempt_log"][0]["outcome"] == "sent"
    r = runner.invoke(app, ["flows", "show", "1", *db])
    assert r.exit_code == 0 and "attempts" in r.output.lower()
    assert runner.invoke(app, ["flows", "show", "99", *db]).exit_code == 1
    refused = runner.invoke(app, ["flows", "retry", "1", *db])
    assert refused.exit_code == 1 and "sent" in refused.output
    assert runner.invoke(app, ["flows", "retry", "2", *db]).exit_code == 0  # the skipped one
    assert runner.invoke(app, ["flows", "list", "--status", "bogus", *db]).exit_code == 2


def test_bad_messenger_configuration_exits_2(dbfile: Path) -> None:
    r = runner.invoke(
        app, ["flows", "run", "--once", "--db", str(dbfile)], env={"VOICECTL_MESSENGER": "sms"}
    )
    assert r.exit_code == 2 and "unknown" in r.output


# -- expect: messages: --------------------------------------------------------------------


def _scenario(tmp_path: Path, messages: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(
        "name: s\nnow: '2026-11-20T10:00:00+02:00'\nbusiness: demo-spa\n"
        "steps:\n  - hangup: {}\nexpect:\n  messages:\n" + messages,
        encoding="utf-8",
    )
    return p


def test_expect_messages_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"expect\.messages\[0\]\.to.*E\.164"):
        load_scenario(_scenario(tmp_path, "    - to: '0501234567'\n"))
    with pytest.raises(ScenarioError, match=r"expect\.messages\[0\].*'txt'"):
        load_scenario(_scenario(tmp_path, "    - txt: hi\n"))
    ok = load_scenario(_scenario(tmp_path, "    - {to: 'whatsapp:+972501234567'}\n"))
    assert ok.expect.messages[0].to == "+972501234567"


def test_expect_messages_checks_count_fields_and_text() -> None:
    record = {
        "messages": [
            {"handler": "whatsapp_confirmation", "event": "appointment.created",
             "to": "+972501234567", "text": "נקבע לך תור ליום ראשון", "status": "sent"},
            {"handler": "call_summary", "event": "call.ended", "to": None, "text": None,
             "status": "done"},
        ]
    }  # fmt: skip
    one = Expect.model_validate(
        {"messages": [{"to": "+972501234567", "text_contains": "נקבע לך תור"}]}
    )
    [c] = check_expectations(one.model_copy(update={"no_errors": False}), record)
    assert c.ok, c.detail
    none = Expect.model_validate({"messages": [], "no_errors": False})
    assert not check_expectations(none, record)[0].ok
    wrong = Expect.model_validate({"messages": [{"to": "+972509999999"}], "no_errors": False})
    [c] = check_expectations(wrong, record)
    assert not c.ok and "+972509999999" in c.detail
    text = Expect.model_validate(
        {"messages": [{"text_contains": ["ביום שני"]}], "no_errors": False}
    )
    assert not check_expectations(text, record)[0].ok


def test_shipped_scenario_asserts_its_confirmation() -> None:
    sc = load_scenario(ROOT / "scenarios" / "dtmf-phone-capture.yaml")
    assert sc.expect.messages and sc.expect.messages[0].to == "+972501234567"
