"""Messengers against loopback fakes speaking the real wire protocols: the `twilio`
library's own client pointed at a fake Twilio Messages API, and httpx POSTing to a fake
WhatsApp bridge. The dispatcher's clock is moved by hand (no sleeping)."""

from __future__ import annotations

import base64
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from whatsapp_fakes import FakeBridge, FakeTwilioREST

from voicectl.booking.appointments import create_appointment
from voicectl.booking.policy import get_business_policy, seed_policies
from voicectl.config import Settings
from voicectl.flows.dispatcher import Dispatcher
from voicectl.flows.engine import FlowEngine, build_engine
from voicectl.flows.messages import get_message, list_messages
from voicectl.flows.messengers import (
    HttpBridgeMessenger,
    OutgoingMessage,
    PermanentSendError,
    RetryableSendError,
    TwilioWhatsAppMessenger,
    make_messenger,
)
from voicectl.store.db import Database

SID, TOKEN = "AC" + "1" * 32, "twilio-secret"
MSG = OutgoingMessage("+972501234567", "נקבע לך תור ליום ראשון ב-09:00", "1:whatsapp_confirmation")


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "m.db")
    seed_policies(database)
    return database


@pytest.fixture()
def twilio_fake():
    with FakeTwilioREST(SID, TOKEN) as fake:
        yield fake


@pytest.fixture()
def bridge():
    with FakeBridge() as fake:
        yield fake


def _book(db: Database) -> None:
    policy = get_business_policy("demo-spa", db=db)
    now = datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))
    res = create_appointment(
        db, policy, now, "2026-11-22T09:00:00+02:00", "swedish", "דני", "0501234567"
    )
    assert res["ok"]


# -- twilio_whatsapp -------------------------------------------------------------------------


def test_twilio_messenger_posts_whatsapp_from_to_body_with_basic_auth(twilio_fake) -> None:
    m = TwilioWhatsAppMessenger(SID, TOKEN, "+14155238886", api_base=twilio_fake.base)
    sid = m.send(MSG)
    assert sid.startswith("SM")
    [req] = twilio_fake.requests
    assert req["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert req["auth"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert req["form"] == {
        "From": "whatsapp:+14155238886",
        "To": "whatsapp:+972501234567",
        "Body": MSG.text,
    }


def test_twilio_errors_split_into_retryable_and_permanent(twilio_fake) -> None:
    m = TwilioWhatsAppMessenger(SID, TOKEN, "whatsapp:+14155238886", api_base=twilio_fake.base)
    twilio_fake.fail_with = [(500, 20500), (429, 20429), (400, 21211)]
    with pytest.raises(RetryableSendError, match="500"):
        m.send(MSG)
    with pytest.raises(RetryableSendError, match="429"):
        m.send(MSG)
    with pytest.raises(PermanentSendError, match="21211"):
        m.send(MSG)
    bad = TwilioWhatsAppMessenger(SID, "wrong", "+14155238886", api_base=twilio_fake.base)
    with pytest.raises(PermanentSendError, match="401"):
        bad.send(MSG)
    assert twilio_fake.messages == []


def test_twilio_unreachable_is_retryable(twilio_fake) -> None:
    base = twilio_fake.base
    twilio_fake.__exit__()
    m = TwilioWhatsAppMessenger(SID, TOKEN, "+14155238886", api_base=base, timeout_s=2)
    with pytest.raises(RetryableSendError, match="unreachable"):
        m.send(MSG)


def test_twilio_messenger_from_settings_delivers_a_booking(db: Database, twilio_fake) -> None:
    settings = Settings(
        database=str(db.url),
        messenger="twilio_whatsapp",
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        whatsapp_from="+14155238886",
        twilio_api_base_url=twilio_fake.base,
    )
    _book(db)
    Dispatcher(build_engine(settings, db)).run_once()
    [sent] = twilio_fake.messages
    assert sent["To"] == "whatsapp:+972501234567"
    assert sent["Body"] == "נקבע לך תור ליום ראשון, 22 בנובמבר ב-09:00 בספא דמו."
    [m] = list_messages(db)
    assert m["status"] == "sent" and m["provider_id"].startswith("SM")


def test_messenger_settings_that_are_missing_are_named(db: Database) -> None:
    with pytest.raises(ValueError, match="TWILIO_ACCOUNT_SID.*VOICECTL_WHATSAPP_FROM"):
        make_messenger(Settings(messenger="twilio_whatsapp"), db)
    with pytest.raises(ValueError, match="VOICECTL_WHATSAPP_BRIDGE_URL"):
        make_messenger(Settings(messenger="http_bridge"), db)
    with pytest.raises(ValueError, match="unknown"):
        make_messenger(Settings(messenger="carrier_pigeon"), db)


# -- http_bridge -----------------------------------------------------------------------------


def test_bridge_gets_json_with_auth_and_idempotency_key(bridge) -> None:
    m = HttpBridgeMessenger(f"{bridge.base}/send", "bridge-token")
    assert m.send(MSG) == "wa-1"
    [req] = bridge.requests
    assert req["path"] == "/send"
    assert req["headers"]["Authorization"] == "Bearer bridge-token"
    assert req["headers"]["Idempotency-Key"] == MSG.idempotency_key
    assert json.loads(req["body"]) == {
        "channel": "whatsapp",
        "to": "+972501234567",
        "text": MSG.text,
        "idempotency_key": MSG.idempotency_key,
        "business_id": None,
    }
    assert m.send(MSG) == "wa-1"  # the bridge recognises the key: still one delivery
    assert len(bridge.delivered) == 1


def test_bridge_statuses_map_to_retry_or_fail(bridge) -> None:
    bridge.fail_first, bridge.fail_status = 1, 503
    m = HttpBridgeMessenger(f"{bridge.base}/send", "bridge-token")
    with pytest.raises(RetryableSendError, match="503"):
        m.send(MSG)
    with pytest.raises(PermanentSendError, match="401"):
        HttpBridgeMessenger(f"{bridge.base}/send", "wrong").send(MSG)


def test_bridge_fails_five_times_then_one_message(db: Database, bridge) -> None:
    """Issue 9 reliability proof 1: the bridge fake fails 5 times, then succeeds ->
    exactly one message delivered (the back-off waited out on an injected clock)."""
    bridge.fail_first = 5
    t = [datetime(2026, 11, 20, 8, 0)]
    engine = FlowEngine(db, messenger=HttpBridgeMessenger(f"{bridge.base}/send", "bridge-token"))
    d = Dispatcher(engine, now=lambda: t[0], rng=random.Random(3))
    _book(db)
    for _ in range(10):
        d.run_once()
        wait = d.seconds_until_due()
        if wait is None:
            break
        t[0] += timedelta(seconds=wait)
    assert len(bridge.requests) == 6
    assert len(bridge.delivered) == 1
    [m] = list_messages(db)
    assert (m["status"], m["attempts"]) == ("sent", 6)
    outcomes = [a["outcome"] for a in get_message(db, m["id"])["attempt_log"]]
    assert outcomes == ["retry"] * 5 + ["sent"]


def test_bridge_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        HttpBridgeMessenger("file:///etc/passwd")
