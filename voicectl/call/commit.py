"""`CommitGate`: side effects are never speculative.

With speculative endpointing (docs/vad.md) a caller turn may run before its utterance is
known to be over; if the caller goes on within the resume window, the turn is taken back
as if it never happened. Reading (`find_slots`) may run early. Writing may not, in one of
two ways:

- **Hold** (`create_appointment`): the tool asks `open_write(tool, may_hold=True)`; in a
  speculative turn the answer is `HOLD`, and the tool writes a held reservation at once
  (`store/holds.py`: the slot's cells are taken, race-safe, in the database; no lead, no
  outbox event) and hands its id back with `held`. The gate keeps the turn's holds: the
  session's `CommitTurn` returns them from `commit` (the runner confirms them - status
  `booked`, the event - off the loop), its `TakeBack` from `take_back` (the runner
  releases them). Whoever settles a hold says so with `settled`. If the turn was decided
  while the hold was being written, `held` says `CONFIRM` or `RELEASE` and the tool's own
  thread settles it.
- **Wait** (`attach_phone`, any other writer): `may_write` blocks while the turn is
  speculative and is refused if it is taken back.

Ordering, guaranteed here rather than by timing: a write of turn N (hold or not), and a
read (`wait_settled`, before `find_slots`), waits until every hold of the turns before N
is settled - so the re-run of a taken-back utterance, which usually asks for the same
slot, never meets its own turn's hold (not even as a slot `find_slots` leaves out), and a
later turn's `attach_phone` never touches a booking whose confirmation is still running.
A write that does not hold also waits for its own turn's holds (the `appointment.created`
event goes first). Every wait is bounded by `max_wait_s`; an undecided turn or an
unsettled hold after that long gets the write refused (deny by default).

The gate is the one thread-safe meeting point of the loop thread (the runner passes on
the session's `RunTurn` / `CommitTurn` / `TakeBack`) and the agent's worker thread (the
tools). The call core stays sans-I/O: the session only says which turns commit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

#: The longest a writing tool waits, seconds: for its turn's commit point, or for the
#: holds of earlier turns to be settled. The session decides within the resume window
#: (at most 3 s, `turn_resume_window_ms`) after the end of speech, or by the clock a few
#: frames later if the stream stalls; a confirmation or release is one short transaction.
MAX_WAIT_S = 5.0

_SPECULATIVE, _COMMITTED, _TAKEN_BACK = "speculative", "committed", "taken_back"

#: `Ticket.mode`: write now (the turn is committed), write a hold (it is speculative), or
#: write nothing (taken back, or undecided / unsettled for `max_wait_s`).
WRITE, HOLD, REFUSE = "write", "hold", "refuse"
#: `held` answers: the gate keeps the hold for the turn's decision; or the turn was decided
#: while it was written, and the caller confirms / releases it now (then calls `settled`).
KEEP, CONFIRM, RELEASE = "keep", "confirm", "release"


@dataclass(frozen=True)
class Ticket:
    """`open_write`'s answer: `mode` (`WRITE`, `HOLD` or `REFUSE`) for turn `turn`."""

    mode: str
    turn: int | None


