"""Stream tokens and live streams shared by several processes hold on both databases:
the per-box call cap under a race, and one stream per token and per call."""

from __future__ import annotations

from helpers import race

from voicectl.store import streams
from voicectl.store.db import Database

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
