"""`CommitGate`: side effects are never speculative.

With speculative endpointing (docs/vad.md) a caller turn may run before its utterance is
known to be over; if the caller goes on within the resume window, the turn is taken back
as if it never happened. Reading (`find_slots`) may run early; writing
(`create_appointment`, `attach_phone`, anything that changes the database or the world)
may not: a writing tool of a speculative turn waits here until the session commits the
turn (the window passed in silence) and is refused if it takes the turn back.

The gate is the one thread-safe meeting point of the loop thread (the runner passes on
the session's `RunTurn` / `CommitTurn` / `TakeBack`) and the agent's worker thread (the
tool asks `may_write`). The call core stays sans-I/O: it only says which turns commit.
"""

from __future__ import annotations

import threading

#: The longest a writing tool waits for its turn's commit point, seconds. The session
#: decides within the resume window (at most 3 s, `turn_resume_window_ms`) after the end
#: of speech, or by the clock a few frames later if the stream stalls; an undecided turn
#: after this long writes nothing (deny by default).
MAX_WAIT_S = 5.0

_SPECULATIVE, _COMMITTED, _TAKEN_BACK = "speculative", "committed", "taken_back"


class CommitGate:
    """Per-call gate between a speculative turn and its side-effecting tools.

    Args:
        max_wait_s: the longest `may_write` blocks, seconds.
    """

    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition()
        self._turn: int | None = None
        self._state = _COMMITTED
        self._early: dict[int, str] = {}  # decisions that came before their turn ran

    def begin(self, turn_index: int, speculative: bool) -> None:
        """Turn `turn_index`'s agent is about to run (loop thread)."""
        with self._cond:
            self._turn = turn_index
            state = self._early.pop(turn_index, None)
            self._early = {k: v for k, v in self._early.items() if k > turn_index}
            self._state = state or (_SPECULATIVE if speculative else _COMMITTED)
            self._cond.notify_all()

    def commit(self, turn_index: int) -> None:
        """The session committed the turn: its writes may run (loop thread)."""
        self._decide(turn_index, _COMMITTED)

    def take_back(self, turn_index: int) -> None:
        """The session took the turn back: its writes are refused (loop thread)."""
        self._decide(turn_index, _TAKEN_BACK)

    def _decide(self, turn_index: int, state: str) -> None:
        with self._cond:
            if turn_index == self._turn:
                self._state = state
                self._cond.notify_all()
            elif self._turn is None or turn_index > self._turn:
                self._early[turn_index] = state

    def may_write(self, tool: str) -> bool:
        """Called by a side-effecting tool (`tool` is its name) on the agent's thread
        before it writes: blocks while the current turn is speculative, at most
        `max_wait_s`. True = write; False = the turn was taken back (or never decided):
        write nothing."""
        with self._cond:
            decided = self._cond.wait_for(lambda: self._state != _SPECULATIVE, self.max_wait_s)
            return decided and self._state == _COMMITTED