class CommitGate:
    """Per-call gate between a speculative turn and its side-effecting tools.

    Args:
        max_wait_s: the longest `open_write` / `may_write` blocks, seconds.
    """

    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition()
        self._turn: int | None = None
        self._states: dict[int, str] = {}  # begun turns still of interest -> state
        self._early: dict[int, str] = {}  # decisions that came before their turn ran
        self._holds: dict[int, list[int]] = {}  # undecided turn -> its kept holds
        self._writing: dict[int, int] = {}  # turn -> hold writes in flight
        self._unsettled: dict[int, int] = {}  # hold id -> turn: being confirmed / released

    # -- the loop thread -----------------------------------------------------------------
    def begin(self, turn_index: int, speculative: bool) -> None:
        """Turn `turn_index`'s agent is about to run (loop thread)."""
        with self._cond:
            self._turn = turn_index
            state = self._early.pop(turn_index, None)
            self._early = {k: v for k, v in self._early.items() if k > turn_index}
            self._states[turn_index] = state or (_SPECULATIVE if speculative else _COMMITTED)
            self._prune()
            self._cond.notify_all()

    def commit(self, turn_index: int) -> list[int]:
        """The session committed the turn: its writes may run, and its holds (returned:
        appointment ids) are to be confirmed, then `settled` (loop thread)."""
        return self._decide(turn_index, _COMMITTED)

    def take_back(self, turn_index: int) -> list[int]:
        """The session took the turn back: its writes are refused, and its holds
        (returned) are to be released, then `settled` (loop thread)."""
        return self._decide(turn_index, _TAKEN_BACK)

    def _decide(self, turn_index: int, state: str) -> list[int]:
        with self._cond:
            if turn_index in self._states:
                self._states[turn_index] = state
            elif self._turn is None or turn_index > self._turn:
                self._early[turn_index] = state
            kept = self._holds.pop(turn_index, [])
            for hold in kept:
                self._unsettled[hold] = turn_index
            self._prune()
            self._cond.notify_all()
            return kept

    # -- any thread ----------------------------------------------------------------------
    def settled(self, holds: list[int]) -> None:
        """`holds` are confirmed or released (or given up): writes waiting for them go on."""
        with self._cond:
            for hold in holds:
                self._unsettled.pop(hold, None)
            self._prune()
            self._cond.notify_all()

    def pending(self) -> int:
        """Holds not settled yet: kept for an undecided turn, being written, confirmed or
        released (for the runner's end of call and for tests)."""
        with self._cond:
            return self._pending()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no hold is pending (`pending() == 0`), at most `timeout_s`; True if
        none is. For the end of a call, off the loop: a hold written as the call stopped
        is confirmed by its tool's thread."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending(), timeout_s)

    # -- the agent's thread --------------------------------------------------------------
    def open_write(self, tool: str, *, may_hold: bool = False) -> Ticket:
        """Called by side-effecting tool `tool` before it writes: blocks (at most
        `max_wait_s`) until the holds of earlier turns are settled and the current turn
        allows the write. A `HOLD` ticket must be answered with `held`."""
        with self._cond:
            turn = self._turn

            def ready() -> bool:
                state = self._state(turn)
                if state == _TAKEN_BACK:
                    return True
                if self._earlier_pending(turn):
                    return False
                if state == _SPECULATIVE:
                    return may_hold
                return not any(t == turn for t in self._unsettled.values())

            if not self._cond.wait_for(ready, self.max_wait_s):
                return Ticket(REFUSE, turn)
            state = self._state(turn)
            if state == _TAKEN_BACK:
                return Ticket(REFUSE, turn)
            if state == _SPECULATIVE and turn is not None:
                self._writing[turn] = self._writing.get(turn, 0) + 1
                return Ticket(HOLD, turn)
            return Ticket(WRITE, turn)

    def held(self, ticket: Ticket, appointment_id: int | None) -> str:
        """The hold write of `ticket` is done: `appointment_id` is the hold, or None (the
        write failed: nothing to settle). Returns `KEEP` (the gate keeps it for the
        turn's decision), or `CONFIRM` / `RELEASE` - the turn was decided meanwhile: the
        caller settles the hold itself, then calls `settled`."""
        turn = ticket.turn
        assert ticket.mode == HOLD and turn is not None
        with self._cond:
            left = self._writing.get(turn, 1) - 1
            if left > 0:
                self._writing[turn] = left
            else:
                self._writing.pop(turn, None)
            state = self._state(turn)
            answer = KEEP
            if appointment_id is not None:
                if state == _SPECULATIVE:
                    self._holds.setdefault(turn, []).append(appointment_id)
                else:
                    self._unsettled[appointment_id] = turn
                    answer = CONFIRM if state == _COMMITTED else RELEASE
            self._prune()
            self._cond.notify_all()
            return answer

    def wait_settled(self) -> bool:
        """Called before a read (`find_slots`) on the agent's thread: blocks until the holds
        of the turns before the current one are settled, at most `max_wait_s`. True when
        they are (False: read anyway - a hold still there is only a slot not offered)."""
        with self._cond:
            turn = self._turn
            return self._cond.wait_for(lambda: not self._earlier_pending(turn), self.max_wait_s)

    def may_write(self, tool: str) -> bool:
        """Called by a side-effecting tool that does not hold (`tool` is its name) on the
        agent's thread before it writes: blocks while the current turn is speculative or
        holds before it are unsettled, at most `max_wait_s`. True = write; False = the
        turn was taken back (or never decided): write nothing."""
        return self.open_write(tool).mode == WRITE

    # -- internals (under the lock) ------------------------------------------------------
    def _pending(self) -> int:
        kept = sum(len(v) for v in self._holds.values())
        return kept + sum(self._writing.values()) + len(self._unsettled)

    def _state(self, turn: int | None) -> str:
        return _COMMITTED if turn is None else self._states.get(turn, _COMMITTED)

    def _earlier_pending(self, turn: int | None) -> bool:
        if turn is None:
            return False
        return (
            any(t < turn for t in self._unsettled.values())
            or any(t < turn for t in self._holds)
            or any(t < turn for t in self._writing)
        )

    def _prune(self) -> None:
        """Forget the states of earlier turns that are decided and have nothing in flight."""
        busy = set(self._holds) | set(self._writing) | set(self._unsettled.values())
        self._states = {
            t: s
            for t, s in self._states.items()
            if t == self._turn or s == _SPECULATIVE or t in busy
        }
