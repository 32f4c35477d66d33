"""Deny by default (issue 6 items 1, 7 and 8): `voicectl serve` as a newcomer runs it lets
no stranger change a call's business, clock or policy, read call records, or end or
change a live call; stream tokens work once; the start-up says what is open."""

from __future__ import annotations

import asyncio
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from helpers import ServeProcess
from media_client import RawCall, record, start_msg, stream_of, voice
from twilio.request_validator import RequestValidator

from voicectl.config import Settings
from voicectl.sim.runner import InProcessServer
from voicectl.store.streams import token_business

ADMIN = "admin-secret"
TOKEN = "twilio-token"


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """The server as `voicectl serve` runs it, plus an admin token to read records."""
    db = tmp_path_factory.mktemp("prod") / "prod.db"
    settings = Settings(database=str(db), admin_token=ADMIN, max_concurrent_calls=3)
    with InProcessServer(settings, simulation=False) as srv:
        yield srv


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """No tokens at all: how a newcomer runs `voicectl serve`."""
    db = tmp_path_factory.mktemp("bare") / "bare.db"
    with InProcessServer(Settings(database=str(db)), simulation=False) as srv:
        yield srv


def test_simulator_parameters_are_ignored_unless_started_for_simulation(
    prod: InProcessServer,
) -> None:
    sim = {
        "voicectl.business": "demo-clinic",
        "voicectl.now": "2031-01-01T10:00:00+02:00",
        "voicectl.policy": json.dumps({"require_phone_before_booking": False}),
    }

    async def go() -> dict:
        async with RawCall(prod.http_base, "CAsimparams01", sim) as call:
            await call.until_mark()
            await call.stop()
        return await _admin_record(prod.http_base, call.call_sid)

    rec = asyncio.run(go())
    assert rec["business_id"] == "demo-spa"  # routed by /voice, not by the stream
    assert not any("override" in line for line in rec["log"])


async def _admin_record(base: str, call_sid: str) -> dict:
    for _ in range(100):
        r = await asyncio.to_thread(record, base, call_sid, ADMIN)
        if r.status_code == 200 and r.json()["status"] != "in-progress":
            return r.json()
        await asyncio.sleep(0.1)
    raise AssertionError(r.text[:200])


def test_call_records_need_the_admin_token(prod: InProcessServer, bare: InProcessServer) -> None:
    voice(prod.http_base, "CArecords01")
    assert record(prod.http_base, "CArecords01").status_code == 401
    assert record(prod.http_base, "CArecords01", "wrong").status_code == 401
    assert record(prod.http_base, "CAnosuchcall", ADMIN).status_code == 404
    # With no admin token configured, the route does not exist at all.
    voice(bare.http_base, "CArecords02")
    assert record(bare.http_base, "CArecords02").status_code == 404
    assert record(bare.http_base, "CArecords02", "anything").status_code == 404


def test_webhooks_act_only_on_calls_that_exist(bare: InProcessServer) -> None:
    base = bare.http_base
    status = {"CallSid": "CAnobody", "CallStatus": "completed"}
    assert httpx.post(f"{base}/webhook/status", data=status).status_code == 404
    digits = {"CallSid": "CAnobody", "Digits": "0501234567"}
    assert httpx.post(f"{base}/webhook/dtmf_done", data=digits).status_code == 404
    assert httpx.post(f"{base}/webhook/dtmf_done", data={"Digits": "0501"}).status_code == 400
    assert httpx.post(f"{base}/webhook/status", data={}).status_code == 400


def test_webhooks_must_be_signed_when_a_token_is_configured(tmp_path: Path) -> None:
    settings = Settings(database=str(tmp_path / "s.db"), twilio_auth_token=TOKEN)
    with InProcessServer(settings, simulation=False) as srv:
        base = srv.http_base
        form = {"CallSid": "CAsigned01", "From": "+972501234567", "To": "+97233000000"}
        sig = RequestValidator(TOKEN).compute_signature(f"{base}/voice", form)
        assert httpx.post(f"{base}/voice", data=form, headers={"X-Twilio-Signature": sig})
        for path, data, ok in (
            # dtmf_done: signed, but this call never streamed, so there is nothing to resume.
            ("/webhook/dtmf_done", {"CallSid": "CAsigned01", "Digits": "0501234567"}, 404),
            ("/webhook/status", {"CallSid": "CAsigned01", "CallStatus": "completed"}, 204),
        ):
            assert httpx.post(f"{base}{path}", data=data).status_code == 403
            sig = RequestValidator(TOKEN).compute_signature(f"{base}{path}", data)
            signed = httpx.post(f"{base}{path}", data=data, headers={"X-Twilio-Signature": sig})
            assert signed.status_code == ok


