"""Stream tokens and live streams shared by several processes hold on both databases:
the per-box call cap under a race, and one stream per token and per call."""

from __future__ import annotations

import asyncio

import pytest
from helpers import race
from media_client import RawCall, start_msg, wait_record

from voicectl.config import Settings
from voicectl.sim.runner import InProcessServer
from voicectl.store import streams
from voicectl.store.db import Database
from voicectl.telephony.twilio.messages import MAX_STREAM_SID_CHARS, ProtocolError, parse_inbound

N = 20


def test_racing_calls_never_pass_the_box_cap(db_url: str) -> None:
    db = Database(db_url)
    issued = race(
        N,
        lambda i: streams.issue_token(
            db,
            nonce=f"n{i:02d}",
            call_sid=f"CA{i:02d}",
            business_id="demo-spa",
            host="box-1",
            ttl_s=60,
            max_in_flight=5,
        ),
    )
    assert sum(bool(x) for x in issued) == 5
    assert streams.calls_in_flight(db, "box-1") == 5
    db.dispose()


def test_one_token_opens_one_stream_whoever_races(db_url: str) -> None:
    db = Database(db_url)
    assert streams.issue_token(
        db, nonce="tok", call_sid="CAone", business_id="demo-spa", host="box-1", ttl_s=60
    )
    results = race(
        N,
        lambda i: streams.claim_stream(
            db,
            nonce="tok",
            call_sid="CAone",
            stream_sid=f"MZ{i:02d}",
            owner=f"box-1:{i}:x",
            host="box-1",
        ),
    )
    assert results.count(None) == 1
    assert set(results) - {None} <= {streams.USED_TOKEN, streams.LIVE}
    assert streams.count_rows(db) == (1, 1)
    db.dispose()


def test_the_longest_stream_sid_the_parser_accepts_carries_a_whole_call(db_url: str) -> None:
    """A streamSid as long as the Media Streams parser allows, over a real loopback
    WebSocket: the stream is claimed, greets, and its record is saved whole - on
    PostgreSQL too, which refuses a value longer than a column's `VARCHAR(n)`."""
    sid = "MZ" + "f" * (MAX_STREAM_SID_CHARS - 2)
    with InProcessServer(Settings(database=db_url)) as srv:

        async def go() -> dict:
            async with RawCall(srv.http_base, "CAlongsid01", stream_sid=sid) as call:
                mark = await call.until_mark()  # the greeting played: the call runs
                assert any(m["event"] == "media" and m["streamSid"] == sid for m in call.received)
                assert mark["streamSid"] == sid
                await call.stop()
            return await wait_record(
                srv.http_base, "CAlongsid01", lambda r: r["status"] == "completed"
            )

        rec = asyncio.run(go())
        db = srv.runtime.db
        assert streams.count_rows(db)[1] == 0  # the live row was released by its streamSid
    assert rec["status"] == "completed" and rec["stream_sid"] == sid
    assert rec["turns"][0]["kind"] == "greeting"
    assert not any("refused" in line for line in rec["log"])


def test_a_stream_sid_longer_than_the_bound_is_refused_by_the_parser() -> None:
    too_long = "MZ" + "f" * (MAX_STREAM_SID_CHARS - 1)
    with pytest.raises(ProtocolError, match="longer than"):
        parse_inbound(start_msg("CA1", too_long, {}))
