"""Stream tokens and live streams shared by several processes hold on both databases:
the per-box call cap under a race, and one stream per token and per call."""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import eventually, race
from media_client import RawCall, start_msg, voice, wait_record
from sqlalchemy.exc import OperationalError

from voicectl.config import Settings
from voicectl.sim.runner import InProcessServer
from voicectl.store import records, streams
from voicectl.store.db import Database
from voicectl.telephony.twilio import app as app_module
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


def test_the_box_cap_counts_each_call_in_flight_once(db_url: str) -> None:
    """A call counts once whether live, answered or both (a live call sent to
    `<Gather>` is issued a new token); expired tokens and other boxes do not count; a
    call already counted is never refused at the cap, a new one is."""
    db = Database(db_url)

    def issue(nonce: str, call_sid: str, host: str = "box-1", ttl_s: float = 60) -> bool:
        return streams.issue_token(
            db,
            nonce=nonce,
            call_sid=call_sid,
            business_id="demo-spa",
            host=host,
            ttl_s=ttl_s,
            max_in_flight=3,
        )

    assert issue("a1", "CAa") and issue("b1", "CAb")
    assert (
        streams.claim_stream(
            db, nonce="a1", call_sid="CAa", stream_sid="MZa", owner="box-1:1:x", host="box-1"
        )
        is None
    )
    assert issue("a2", "CAa")  # CAa live and answered again: still one call
    assert issue("x1", "CAx", host="box-2")  # another box's call
    assert issue("old", "CAold", ttl_s=0.001)  # expires at once
    time.sleep(0.01)
    assert streams.calls_in_flight(db, "box-1") == 2
    assert issue("c1", "CAc")  # the third call
    assert not issue("d1", "CAd")  # a fourth is refused
    assert issue("b2", "CAb")  # one already counted is not
    assert streams.calls_in_flight(db, "box-1") == 3
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


def test_a_live_row_whose_last_record_write_was_given_up_stops_counting(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record writer gives up a stream's final write (the database failed past its
    retries): the call's live-stream row is released all the same, so the box's only
    call slot (`max_concurrent_calls: 1`) takes the next caller instead of turning every
    caller away until a restart."""
    monkeypatch.setattr(app_module, "HOUSEKEEPING_S", 0.2)
    real_save = records.save_call

    def final_write_fails(db: Database, snap: records.CallSnapshot) -> None:
        if snap.ended:
            raise OperationalError("UPDATE calls", {}, Exception("disk I/O error"))
        real_save(db, snap)

    monkeypatch.setattr(records, "save_call", final_write_fails)
    settings = Settings(database=db_url, max_concurrent_calls=1, record_wait_sec=1.0)
    with InProcessServer(settings) as srv:
        srv.runtime.records.retry_delays_s = (0.05,)

        async def go() -> None:
            async with RawCall(srv.http_base, "CAstuck0001") as call:
                await call.until_mark()
                await call.stop()

        asyncio.run(go())
        db = srv.runtime.db
        assert eventually(lambda: srv.runtime.records.failed >= 1)  # the write given up
        assert eventually(lambda: streams.count_rows(db)[1] == 0)
        assert streams.calls_in_flight(db, srv.runtime.host) == 0
        answer = voice(srv.http_base, "CAnext00001")
        assert "<Connect>" in answer.text, answer.text  # not the "all lines busy" apology


def test_the_sweep_leaves_rows_of_calls_the_process_still_holds(db_url: str) -> None:
    db = Database(db_url)
    for sid in ("CAheld", "CAgone"):
        assert streams.issue_token(
            db, nonce=f"n{sid}", call_sid=sid, business_id="demo-spa", host="box-1", ttl_s=60
        )
        assert (
            streams.claim_stream(
                db, nonce=f"n{sid}", call_sid=sid, stream_sid="MZ" + sid, owner="me", host="box-1"
            )
            is None
        )
    assert (
        streams.claim_stream(
            db, nonce="nCAheld", call_sid="CAother", stream_sid="MZx", owner="other", host="box-1"
        )
        == streams.UNKNOWN_TOKEN
    )
    freed = streams.release_orphans(db, "me", held=lambda sid: sid == "CAheld")
    assert freed == ["CAgone"]
    assert streams.stream_is_live(db, "CAheld") and not streams.stream_is_live(db, "CAgone")
    db.dispose()
