"""A call's saved conversation between its streams holds when writers race (issue 12:
`serve --workers N` shares one database): the `<Gather>` result and the stream's end
may be written at the same moment by two processes - both land, neither fails - on a
real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

from helpers import race

from voicectl.agent.base import Message
from voicectl.store.call_state import gather_returned, save_call_state, take_call_state
from voicectl.store.calls import CallRow
from voicectl.store.db import Database

CALLS = 10


def test_gather_result_and_stream_end_racing_both_land(db_url: str) -> None:
    db = Database(db_url)
    sids = [f"CArace{i:02d}" for i in range(CALLS)]
    with db.session() as s:
        s.add_all(CallRow(call_sid=sid, business_id="demo-spa") for sid in sids)
    history = [Message("user", "שלום"), Message("assistant", "מה המספר?")]

    def write(i: int) -> None:
        sid = sids[i // 2]
        if i % 2:
            assert gather_returned(db, sid, "0501234567", "+972501234567")
        else:
            save_call_state(db, sid, history, {"waiting": "phone"}, 3)

    race(2 * CALLS, write)  # before: IntegrityError / "database is locked" escaped
    for sid in sids:
        saved = take_call_state(db, sid)
        assert saved is not None
        assert [m.content for m in saved.history] == ["שלום", "מה המספר?"]
        assert saved.agent_state == {"waiting": "phone"} and saved.next_turn == 3
        assert saved.resume is not None
        assert (saved.resume.kind, saved.resume.text) == ("dtmf_phone", "+972501234567")
        assert saved.caller_number == "+972501234567"
    db.dispose()


def test_racing_gather_results_of_one_call_leave_one_resume(db_url: str) -> None:
    db = Database(db_url)
    with db.session() as s:
        s.add(CallRow(call_sid="CAtwice", business_id="demo-spa"))
    race(8, lambda i: gather_returned(db, "CAtwice", "12", None))
    saved = take_call_state(db, "CAtwice")
    assert saved is not None and saved.resume is not None
    assert (saved.resume.kind, saved.resume.text) == ("dtmf_invalid", "12")
    assert saved.history == [] and saved.next_turn == 0
    again = take_call_state(db, "CAtwice")
    assert again is not None and again.resume is None  # consumed once
    db.dispose()
