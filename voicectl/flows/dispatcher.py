"""The outbox dispatcher: events -> deliveries -> handlers and messengers, exactly once.

One round (`run_once`):

1. **Fan-out.** Each unprocessed `events` row is claimed with
   `UPDATE events SET processed_at=now WHERE id=? AND processed_at IS NULL` (row count
   1 = ours) and, in the same transaction, one `flow_deliveries` row is written per handler
   the rules name (`FlowEngine.on_event`), keyed `"<event id>:<handler>"` (unique).
2. **Claim.** Due deliveries (`pending`, `next_attempt_at <= now`, no live lease) are
   claimed with `UPDATE ... SET claimed_by=me, lease_until=now+lease, attempts=attempts+1
   WHERE id=? AND status='pending' AND (claimed_by IS NULL OR lease_until < now)`, checked
   by row count - two dispatchers (threads or processes, SQLite or PostgreSQL) never own
   one delivery at once. A dispatcher that dies keeps its claim only until the lease ends;
   then any dispatcher resumes the delivery.
3. **Deliver.** Older than `max_age_s` -> `failed`. Not yet prepared -> the handler
   decides (text, recipient, or nothing to send) and that is stored. Then the messenger
   sends with the delivery's idempotency key. Every attempt is recorded in
   `flow_attempts`; the result is written only while the claim is still ours.
4. **Retry.** A retryable failure waits `min(backoff_max_s, backoff_base_s * 2**(n-1))`,
   jittered to between half and all of that ("equal jitter", AWS Architecture Blog,
   "Exponential Backoff And Jitter", 2015); a wait that would pass the maximum age fails
   the delivery instead, with the last error shown.

The clock (`now`, UTC) and the random source are injected, so back-off is tested without
sleeping. All database work is synchronous; `FlowWorker` runs rounds in a thread so the
event loop of `voicectl serve` never waits on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Integer, bindparam, or_, select, update

from voicectl import executors
from voicectl.flows.handlers import Event, HandlerError
from voicectl.flows.messengers import OutgoingMessage, PermanentSendError, RetryableSendError
from voicectl.logs import get_logger, mask_phone
from voicectl.store.booking import EventRow, begin_write
from voicectl.store.db import retry_locked
from voicectl.store.flows import AttemptRow, DeliveryRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from voicectl.flows.engine import FlowEngine

_log = get_logger("flows")
_MAX_ERROR = 500


def utcnow() -> datetime:
    """Naive UTC now (the storage convention of the flow tables)."""
    return datetime.now(UTC).replace(tzinfo=None)


def worker_id() -> str:
    """A dispatcher id unique across hosts, processes and restarts: `host:pid:random`."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    `d = min(max_s, base_s * 2**(attempt-1))`, returned as `d/2 + uniform(0, d/2)`.
    """
    d = min(max_s, base_s * (2 ** max(attempt - 1, 0)))
    return d / 2 + rng.uniform(0, d / 2)


@dataclass
class RoundStats:
    """What one `run_once` did (counts of deliveries by outcome)."""

    fanned_out: int = 0
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def idle(self) -> bool:
        return not self.fanned_out and not self.claimed


#: `fan_out`'s poll: the oldest events not fanned out yet (`b_limit` of them).
_WAITING_EVENTS = (
    select(EventRow.id)
    .where(EventRow.processed_at.is_(None))
    .order_by(EventRow.id)
    .limit(bindparam("b_limit", type_=Integer))
)

#: `claim`'s read: due deliveries free to claim, oldest first (`b_now`, `b_limit`).
_DUE_DELIVERIES = (
    select(DeliveryRow.id)
    .where(
        DeliveryRow.status == "pending",
        DeliveryRow.next_attempt_at <= bindparam("b_now"),
        or_(DeliveryRow.claimed_by.is_(None), DeliveryRow.lease_until < bindparam("b_now")),
    )
    .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
    .limit(bindparam("b_limit", type_=Integer))
)


class Dispatcher:
    """Claims and delivers outbox work (see the module docstring).

    Args:
        engine: rules, handlers and messenger.
        name: this dispatcher's id (default `worker_id()`).
        now: the clock, naive UTC.
        rng: the jitter's random source.
    """

    def __init__(
        self,
        engine: FlowEngine,
        *,
        name: str | None = None,
        now: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.db = engine.db
        self.name = name or worker_id()
        self.now = now
        self.rng = rng or random.Random()
        self.delivery = engine.rules.delivery

    # -- 1. fan-out ----------------------------------------------------------------------

    def fan_out(self, limit: int = 200) -> int:
        """Turn up to `limit` unprocessed events into deliveries, in one write transaction;
        returns how many events this dispatcher fanned out."""
        with self.db.session() as s:
            ids = list(s.connection().execute(_WAITING_EVENTS, {"b_limit": limit}).scalars())
        if not ids:
            return 0
        with self.db.session() as s:
            begin_write(s)
            return sum(self._fan_out_one(s, event_id) for event_id in ids)

    def _fan_out_one(self, s: Session, event_id: int) -> bool:
        now = self.now()
        claimed = s.execute(
            update(EventRow)
            .execution_options(synchronize_session=False)
            .where(EventRow.id == event_id, EventRow.processed_at.is_(None))
            .values(processed_at=now)
        ).rowcount
        if claimed != 1:
            return False  # another dispatcher fanned it out
        ev = s.get(EventRow, event_id)
        assert ev is not None
        try:
            payload = json.loads(ev.payload or "{}")
            if not isinstance(payload, dict):
                raise ValueError("payload is not a JSON object")
        except ValueError as exc:
            ev.last_error = f"unreadable payload: {exc}"[:_MAX_ERROR]
            _log.warning("event %s (%s): %s", ev.id, ev.type, ev.last_error)
            return True
        business = ev.business_id or payload.get("business_id")
        for handler in self.engine.on_event(ev.type, {**payload, "business_id": business}):
            s.add(
                DeliveryRow(
                    event_id=ev.id,
                    event_type=ev.type,
                    handler=handler,
                    business_id=business,
                    call_sid=ev.call_sid or payload.get("call_sid"),
                    idempotency_key=f"{ev.id}:{handler}",
                    created_at=ev.created_at or now,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
        return True

    # -- 2. claim ------------------------------------------------------------------------

    def claim(self, limit: int | None = None) -> list[int]:
        """Claim up to `limit` due deliveries for this dispatcher; returns their ids."""
        now = self.now()
        lease = now + timedelta(seconds=self.delivery.lease_s)
        free = or_(DeliveryRow.claimed_by.is_(None), DeliveryRow.lease_until < now)
        params = {"b_now": now, "b_limit": limit or self.delivery.batch}
        # Read first: an idle poll takes no write lock (on SQLite the whole database's).
        # The claims below re-check each row, so a row read here and taken meanwhile by
        # another dispatcher is simply not ours.
        with self.db.session() as s:
            if s.connection().execute(_DUE_DELIVERIES, params).first() is None:
                return []
        with self.db.session() as s:
            begin_write(s)
            ids = list(s.connection().execute(_DUE_DELIVERIES, params).scalars())
            mine = []
            for did in ids:
                got = s.execute(
                    update(DeliveryRow)
                    .execution_options(synchronize_session=False)
                    .where(DeliveryRow.id == did, DeliveryRow.status == "pending", free)
                    .values(
                        claimed_by=self.name,
                        lease_until=lease,
                        attempts=DeliveryRow.attempts + 1,
                        updated_at=now,
                    )
                ).rowcount
                if got == 1:
                    mine.append(did)
            return mine

    # -- 3. deliver ----------------------------------------------------------------------

    def deliver(self, delivery_id: int) -> str:
        """Work on one delivery this dispatcher claimed.

        Returns:
            The attempt's outcome: `sent`, `done`, `skipped`, `retry`, `failed`, or `lost`
            (the claim was no longer ours).
        """
        started = self.now()
        t0 = time.perf_counter()
        with self.db.session() as s:
            row = s.get(DeliveryRow, delivery_id)
            if row is None or row.claimed_by != self.name or row.status != "pending":
                return "lost"
            ev = s.get(EventRow, row.event_id)
            attempt = row.attempts
            age_s = (started - row.created_at).total_seconds()
            snapshot = (row.prepared, row.to_addr, row.text, row.idempotency_key, row.handler)
            payload = json.loads(ev.payload or "{}") if ev is not None else {}
            event = Event(
                id=row.event_id,
                type=row.event_type,
                business_id=row.business_id,
                call_sid=row.call_sid,
                payload=payload if isinstance(payload, dict) else {},
            )
            last_error = row.last_error
        prepared, to, text, key, handler_name = snapshot

        def finish(outcome: str, error: str | None = None, **values: object) -> str:
            return self._finish(delivery_id, attempt, started, t0, outcome, error, values)

        if age_s > self.delivery.max_age_s:
            why = f"expired: older than {self.delivery.max_age_s:g} s"
            return finish("failed", f"{why}; last error: {last_error}" if last_error else why)
        if not prepared:
            handler = self.engine.handlers.get(handler_name)
            if handler is None:
                return finish("failed", f"no handler {handler_name!r} in this build")
            rules = self.engine.rules.for_business(event.business_id)
            try:
                decision = handler.prepare(self.db, event, rules)
            except HandlerError as exc:
                return finish("failed", str(exc))
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried
                return self._retry(delivery_id, attempt, started, t0, age_s, _err(exc))
            if decision.status != "send":
                return finish(decision.status, None, note=decision.note, prepared=True)
            to, text = decision.to, decision.text
            if not self._save_prepared(delivery_id, decision.to, decision.text, decision.note):
                return "lost"
        message = OutgoingMessage(
            to=str(to), text=str(text), idempotency_key=key, business_id=event.business_id
        )
        try:
            provider_id = self.engine.messenger.send(message)
        except RetryableSendError as exc:
            return self._retry(delivery_id, attempt, started, t0, age_s, _err(exc))
        except PermanentSendError as exc:
            return finish("failed", _err(exc))
        except Exception as exc:  # noqa: BLE001 - an unexpected messenger error: retry
            return self._retry(delivery_id, attempt, started, t0, age_s, _err(exc))
        _log.info(
            "flows: %s %s to %s sent (%s, attempt %d)",
            event.type,
            handler_name,
            mask_phone(str(to)),
            self.engine.messenger.name,
            attempt,
        )
        return finish("sent", None, provider_id=provider_id, sent_at=self.now())

    def _save_prepared(
        self, delivery_id: int, to: str | None, text: str | None, note: str | None
    ) -> bool:
        def save() -> bool:
            with self.db.session() as s:
                return (
                    s.execute(
                        update(DeliveryRow)
                        .execution_options(synchronize_session=False)
                        .where(DeliveryRow.id == delivery_id, DeliveryRow.claimed_by == self.name)
                        .values(
                            prepared=True,
                            to_addr=to,
                            text=text,
                            note=note,
                            channel=self.engine.messenger.name,
                            updated_at=self.now(),
                        )
                    ).rowcount
                    == 1
                )

        return retry_locked(save)

    def _retry(
        self,
        delivery_id: int,
        attempt: int,
        started: datetime,
        t0: float,
        age_s: float,
        error: str,
    ) -> str:
        d = self.delivery
        wait = backoff_s(attempt, d.backoff_base_s, d.backoff_max_s, self.rng)
        if age_s + wait > d.max_age_s:
            msg = f"gave up: the next try would pass the maximum age ({d.max_age_s:g} s); {error}"
            return self._finish(delivery_id, attempt, started, t0, "failed", msg, {})
        values = {"next_attempt_at": self.now() + timedelta(seconds=wait)}
        _log.warning(
            "flows: delivery %s attempt %d failed (%s); retry in %.1f s",
            delivery_id,
            attempt,
            error,
            wait,
        )
        return self._finish(delivery_id, attempt, started, t0, "retry", error, values)

    def _finish(
        self,
        delivery_id: int,
        attempt: int,
        started: datetime,
        t0: float,
        outcome: str,
        error: str | None,
        values: dict[str, object],
    ) -> str:
        status = "pending" if outcome == "retry" else outcome
        now = self.now()
        duration_ms = (time.perf_counter() - t0) * 1000
        changes: dict[str, object] = {
            "status": status,
            "claimed_by": None,
            "lease_until": None,
            "updated_at": now,
            **values,
        }
        if error is not None:
            changes["last_error"] = error[:_MAX_ERROR]

        def record() -> bool:
            with self.db.session() as s:
                got = s.execute(
                    update(DeliveryRow)
                    .execution_options(synchronize_session=False)
                    .where(DeliveryRow.id == delivery_id, DeliveryRow.claimed_by == self.name)
                    .values(**changes)
                ).rowcount
                if got != 1:
                    return False
                s.add(
                    AttemptRow(
                        delivery_id=delivery_id,
                        number=attempt,
                        worker=self.name,
                        started_at=started,
                        duration_ms=duration_ms,
                        outcome=outcome,
                        error=error[:_MAX_ERROR] if error else None,
                    )
                )
                return True

        # A lock timeout here, after a send, would leave the message unrecorded (and sent
        # again once the lease ends): run the write again (store.db.retry_locked).
        if not retry_locked(record):
            _log.warning("flows: delivery %s: claim lost, %s not recorded", delivery_id, outcome)
            return "lost"
        if outcome == "failed":
            _log.warning("flows: delivery %s failed: %s", delivery_id, error)
        return outcome

    # -- rounds --------------------------------------------------------------------------

    def run_once(self) -> RoundStats:
        """Fan out every waiting event, then claim and deliver everything due, until no due
        work is left (deliveries waiting for a back-off stay for a later round)."""
        stats = RoundStats()
        while True:
            n = self.fan_out()
            stats.fanned_out += n
            ids = self.claim()
            stats.claimed += len(ids)
            for did in ids:
                stats.count(self.deliver(did))
            if not n and not ids:
                return stats

    def seconds_until_due(self) -> float | None:
        """Seconds until the earliest pending delivery is due (0 if one is), or None."""
        with self.db.session() as s:
            first = s.scalar(
                select(DeliveryRow.next_attempt_at)
                .where(DeliveryRow.status == "pending")
                .order_by(DeliveryRow.next_attempt_at)
                .limit(1)
            )
        if first is None:
            return None
        return max(0.0, (first - self.now()).total_seconds())

    def run_forever(self, stop: threading.Event) -> None:
        """Rounds until `stop` is set, sleeping `poll_s` (or until the next retry) between."""
        last_error = None
        while not stop.is_set():
            try:
                stats = self.run_once()
                last_error = None
            except Exception as exc:  # noqa: BLE001 - a DB hiccup must not end the worker
                if _err(exc) != last_error:  # logged once, not every poll
                    last_error = _err(exc)
                    _log.warning("flows: dispatcher round failed: %s", last_error)
                stats = RoundStats()
            if stats.idle:
                stop.wait(self.delivery.poll_s)


def _err(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:_MAX_ERROR]


class FlowWorker:
    """The dispatcher inside `voicectl serve`: rounds in a worker thread (the
    `flows` pool of `voicectl.executors`), woken every `poll_s`; never on the audio path.

    Start once from the app's lifespan (`start`), stop on shutdown (`stop`).
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        """Begin the loop on the running event loop (idempotent)."""
        if self._task is None:
            d = self.dispatcher
            _log.info(
                "flows dispatcher %s started: messenger=%s summarizer=%s rules=%s",
                d.name,
                d.engine.messenger.name,
                d.engine.summarizer.name,
                d.engine.rules.source,
            )
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="flows")

    def wake(self) -> None:
        """Run a round now (e.g. right after a call ended)."""
        self._wake.set()

    async def _loop(self) -> None:
        poll = self.dispatcher.delivery.poll_s
        last_error = None
        while not self._stopping:
            try:
                await executors.run("flows", self.dispatcher.run_once)
                last_error = None
            except Exception as exc:  # noqa: BLE001 - keep the server up
                if _err(exc) != last_error:  # a broken database is logged once, not per poll
                    last_error = _err(exc)
                    _log.warning("flows: dispatcher round failed: %s", last_error)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=poll)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        """Let the current round finish, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=30)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            self._task = None
