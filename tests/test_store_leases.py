"""A box that dies and never comes back does not leave its calls "in-progress" forever
(issue 12, N boxes on one database): every serving process holds a lease in the
database, and any live process closes the calls of a process whose lease lapsed as
"interrupted" - on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from helpers import eventually
from sqlalchemy import select, update

from voicectl.config import Settings
from voicectl.sim.runner import InProcessServer
from voicectl.store import leases, records, streams
from voicectl.store.booking import EventRow
from voicectl.store.calls import CallRow
from voicectl.store.db import Database
from voicectl.telephony.twilio import app as app_module

DEAD = "deadbox:4242:aaaa"  # a box that died: its lease stopped being renewed
ALIVE = "livebox:4343:bbbb"  # another box, renewing
NO_LEASE = "oldbox:4444:cccc"  # a build before leases: judged by its own box only


def _call(db: Database, call_sid: str, owner: str, host: str) -> None:
    with db.session() as s:
        s.add(CallRow(call_sid=call_sid, business_id="demo-spa", owner=owner))
    nonce = f"n{call_sid}"
    assert streams.issue_token(
        db, nonce=nonce, call_sid=call_sid, business_id="demo-spa", host=host, ttl_s=60
    )
    assert (
        streams.claim_stream(
            db, nonce=nonce, call_sid=call_sid, stream_sid="MZ" + call_sid, owner=owner, host=host
        )
        is None
    )


def _lease(db: Database, owner: str, age_s: float) -> None:
    leases.renew(db, owner, owner.split(":")[0])
    with db.session() as s:
        s.execute(
            update(leases.ProcessLeaseRow)
            .where(leases.ProcessLeaseRow.owner == owner)
            .values(renewed_at=datetime.now(UTC) - timedelta(seconds=age_s))
        )


def _status(db: Database, call_sid: str) -> str:
    with db.session() as s:
        row = s.get(CallRow, call_sid)
        assert row is not None
        return row.status


def _ended_by(db: Database, call_sid: str) -> list[str]:
    with db.session() as s:
        payloads = s.scalars(
            select(EventRow.payload).where(
                EventRow.call_sid == call_sid, EventRow.type == "call.ended"
            )
        ).all()
    return [json.loads(p)["ended_by"] for p in payloads]


def _world(db: Database) -> None:
    _call(db, "CAdead", DEAD, "deadbox")
    _call(db, "CAalive", ALIVE, "livebox")
    _call(db, "CAold", NO_LEASE, "oldbox")
    _lease(db, DEAD, leases.LEASE_TTL_S * 2)
    _lease(db, ALIVE, 1.0)


def test_calls_of_a_process_whose_lease_lapsed_are_closed_once(db_url: str) -> None:
    db = Database(db_url)
    _world(db)
    me = "thisbox:1:zzzz"
    assert records.close_lost_owners(db, me) == ["CAdead"]
    assert records.close_lost_owners(db, me) == []  # once, whoever sweeps again
    assert _status(db, "CAdead") == "interrupted"
    assert _ended_by(db, "CAdead") == ["owner_lost"]
    assert not streams.stream_is_live(db, "CAdead")  # its box's call slot is free again
    assert _status(db, "CAalive") == "in-progress" and streams.stream_is_live(db, "CAalive")
    assert _status(db, "CAold") == "in-progress" and _ended_by(db, "CAold") == []
    assert leases.lapsed(db) == set()  # the lapsed lease is forgotten
    rec = records.load_record(db, "CAdead")
    assert rec is not None and "lease lapsed" in rec["log"][-1]
    db.dispose()


def test_start_up_recovery_closes_lapsed_owners_of_other_boxes_too(db_url: str) -> None:
    db = Database(db_url)
    _world(db)
    assert records.recover_interrupted(db, "thisbox:1:zzzz") == ["CAdead"]
    assert _ended_by(db, "CAdead") == ["startup_recovery"]
    assert _status(db, "CAalive") == "in-progress"
    db.dispose()


def test_a_serving_process_holds_a_lease_and_sweeps_lapsed_ones(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "HOUSEKEEPING_S", 0.2)
    setup = Database(db_url)
    with InProcessServer(Settings(database=db_url)) as srv:
        me = srv.runtime.owner
        assert eventually(lambda: me in _leases(setup))  # taken at start, then renewed
        _world(setup)  # a box dies while this one serves
        assert eventually(lambda: _ended_by(setup, "CAdead") == ["owner_lost"])
        assert _status(setup, "CAdead") == "interrupted"
        assert _status(setup, "CAalive") == "in-progress"
    assert me not in _leases(setup)  # a clean stop gives its lease back
    setup.dispose()


def _leases(db: Database) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(leases.ProcessLeaseRow.owner)))