def test_a_stream_token_opens_one_stream_once(bare: InProcessServer) -> None:
    base = bare.http_base

    async def refused(url: str, call_sid: str, params: dict[str, str]) -> bool:
        async with websockets.connect(url) as ws:
            await ws.send(start_msg(call_sid, "MZreplay", params))
            try:
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if msg["event"] == "media":
                        return False
            except websockets.ConnectionClosed:
                return True

    async def go() -> None:
        async with RawCall(base, "CAreplay01") as call:
            await call.until_mark()
            # A second stream with the same CallSid and token while the call is live.
            assert await refused(call.url, call.call_sid, call.params)
            await call.silence(5)  # the first stream is unharmed
            await call.stop()
        await asyncio.sleep(0.5)
        # ...and after the call has ended.
        assert await refused(call.url, call.call_sid, call.params)

    asyncio.run(go())
    assert len(bare.runtime.active) == 0


def test_beyond_the_call_cap_voice_apologises_in_hebrew_and_hangs_up(
    prod: InProcessServer,
) -> None:
    base = prod.http_base
    answers = [voice(base, f"CAcap{i:04d}") for i in range(5)]
    twimls = [ET.fromstring(r.text) for r in answers]
    streams = [t for t in twimls if t.find("./Connect/Stream") is not None]
    busy = [t for t in twimls if t.find("./Hangup") is not None]
    assert len(streams) <= 3 and busy
    say = busy[0].find("./Say")
    assert say is not None and say.get("language") == "he-IL"
    assert (say.get("voice") or "").startswith("Google.he-IL-")
    assert any("\u0590" <= ch <= "\u05ff" for ch in say.text or "")
    _forget_tokens(prod)  # leave the cap free for the other tests


def _forget_tokens(srv: InProcessServer) -> None:
    """Drop the server's unused stream tokens (calls answered that will never stream)."""
    from sqlalchemy import delete

    from voicectl.store.streams import StreamTokenRow

    with srv.runtime.db.session() as s:
        s.execute(delete(StreamTokenRow).where(StreamTokenRow.used_at.is_(None)))


def test_voice_field_limits(bare: InProcessServer) -> None:
    base = bare.http_base
    big = {"CallSid": "CAbig01", "From": "x" * 100_000}
    assert httpx.post(f"{base}/voice", data=big).status_code == 413
    long_from = {"CallSid": "CAbig02", "From": "1" * 1000}
    assert httpx.post(f"{base}/voice", data=long_from).status_code == 400
    assert httpx.post(f"{base}/voice", data={"CallSid": "<script>"}).status_code == 400
    for sid in ("CAbig01", "CAbig02"):  # refused requests leave nothing behind
        assert token_business(bare.runtime.db, sid) is None
    with httpx.Client(timeout=30) as client:  # a kept-alive connection survives a 413
        assert client.post(f"{base}/voice", data=big).status_code == 413
        assert client.post(f"{base}/voice", data={"CallSid": "CAbig03"}).status_code == 200


def test_unused_stream_tokens_expire_and_are_purged(tmp_path: Path) -> None:
    """Nothing between `/voice` and `/media` is kept in memory; the issued-token rows in
    the database are bounded by their expiry, and an expired token opens nothing."""
    from voicectl.store.streams import count_rows

    settings = Settings(database=str(tmp_path / "p.db"), stream_token_ttl_sec=2)
    with InProcessServer(settings, simulation=False) as srv:
        answers = [voice(srv.http_base, f"CApend{i:04d}") for i in range(20)]
        assert count_rows(srv.runtime.db)[0] > 1
        time.sleep(3.1)  # past the tokens' expiry (whole seconds, rounded up)
        url, params = stream_of(voice(srv.http_base, "CApendlast").text)
        assert params["token"] and count_rows(srv.runtime.db)[0] == 1  # the old ones purged
        old_url, old_params = stream_of(answers[0].text)

        async def refused() -> bool:
            async with websockets.connect(old_url) as ws:
                await ws.send(start_msg("CApend0000", "MZexpired", old_params))
                try:
                    await asyncio.wait_for(ws.recv(), 5)
                except websockets.ConnectionClosed:
                    return True
            return False

        assert asyncio.run(refused())


def test_require_signatures_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    srv = ServeProcess(
        tmp_path, "--require-signatures", env={"VOICECTL_DATABASE": str(tmp_path / "x.db")}
    )
    assert srv.proc.wait(timeout=60) == 2
    assert "TWILIO_AUTH_TOKEN" in srv.output()


def test_an_unauthenticated_server_warns_at_start_up(tmp_path: Path) -> None:
    with ServeProcess(tmp_path, env={"VOICECTL_DATABASE": str(tmp_path / "w.db")}) as srv:
        srv.wait_healthy()
    out = srv.output()
    assert "WARNING" in out and "TWILIO_AUTH_TOKEN is not set" in out
    assert "accept_sim_params is on" not in out
