"""The OpenAI agent against a loopback fake of Chat Completions, through the real `openai`
client pointed at it by `base_url` (tests/fakes/openai_server.py)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fakes.openai_server import FakeOpenAI

from voicectl import providers
from voicectl.agent.base import Conversation, TurnInput
from voicectl.agent.openai import (
    HOLDING_PHRASE_HE,
    MAX_ROUNDS,
    TOOLS,
    OpenAIAgent,
)
from voicectl.booking.policy import seed_policies
from voicectl.booking.tools import BookingTools
from voicectl.config import Settings
from voicectl.providers import Providers
from voicectl.store.db import Database

NOW = "2026-11-19T10:00:00+02:00"  # a Thursday; tomorrow is Friday 09:00-14:00


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "t.db")
    seed_policies(database)
    return database


def _settings(fake: FakeOpenAI, **kw: Any) -> Settings:
    return Settings(
        agent="openai",
        openai_base_url=fake.base_url,
        openai_api_key="sk-test",
        openai_model="gpt-test",
        **kw,
    )


class Call:
    def __init__(self, db: Database, agent: OpenAIAgent, now: str = NOW) -> None:
        t = datetime.fromisoformat(now)
        self.tools = BookingTools(db, "demo-spa", lambda: t, call_sid="CAoai")
        self.conv = Conversation(call_sid="CAoai", business_id="demo-spa", now=t)
        self.agent = agent

    def turn(self, kind: str, text: str = "") -> Any:
        r = self.agent.respond(TurnInput(kind, text), self.conv, self.tools)  # type: ignore[arg-type]
        self.conv.turn_index += 1
        return r


def _context(body: dict[str, Any]) -> str:
    return body["messages"][1]["content"]


def _slot(body: dict[str, Any]) -> str:
    """The first slot the (fake) model got back from find_slots in this request."""
    tool = [m for m in body["messages"] if m["role"] == "tool"][-1]
    return json.loads(tool["content"])["slots"][0]["start_iso"]


def test_requests_follow_the_seed_settings_and_the_booking_is_made(db: Database) -> None:
    script = [
        {"content": "שלום, הגעתם לספא דמו. איך אפשר לעזור?"},
        {
            "tool_calls": [
                {
                    "name": "find_slots",
                    "arguments": {"date_iso": "2026-11-20", "service": "swedish", "after": "12:00"},
                }
            ]
        },
        lambda body: {
            "tool_calls": [
                {
                    "name": "create_appointment",
                    "arguments": {
                        "start_iso": _slot(body),
                        "service": "swedish",
                        "customer_name": "דני",
                        "customer_phone": None,
                    },
                }
            ]
        },
        {"content": "קבעתי לך עיסוי שוודי מחר ב-12:00 על שם דני."},
    ]
    with FakeOpenAI(script) as fake:
        agent = OpenAIAgent(_settings(fake))
        c = Call(db, agent)
        greet = c.turn("greeting")
        r = c.turn("speech", "תקבע לי מחר ב-12 שוודי, השם דני")
    assert greet.text.startswith("שלום")
    assert [t.name for t in r.tool_calls] == ["find_slots", "create_appointment"]
    assert r.tool_calls[1].result["ok"] is True
    assert r.tool_calls[1].result["start_iso"].startswith("2026-11-20T12:00")
    assert r.text.startswith("קבעתי")
    assert fake.paths == ["/v1/chat/completions"] * 4

    first, booking = fake.requests[0], fake.requests[1]
    for body in fake.requests:
        assert body["model"] == "gpt-test"
        assert body["temperature"] == 0.2
        assert body["max_completion_tokens"] == 200
        assert body["parallel_tool_calls"] is False
        assert body["tools"] == TOOLS
    for tool in first["tools"]:
        fn = tool["function"]
        assert fn["strict"] is True
        params = fn["parameters"]
        assert params["additionalProperties"] is False
        assert sorted(params["required"]) == sorted(params["properties"])
    optional = first["tools"][0]["function"]["parameters"]["properties"]["service"]
    assert optional["type"] == ["string", "null"]
    # English instructions with the seed's rules.
    system = first["messages"][0]["content"]
    assert first["messages"][0]["role"] == "system"
    assert "Always answer in Hebrew" in system and "never greet again" in system
    assert "find_slots" in system and "validation_error" in system and "need_phone" in system
    assert "24 words" in system
    # The turn that names a day and an hour must call a tool, then may answer.
    assert first["tool_choice"] == "auto"
    assert booking["tool_choice"] == "required"
    assert [b["tool_choice"] for b in fake.requests[2:]] == ["auto", "auto"]
    # The date comes from the Hebrew resolver, never from the model.
    assert "date_iso=2026-11-20 (Friday)" in _context(booking) and "time=12:00" in _context(booking)
    assert "2026-11-20 Friday tomorrow 09:00-14:00" in _context(booking)
    # History: the greeting exchange was sent again; the reply is kept at the end.
    texts = [m.get("content") for m in booking["messages"]]
    assert "שלום, הגעתם לספא דמו. איך אפשר לעזור?" in texts
    assert c.conv.history[-1].role == "assistant" and c.conv.history[-1].content == r.text


def test_history_is_capped_at_the_configured_window(db: Database) -> None:
    with FakeOpenAI(lambda body: {"content": "בסדר."}) as fake:
        agent = OpenAIAgent(_settings(fake, openai_history_messages=8))
        c = Call(db, agent)
        c.turn("greeting")
        for k in range(10):
            c.turn("speech", f"שאלה מספר {k}")
    last = fake.requests[-1]["messages"]
    sent_history = last[2:-1]  # instructions, context ... this turn
    assert len(sent_history) == 8
    assert last[-1] == {"role": "user", "content": "שאלה מספר 9"}
    assert sent_history[-1]["role"] == "assistant"
    assert len(c.conv.history) == 21  # greeting reply, then every turn and its reply


def test_the_tool_loop_is_bounded_and_ends_in_a_spoken_answer(db: Database) -> None:
    def model(body: dict[str, Any]) -> dict[str, Any]:
        if body["tool_choice"] == "none":
            return {"content": "יש מקום מחר בבוקר."}
        return {
            "tool_calls": [
                {
                    "name": "find_slots",
                    "arguments": {"date_iso": "2026-11-20", "service": None, "after": None},
                }
            ]
        }

    with FakeOpenAI(model) as fake:
        r = Call(db, OpenAIAgent(_settings(fake))).turn("speech", "מה יש מחר?")
    assert len(fake.requests) == MAX_ROUNDS
    assert [b["tool_choice"] for b in fake.requests] == ["required", "auto", "auto", "none"]
    assert r.text == "יש מקום מחר בבוקר."


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 429, "message": "rate limited"},
        {"status": 500, "message": "server error"},
        {"status": 503, "message": "overloaded"},
        {"delay_s": 1.5, "content": "too late"},
        {"tool_calls": [{"name": "find_slots", "arguments": '{"date_iso": "2026-11-20", '}]},
        {"tool_calls": [{"name": "find_slots", "arguments": {"date_iso": "2026-11-20"}}]},
        {"tool_calls": [{"name": "drop_table", "arguments": {}}]},
    ],
    ids=["429", "500", "503", "timeout", "broken-json", "missing-field", "unknown-tool"],
)
def test_failures_get_a_holding_phrase_and_the_offline_answer(
    db: Database, failure: dict[str, Any]
) -> None:
    with FakeOpenAI([{"content": "שלום, איך אפשר לעזור?"}, failure]) as fake:
        agent = OpenAIAgent(_settings(fake, openai_timeout_ms=400))
        c = Call(db, agent)
        c.turn("greeting")
        t0 = time.monotonic()
        r = c.turn("speech", "תקבע לי מחר ב-12 שוודי, השם דני")
        spent = time.monotonic() - t0
    assert r.text.startswith(HOLDING_PHRASE_HE)
    # The offline agent answered the same turn: it booked from the caller's words.
    assert [t.name for t in r.tool_calls][-2:] == ["find_slots", "create_appointment"]
    assert r.tool_calls[-1].result["ok"] is True
    assert len(fake.requests) == 2  # no retry spending the budget twice
    assert spent < 1.2  # the timeout (0.4 s) is honoured, not the model's 1.5 s
    roles = [m.role for m in c.conv.history]
    assert roles.count("user") == 1 and roles[-1] == "assistant"  # the turn is in history once


def test_a_failure_after_booking_does_not_book_twice(db: Database) -> None:
    script = [
        {
            "tool_calls": [
                {
                    "name": "find_slots",
                    "arguments": {"date_iso": "2026-11-20", "service": "swedish", "after": None},
                }
            ]
        },
        lambda body: {
            "tool_calls": [
                {
                    "name": "create_appointment",
                    "arguments": {
                        "start_iso": _slot(body),
                        "service": "swedish",
                        "customer_name": "דני",
                        "customer_phone": None,
                    },
                }
            ]
        },
        {"status": 500},
    ]
    with FakeOpenAI(script) as fake:
        c = Call(db, OpenAIAgent(_settings(fake)))
        r = c.turn("speech", "שוודי מחר, השם דני")
    assert [t.name for t in r.tool_calls] == ["find_slots", "create_appointment"]
    assert len(c.tools.list_appointments()) == 1
    assert "נקבע" in r.text


def test_need_phone_turns_on_dtmf_and_the_typed_number_requires_a_tool(db: Database) -> None:
    t = datetime.fromisoformat(NOW)
    script = [
        {
            "tool_calls": [
                {
                    "name": "create_appointment",
                    "arguments": {
                        "start_iso": "2026-11-20T12:00:00+02:00",
                        "service": "swedish",
                        "customer_name": "דני",
                        "customer_phone": None,
                    },
                }
            ]
        },
        {"content": "הקישו את מספר הטלפון ובסיומו סולמית."},
        {"content": "תודה."},
    ]
    with FakeOpenAI(script) as fake:
        agent = OpenAIAgent(_settings(fake))
        c = Call(db, agent)
        c.tools = BookingTools(db, "demo-clinic", lambda: t, call_sid="CAoai")
        r = c.turn("speech", "שוודי מחר ב-12 על שם דני")
        assert r.tool_calls[0].result["error"] == "need_phone" and r.wants_dtmf
        c.conv.caller_number = "+972501234567"
        c.turn("dtmf_phone", "+972501234567")
    assert fake.requests[-1]["tool_choice"] == "required"
    assert "0501234567" not in json.dumps(fake.requests[-1], ensure_ascii=False)  # masked


def test_the_registry_builds_it_once_and_falls_back_without_a_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    providers.reset_for_tests()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    p = Providers(Settings(agent="openai"))
    assert p.names["agent"] == "offline" and "OpenAIError" in p.fallbacks["agent"]
    providers.reset_for_tests()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    a = Providers(Settings(agent="openai")).agent
    assert a.name == "openai" and str(a.client.base_url).startswith("http://127.0.0.1:9/v1")
    assert Providers(Settings(agent="openai")).agent is a
    providers.reset_for_tests()
