"""Twilio REST hang-up and TwiML update through the real `twilio` library, pointed at the
loopback fake of Twilio's API (`voicectl.sim.rest_fake`)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from voicectl.config import Settings
from voicectl.sim.rest_fake import TwilioRestFake
from voicectl.telephony.twilio import twiml
from voicectl.telephony.twilio.rest import TwilioRest

ACCOUNT = "AC" + "1" * 32
TOKEN = "rest-token"


def _rest(base_url: str, token: str = TOKEN, timeout: float = 5.0) -> TwilioRest:
    return TwilioRest(
        Settings(
            twilio_account_sid=ACCOUNT,
            twilio_auth_token=token,
            twilio_api_base_url=base_url,
            twilio_rest_timeout_sec=timeout,
        )
    )


def test_hang_up_is_a_status_update_and_20404_counts_as_done() -> None:
    with TwilioRestFake(auth_token=TOKEN) as fake:
        fake.register("CA1", ACCOUNT)
        rest = _rest(fake.base_url)
        assert asyncio.run(rest.hang_up("CA1"))
        assert asyncio.run(rest.hang_up("CA1"))  # already completed: 404 code 20404
        first, second = fake.requests_for("CA1")
    assert first.method == "POST"
    assert first.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/CA1.json"
    assert first.form == {"Status": "completed"}
    assert first.authorized and first.user_agent.startswith("twilio-python/")
    assert (first.status, second.status) == (200, 404)


def test_twiml_update_sends_the_gather(caplog: pytest.LogCaptureFixture) -> None:
    with TwilioRestFake(auth_token=TOKEN) as fake:
        fake.register("CA2", ACCOUNT)
        rest = _rest(fake.base_url)
        gather = twiml.gather_phone("https://voice.example.com/webhook/dtmf_done")
        assert asyncio.run(rest.redirect("CA2", gather))
        fake.end("CA2")
        with caplog.at_level(logging.WARNING):
            assert not asyncio.run(rest.redirect("CA2", gather))  # the call is over
    (req, _) = fake.requests_for("CA2")
    assert req.form["Twiml"] == gather
    assert "20404" in caplog.text


def test_bad_credentials_fail_and_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with TwilioRestFake(auth_token=TOKEN) as fake:
        fake.register("CA3", ACCOUNT)
        with caplog.at_level(logging.WARNING):
            assert not asyncio.run(_rest(fake.base_url, token="wrong").hang_up("CA3"))
    assert "20003" in caplog.text


def test_a_stalled_api_is_waited_for_a_bounded_time(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        rest = _rest(f"http://127.0.0.1:{port}", timeout=0.5)
        t0 = time.monotonic()
        with caplog.at_level(logging.WARNING):
            assert not asyncio.run(rest.hang_up("CA4"))
        assert time.monotonic() - t0 < 3
    assert "failed" in caplog.text


def test_without_credentials_nothing_is_sent(caplog: pytest.LogCaptureFixture) -> None:
    rest = TwilioRest(Settings())
    with caplog.at_level(logging.WARNING):
        assert not asyncio.run(rest.hang_up("CA5"))
    assert not rest.configured and "no Twilio credentials" in caplog.text
