"""Call summaries: the deterministic offline text, and the OpenAI summariser through the
real `openai` client against the loopback Chat Completions fake (with its fallback)."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fakes.openai_server import FakeOpenAI

from voicectl.config import Settings
from voicectl.flows.summary import (
    BookedFacts,
    CallFacts,
    OfflineSummarizer,
    OpenAISummarizer,
    make_summarizer,
)

FACTS = CallFacts(
    call_sid="CA1",
    business_id="demo-spa",
    business_name="ספא דמו",
    caller_number="+972501234567",
    duration_s=61.4,
    outcome="completed",
    ended_by="bot_hangup",
    caller_turns=["אני רוצה תור מחר", "0501234567"],
    tool_results=[("find_slots", True, None), ("create_appointment", True, None)],
    booked=[
        BookedFacts(
            appointment_id=3,
            service_name="ספורט",
            start=datetime(2026, 11, 23, 16, 30, tzinfo=ZoneInfo("Asia/Jerusalem")),
            customer_name="נועה",
            customer_phone="+972501234567",
        )
    ],
)


def test_offline_summary_is_deterministic_and_complete() -> None:
    text = OfflineSummarizer().summarize(FACTS)
    assert text == OfflineSummarizer().summarize(FACTS)
    assert text.startswith("שיחה מ-+972501234567, 1:01 דקות, 2 פניות.")
    assert "נקבע תור: ספורט, יום שני, 23 בנובמבר ב-16:30, על שם נועה" in text
    assert text.endswith("השיחה הסתיימה: הבוט סיים את השיחה.")


def test_offline_summary_says_why_nothing_was_booked() -> None:
    facts = CallFacts(
        call_sid="CA2", business_id="demo-spa", business_name="ספא דמו", caller_number=None,
        duration_s=None, outcome="canceled", ended_by="status_callback",
        tool_results=[("create_appointment", False, "slot_taken"),
                      ("create_appointment", False, "too_soon")],
    )  # fmt: skip
    text = OfflineSummarizer().summarize(facts)
    assert "ממספר חסוי" in text
    assert "לא נקבע תור (השעה תפוסה, קרוב מדי)." in text
    assert "השיחה בוטלה" in text


def _settings(base_url: str) -> Settings:
    return Settings(agent="openai", openai_api_key="sk-test", openai_base_url=base_url)


def test_openai_summary_uses_the_model_with_the_facts() -> None:
    with FakeOpenAI([{"content": "נועה קבעה ספורט ליום שני ב-16:30."}]) as fake:
        s = make_summarizer(_settings(fake.base_url))
        assert isinstance(s, OpenAISummarizer)
        assert s.summarize(FACTS) == "נועה קבעה ספורט ליום שני ב-16:30."
    [body] = fake.requests
    assert body["temperature"] == 0.2 and body["max_completion_tokens"] == 200
    sent = json.loads(body["messages"][1]["content"])
    assert sent["facts"]["booked"][0]["customer_name"] == "נועה"
    assert sent["draft"] == OfflineSummarizer().summarize(FACTS)


def test_openai_failure_falls_back_to_the_offline_summary() -> None:
    with FakeOpenAI([{"status": 500, "message": "overloaded"}]) as fake:
        text = make_summarizer(_settings(fake.base_url)).summarize(FACTS)
    assert text == OfflineSummarizer().summarize(FACTS)


def test_summarizer_choice() -> None:
    assert make_summarizer(Settings()).name == "offline"
    assert make_summarizer(Settings(summarizer="offline", agent="openai")).name == "offline"
    with pytest.raises(ValueError, match="unknown"):
        make_summarizer(Settings(summarizer="gpt"))
