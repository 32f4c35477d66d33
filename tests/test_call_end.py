"""A call ends exactly once, whichever ending comes first (issue 7): `stop`, a dropped
socket, the bot's hang-up and Twilio's status callback - one `call.ended` event row per
call, with the payload issue 9's flows read. Racing endings are driven over a real
loopback WebSocket against the real server, and in threads against a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets
from helpers import race
from media_client import start_msg
from sqlalchemy import select

from voicectl.agent.base import AgentReply, Conversation, Message, TurnInput
from voicectl.call.actions import CancelReply, RunTurn
from voicectl.call.runner import CallRunner
from voicectl.config import Settings
from voicectl.sim.runner import InProcessServer
from voicectl.store.booking import EventRow
from voicectl.store.call_end import write_call_ended
from voicectl.store.call_state import take_call_state
from voicectl.store.calls import CallRow
from voicectl.store.db import Database
from voicectl.telephony.twilio.twiml import GATHER_NO_INPUT_HE

CONTRACT = {
    "call_sid": str,
    "business_id": str,
    "caller_number": (str, type(None)),
    "started_at": str,
    "ended_at": str,
    "duration_s": float,
    "outcome": str,
    "ended_by": str,
    "turns": int,
    "appointment_ids": list,
}


def _ended_events(db: Database, call_sid: str) -> list[dict]:
    with db.session() as s:
        rows = s.scalars(
            select(EventRow).where(EventRow.call_sid == call_sid, EventRow.type == "call.ended")
        ).all()
        for r in rows:
            assert r.business_id  # the outbox columns are set, not only the payload
        return [json.loads(r.payload) for r in rows]


def _check_contract(payload: dict) -> None:
    assert set(payload) == set(CONTRACT)
    for key, kind in CONTRACT.items():
        assert isinstance(payload[key], kind), key
    for key in ("started_at", "ended_at"):
        assert datetime.fromisoformat(payload[key]).utcoffset().total_seconds() == 0


def test_racing_writers_end_a_call_once(db_url: str) -> None:
    db = Database(db_url)
    with db.session() as s:
        s.add(CallRow(call_sid="CArace", business_id="demo-spa", caller_number="+972501234567"))

    def end(i: int) -> bool:
        by = ["stop", "status_callback", "disconnect", "bot_hangup"][i % 4]
        return write_call_ended(db, "CArace", outcome="completed", ended_by=by)

    results = race(8, end)
    assert sorted(results) == [False] * 7 + [True]
    (payload,) = _ended_events(db, "CArace")
    _check_contract(payload)
    assert payload["caller_number"] == "+972501234567"
    assert payload["business_id"] == "demo-spa"


def test_the_writer_refuses_values_outside_the_contract(tmp_path: Path) -> None:
    db = Database(tmp_path / "end.db")
    with pytest.raises(ValueError, match="outcome"):
        write_call_ended(db, "CA1", outcome="hung-up", ended_by="stop")
    assert write_call_ended(db, "CAnever", outcome="busy", ended_by="status_callback") is False


# -- over the real server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(module_db_url: str) -> Iterator[InProcessServer]:
    with InProcessServer(Settings(database=module_db_url)) as srv:
        yield srv


def _db(server: InProcessServer) -> Database:
    return server._server.config.app.state.runtime.db  # the server's own database


def _sign(token: str | None, url: str, form: dict[str, str]) -> dict[str, str]:
    if not token:
        return {}
    from twilio.request_validator import RequestValidator

    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form)}


def _voice(base: str, call_sid: str, token: str | None = None) -> tuple[str, dict[str, str]]:
    form = {"CallSid": call_sid, "From": "+972501234567", "To": "+97233000000"}
    r = httpx.post(f"{base}/voice", data=form, headers=_sign(token, f"{base}/voice", form))
    stream = ET.fromstring(r.text).find("./Connect/Stream")
    assert stream is not None
    return stream.get("url", ""), {p.get("name", ""): p.get("value", "") for p in stream}


async def _open_stream(base: str, call_sid: str, token: str | None = None):  # type: ignore[no-untyped-def]
    url, params = _voice(base, call_sid, token)
    ws = await websockets.connect(url, additional_headers=_sign(token, url, {}))
    sid = "MZ" + call_sid
    await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    await ws.send(start_msg(call_sid, sid, params))
    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))  # the greeting is playing
    assert msg["event"] == "media"
    return ws, sid


def _stop(call_sid: str, sid: str) -> str:
    return json.dumps(
        {"event": "stop", "streamSid": sid, "stop": {"accountSid": "AC1", "callSid": call_sid}}
    )


async def _status(base: str, call_sid: str, status: str) -> int:
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"{base}/webhook/status", data={"CallSid": call_sid, "CallStatus": status}
        )
        return r.status_code


async def _wait_ended(db: Database, call_sid: str) -> list[dict]:
    for _ in range(100):
        events = await asyncio.to_thread(_ended_events, db, call_sid)
        if events:
            await asyncio.sleep(0.3)  # a second (wrong) row would land now
            return await asyncio.to_thread(_ended_events, db, call_sid)
        await asyncio.sleep(0.05)
    return []


def test_status_callback_racing_stop_ends_the_call_once(server: InProcessServer) -> None:
    async def race(call_sid: str, status_first: bool) -> list[dict]:
        ws, sid = await _open_stream(server.http_base, call_sid)
        stop = ws.send(_stop(call_sid, sid))
        status = _status(server.http_base, call_sid, "completed")
        pair = (status, stop) if status_first else (stop, status)
        codes = await asyncio.gather(*pair)
        assert 204 in codes
        await ws.close()
        return await _wait_ended(_db(server), call_sid)

    for i in range(4):
        events = asyncio.run(race(f"CArace{i}", status_first=bool(i % 2)))
        assert len(events) == 1, events
        _check_contract(events[0])
        assert events[0]["ended_by"] in ("stop", "status_callback")
        assert events[0]["outcome"] == "completed"
        assert events[0]["turns"] >= 1  # the record was saved before the event


def test_a_status_callback_for_a_live_call_closes_its_stream(server: InProcessServer) -> None:
    async def go() -> tuple[list[dict], bool]:
        ws, _ = await _open_stream(server.http_base, "CAlive")
        assert await _status(server.http_base, "CAlive", "canceled") == 204
        closed = False
        try:
            for _ in range(1000):
                await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            closed = True
        # Later endings change nothing.
        assert await _status(server.http_base, "CAlive", "completed") == 204
        return await _wait_ended(_db(server), "CAlive"), closed

    events, closed = asyncio.run(go())
    assert closed
    assert [(e["ended_by"], e["outcome"]) for e in events] == [("status_callback", "canceled")]
    rec = httpx.get(f"{server.http_base}/calls/CAlive").json()
    assert rec["status"] == "canceled" and not rec["active"]


def test_a_dropped_socket_ends_the_call_as_a_disconnect(server: InProcessServer) -> None:
    async def go() -> list[dict]:
        ws, _ = await _open_stream(server.http_base, "CAdrop")
        ws.transport.abort()  # no `stop`, no close handshake
        events = await _wait_ended(_db(server), "CAdrop")
        assert await _status(server.http_base, "CAdrop", "completed") == 204
        return events

    events = asyncio.run(go())
    assert [(e["ended_by"], e["outcome"]) for e in events] == [("disconnect", "completed")]


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed"])
def test_a_call_that_never_streamed_still_ends_once(server: InProcessServer, status: str) -> None:
    sid = f"CAnostream{status}"
    _voice(server.http_base, sid)
    for _ in range(2):
        assert asyncio.run(_status(server.http_base, sid, status)) == 204
    events = _ended_events(_db(server), sid)
    assert [(e["ended_by"], e["outcome"], e["turns"]) for e in events] == [
        ("status_callback", status, 0)
    ]


def test_the_bot_hangs_up_through_rest_after_its_goodbye_played(tmp_path: Path) -> None:
    """Two silences: a nudge, then a goodbye with end_call. Once the goodbye's mark is
    echoed, the server asks Twilio's REST API (the real `twilio` client, pointed at the
    fake) to complete the call, closes the stream, and writes `call.ended` once."""
    from voicectl.sim.rest_fake import TwilioRestFake

    account, token = "AC" + "5" * 32, "hangup-token"
    with TwilioRestFake(auth_token=token) as fake:
        settings = Settings(
            database=str(tmp_path / "s.db"),
            silence_timeout_ms=1000,
            twilio_account_sid=account,
            twilio_auth_token=token,
            twilio_api_base_url=fake.base_url,
        )
        with InProcessServer(settings) as srv:
            fake.register("CAbye", account)

            async def go() -> bool:
                ws, sid = await _open_stream(srv.http_base, "CAbye", token)
                closed = False
                try:
                    while True:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
                        if msg["event"] == "mark":  # every reply played at once
                            await ws.send(json.dumps({"event": "mark", "streamSid": sid,
                                                      "mark": msg["mark"]}))  # fmt: skip
                except websockets.ConnectionClosed:
                    closed = True
                return closed

            assert asyncio.run(go())
            events = asyncio.run(_wait_ended(_db(srv), "CAbye"))
        reqs = fake.requests_for("CAbye")
    assert [(q.method, q.form, q.status) for q in reqs] == [("POST", {"Status": "completed"}, 200)]
    assert reqs[0].authorized and reqs[0].user_agent.startswith("twilio-python/")
    assert [(e["ended_by"], e["outcome"]) for e in events] == [("bot_hangup", "completed")]


def test_a_caller_hanging_up_on_the_goodbye_is_still_the_bots_ending(tmp_path: Path) -> None:
    """The caller's `stop` arrives right behind the goodbye's mark echo, before the bot's
    hang-up ran: the call still ended because the bot ended it (one `call.ended`,
    `bot_hangup`), as the call log says."""
    settings = Settings(database=str(tmp_path / "s.db"), silence_timeout_ms=1000)
    with InProcessServer(settings) as srv:

        async def go() -> None:
            ws, sid = await _open_stream(srv.http_base, "CAbye2")
            try:
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
                    if msg["event"] != "mark":
                        continue
                    await ws.send(json.dumps({"event": "mark", "streamSid": sid,
                                              "mark": msg["mark"]}))  # fmt: skip
                    if msg["mark"]["name"] == "turn-2":  # greeting, nudge, goodbye
                        await ws.send(_stop("CAbye2", sid))
            except websockets.ConnectionClosed:
                pass

        asyncio.run(go())
        events = asyncio.run(_wait_ended(_db(srv), "CAbye2"))
    assert [(e["ended_by"], e["outcome"]) for e in events] == [("bot_hangup", "completed")]


# -- the <Gather> fallback's server side (seed 000 path B) --------------------------------


def _streamed(server: InProcessServer, call_sid: str) -> None:
    """A call whose first stream ran and stopped (as when Twilio moves it to a Gather)."""

    async def go() -> None:
        ws, sid = await _open_stream(server.http_base, call_sid)
        await ws.send(_stop(call_sid, sid))
        await ws.close()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("digits", "kind", "text", "say"),
    [
        ("0501234567", "dtmf_phone", "+972501234567", None),
        ("", "dtmf_skipped", "", GATHER_NO_INPUT_HE),
        ("12", "dtmf_invalid", "12", None),
    ],
)
def test_dtmf_done_stores_the_result_and_reconnects_the_stream(
    server: InProcessServer, digits: str, kind: str, text: str, say: str | None
) -> None:
    sid = f"CAgather{kind}"
    _streamed(server, sid)
    r = httpx.post(f"{server.http_base}/webhook/dtmf_done", data={"CallSid": sid, "Digits": digits})
    assert r.status_code == 200
    root = ET.fromstring(r.text)
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url", "").endswith("/media")
    params = {p.get("name"): p.get("value") for p in stream}
    assert len(params["token"]) == 64  # a fresh stream token for the same CallSid
    said = root.find("./Say")
    assert (said.text if said is not None else None) == say
    if said is not None:
        assert said.get("language") == "he-IL" and said.get("voice", "").startswith("Google.he-IL")
    saved = take_call_state(_db(server), sid)
    assert saved is not None and saved.resume is not None
    assert (saved.resume.kind, saved.resume.text) == (kind, text)
    assert saved.next_turn >= 1 and saved.history  # the conversation so far is kept
    if kind == "dtmf_phone":
        assert saved.caller_number == "+972501234567"


# -- the runner applies CancelReply to the history ----------------------------------------


class _Agent:
    name = "stub"

    def respond(self, turn, conv, tools):  # type: ignore[no-untyped-def]
        conv.history.append(Message("user", turn.text))
        conv.history.append(Message("assistant", "אחת שתיים. שלוש ארבע."))
        return AgentReply("אחת שתיים. שלוש ארבע.")


class _TTS:
    name, sample_rate = "stub", 8000

    def synthesize(self, text: str):  # type: ignore[no-untyped-def]
        yield np.full(800, 1000, np.int16)


class _Transport:
    async def send_media(self, payload: bytes) -> None: ...
    async def send_mark(self, name: str) -> None: ...
    async def send_clear(self) -> None: ...
    async def close(self) -> None: ...


class _Session:
    """Only what the runner calls; every input answers with no actions."""

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return lambda *a, **k: []

    def log(self, level: str, message: str) -> None: ...


def test_cancel_reply_cuts_the_assistant_message_to_what_was_heard() -> None:
    conv = Conversation("CA1", "demo-spa", datetime.now())

    async def go() -> None:
        runner = CallRunner(
            session=_Session(),  # type: ignore[arg-type]
            transport=_Transport(),
            agent=_Agent(),  # type: ignore[arg-type]
            tts=_TTS(),  # type: ignore[arg-type]
            tools=None,
            conversation=conv,
            business_now=datetime.now,
        )
        runner.dispatch([RunTurn(1, TurnInput("speech", "שלום"))])
        await asyncio.sleep(0.3)
        runner.dispatch([CancelReply(1, "אחת שתיים.")])
        await runner.finish("test", ended_by="stop")

    asyncio.run(go())
    reply = conv.history[-1]
    assert (reply.role, reply.content, reply.interrupted) == ("assistant", "אחת שתיים.", True)
    assert json.dumps(reply.content, ensure_ascii=False)
