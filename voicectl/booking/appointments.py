"""Create appointments under the business policy; attach a phone afterwards; read them back
(SEEDS.md seed 000 item 3, seed 001 items 1-2, seed 002 C.2 and G).

`create_appointment` never raises: every problem is a result `{ok: false, error, message,
suggestions?}`; an unexpected exception becomes `validation_error` with its first 120
characters (seed 001 item 1). Checks, in order:

1. `validation_error` - unknown service, bad ISO date-time, empty name, a `context` that is
   not a mapping, or an explicit `customer_phone` that is not a phone number at all.
2. `off_grid` - local minute of the day not a multiple of `slot_size_min` (seed 002 C.2);
   `suggestions`: the two nearest free on-grid starts.
3. `too_soon` - before now + `min_notice_min` (or in the past).
4. `beyond_window` - local date after today + `booking_window_days`.
5. `outside_hours` - closed, the service does not end by closing time, or a naive local
   time that does not exist (the spring-forward gap; checked right after validation).
6. `slot_taken` - overlaps a booked appointment.
7. `need_phone` - `require_phone_before_booking` and no usable phone from any source.

Codes 3-6 carry up to three free `suggestions` (ISO strings, closest first). Double
booking is prevented by the database: the appointment's cells go into
`appointment_slots`, whose primary key is `(business_id, cell)`, in the same transaction,
so of two racing calls exactly one commits and the other gets `slot_taken` - across
threads, processes and boxes. On SQLite the transaction is `BEGIN IMMEDIATE` (the loser
usually sees the cells already taken); on PostgreSQL the loser's insert waits for the
winner's commit and fails with a unique violation, reported as `slot_taken` after a
re-read. A lock conflict (SQLite busy timeout, PostgreSQL deadlock or serialization
failure) runs the transaction again (`store.db.retry_locked`).

On success the appointment, its lead (one per phone; a phone-less lead flagged
`needs_follow_up`), its cells and an `appointment.created` outbox event are written in one
transaction.

A *hold* (`hold=True`: a speculative turn's booking, `store/holds.py`) is the same checks
and the same race-safe write of the appointment and its cells, with `status = "held"` and
an expiry, but no lead and no event: `confirm_hold` adds those when its turn commits, and
`store.holds.release` deletes it when the turn is taken back. A live hold takes its cells
like a booking (`find_slots` does not offer them, a racing booking gets `slot_taken`); an
expired one is deleted by the first booking that wants its cells, in that booking's
transaction.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from voicectl.booking.phone import (
    choose_phone,
    is_withheld,
    normalize_phone,
    session_caller_number,
    usable_phone,
)
from voicectl.booking.policy import BusinessPolicy
from voicectl.booking.slots import (
    BookingInputError,
    NonexistentTimeError,
    NowArg,
    candidate_starts,
    cells_for,
    earliest_start,
    end_of,
    is_on_grid,
    iso,
    last_bookable_day,
    nearest_free,
    occupied_cells,
    parse_datetime,
    resolve_now,
    resolve_service,
    validation_error,
)
from voicectl.store import holds
from voicectl.store.booking import (
    BOOKED,
    HELD,
    AppointmentRow,
    AppointmentSlotRow,
    EventRow,
    LeadRow,
    begin_write,
)
from voicectl.store.db import retry_locked

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from voicectl.store.db import Database

ERROR_CODES = (
    "validation_error",
    "off_grid",
    "outside_hours",
    "too_soon",
    "beyond_window",
    "slot_taken",
    "need_phone",
)
"""Every `error` value `create_appointment` can answer."""

#: `confirm_hold`'s `error` values: the hold is gone (nothing to retry), or the
#: confirmation kept failing for another reason (the database was unreachable or locked
#: through every attempt). Either way the booking the caller was told about was not saved.
CONFIRM_ERRORS = ("hold_lost", "confirm_failed")

#: Pauses, seconds, between the attempts of a hold's confirmation that failed for a reason
#: other than `hold_lost` (a lock held past `retry_locked`'s attempts, a dropped PostgreSQL
#: connection): 5 attempts, 3.75 s of pauses in all.
CONFIRM_BACKOFF_S = (0.25, 0.5, 1.0, 2.0)
#: No confirmation attempt starts later than this after the first, seconds. With one
#: attempt's own worst case (SQLite: 3 x the 5 s busy timeout) the last one ends inside
#: `store.holds.HOLD_TTL_S` (30 s), after which another booking may take the hold's cells.
CONFIRM_RETRY_S = 10.0

EVENT_CREATED = "appointment.created"
EVENT_PHONE_ATTACHED = "appointment.phone_attached"
MAX_NAME_LEN = 100


def _fail(error: str, message: str, suggestions: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"ok": False, "error": error, "message": message[:120]}
    if suggestions is not None:
        out["suggestions"] = suggestions
    return out


def _utc_naive(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def _clean_name(name: object) -> str:
    if not isinstance(name, str):
        raise BookingInputError("customer_name must be text: ask the caller for their name")
    cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in name).split())
    if not cleaned:
        raise BookingInputError("customer_name is empty: ask the caller for their name")
    if len(cleaned) > MAX_NAME_LEN:
        raise BookingInputError(f"customer_name is longer than {MAX_NAME_LEN} characters")
    return cleaned


def _explicit_phone_ok(raw: object) -> None:
    """An explicit input phone that is present but not a phone number at all is an error
    (the agent asks again); a withheld marker or empty string is simply absent."""
    if raw is None or is_withheld(raw):
        return
    if not isinstance(raw, str) or normalize_phone(raw) is None:
        raise BookingInputError(
            "customer_phone is not a phone number: ask the caller to type it and press #"
        )


def _suggest(
    db: Database, policy: BusinessPolicy, now: datetime, target: datetime, duration: int, n: int
) -> list[str]:
    with db.session() as s:
        return [iso(c) for c in nearest_free(s, policy, now, target, duration, n)]


def _payload(row: AppointmentRow, policy: BusinessPolicy) -> dict[str, Any]:
    return {
        "appointment_id": row.id,
        "start_iso": row.start_iso,
        "service": row.service_id,
        "customer_name": row.customer_name,
        "customer_phone": row.customer_phone,
        "business_id": policy.business_id,
        "call_sid": row.call_sid,
    }


def create_appointment(
    db: Database,
    policy: BusinessPolicy,
    now: NowArg,
    start_iso: str,
    service: str,
    customer_name: str,
    customer_phone: str | None = None,
    context: Mapping[str, Any] | None = None,
    session: object | None = None,
    *,
    call_sid: str | None = None,
    hold: bool = False,
) -> dict[str, Any]:
    """Book one appointment (seed 002 C.2), or hold it (`hold`). Never raises.

    Args:
        db: the database.
        policy: the effective business policy.
        now: the business clock (aware datetime or a callable returning one).
        start_iso: the start, ISO 8601 (`2026-11-21T12:00:00+02:00`; naive = local time).
        service: service id, Hebrew name or alias.
        customer_name: the caller's name (non-empty, <= 100 characters).
        customer_phone: the phone the agent collected (first choice, seed 000 item 3).
        context: may hold `customer_phone` (second choice) and `call_sid`.
        session: the call session, object or dict; its `caller_number` is the third choice.
        call_sid: the Twilio call id recorded on the appointment and event (else
            `context["call_sid"]`).
        hold: write a hold (`status = "held"`, expiring after `store.holds.HOLD_TTL_S`;
            no lead, no event) for `confirm_hold` or `store.holds.release` to settle.

    Returns:
        Success: `{ok: true, appointment_id, start_iso, end_iso, service, service_name,
        duration_min, customer_name, customer_phone (E.164 or None), needs_follow_up,
        lead_id}` (a hold: `lead_id` None - the lead is written by `confirm_hold` - and
        `hold_token`, its key for `confirm_hold` / `store.holds.release`).
        Failure: `{ok: false, error, message (<= 120 chars), suggestions?}` with `error`
        in `ERROR_CODES` (see the module docstring).
    """
    try:
        return retry_locked(
            lambda: _create(
                db,
                policy,
                now,
                start_iso,
                service,
                customer_name,
                customer_phone,
                context,
                session,
                call_sid,
                hold,
            )
        )
    except BookingInputError as exc:
        return validation_error(str(exc))
    except Exception as exc:  # noqa: BLE001 - tools never raise (seed 001 item 1)
        return validation_error(str(exc) or type(exc).__name__)


def _create(
    db: Database,
    policy: BusinessPolicy,
    now: NowArg,
    start_iso: object,
    service: object,
    customer_name: object,
    customer_phone: object,
    context: object,
    session: object,
    call_sid: str | None,
    hold: bool = False,
) -> dict[str, Any]:
    tz = policy.tz
    now_dt = resolve_now(now, tz)
    if context is not None and not isinstance(context, Mapping):
        raise BookingInputError("context must be a mapping")
    ctx: Mapping[str, Any] = context or {}
    svc = resolve_service(policy, service)
    name = _clean_name(customer_name)
    _explicit_phone_ok(customer_phone)
    duration = svc.duration_min
    try:
        start = parse_datetime(start_iso, tz)
    except NonexistentTimeError as exc:
        naive = datetime.fromisoformat(str(start_iso).strip()).replace(tzinfo=tz)
        return _fail("outside_hours", str(exc), _suggest(db, policy, now_dt, naive, duration, 3))
    end = end_of(start, duration)
    sid = call_sid if call_sid is not None else ctx.get("call_sid")
    sid = str(sid)[:64] if sid is not None else None

    # -- policy checks (no writes) ------------------------------------------------------
    if not is_on_grid(policy, start):
        return _fail(
            "off_grid",
            f"start must be on the {policy.slot_size_min}-minute grid; pick a suggestion",
            _suggest(db, policy, now_dt, start, duration, 2),
        )
    if start.astimezone(UTC) < earliest_start(policy, now_dt):
        return _fail(
            "too_soon",
            f"bookings need {policy.min_notice_min} minutes notice; pick a suggestion",
            _suggest(db, policy, now_dt, start, duration, 3),
        )
    if start.date() > last_bookable_day(policy, now_dt):
        return _fail(
            "beyond_window",
            f"bookings open only {policy.booking_window_days} days ahead; pick a suggestion",
            _suggest(db, policy, now_dt, start, duration, 3),
        )
    start_utc = start.astimezone(UTC)
    day_starts = candidate_starts(policy, start.date(), duration)
    if all(c.astimezone(UTC) != start_utc for c in day_starts):
        return _fail(
            "outside_hours",
            f"{svc.id} ({duration} min) at that time is outside opening hours",
            _suggest(db, policy, now_dt, start, duration, 3),
        )
    cells = cells_for(start, end)
    phone = choose_phone(
        customer_phone if isinstance(customer_phone, str) else None,
        ctx.get("customer_phone") if isinstance(ctx.get("customer_phone"), str) else None,
        session_caller_number(session),
    )

    # -- the write: one transaction, the database arbitrates races -----------------------
    for attempt in range(2):
        try:
            with db.session() as s:
                begin_write(s)
                # An expired hold on these cells gives them up here, in this transaction.
                holds.drop_expired(s, policy.business_id, cells)
                if occupied_cells(s, policy.business_id, start, end):
                    raise _SlotTaken
                if phone is None and policy.require_phone_before_booking:
                    # checked after the slot so a taken slot is reported first
                    raise _NeedPhone
                lead = None if hold else _lead_for(s, policy.business_id, phone, name)
                row = AppointmentRow(
                    business_id=policy.business_id,
                    service_id=svc.id,
                    start_utc=_utc_naive(start),
                    end_utc=_utc_naive(end),
                    start_iso=iso(start),
                    end_iso=iso(end),
                    customer_name=name,
                    customer_phone=phone,
                    lead_id=lead.id if lead is not None else None,
                    call_sid=sid,
                    status=HELD if hold else BOOKED,
                    hold_until=holds.expiry(s) if hold else None,
                    hold_token=holds.new_token() if hold else None,
                )
                s.add(row)
                s.flush()
                # One multi-row INSERT (not executemany: psycopg would pipeline it and log
                # a warning whenever the primary key refuses a racing booking's cells).
                params: dict[str, Any] = {"b_business": policy.business_id, "b_id": row.id}
                params.update({f"b_cell{i}": c for i, c in enumerate(cells)})
                s.connection().execute(_insert_cells(len(cells)), params)
                if not hold:
                    s.add(_created_event(row, policy))
                result = {
                    "ok": True,
                    "appointment_id": row.id,
                    "start_iso": row.start_iso,
                    "end_iso": row.end_iso,
                    "service": svc.id,
                    "service_name": svc.name,
                    "duration_min": duration,
                    "customer_name": name,
                    "customer_phone": phone,
                    "needs_follow_up": phone is None,
                    "lead_id": lead.id if lead is not None else None,
                }
                if hold:
                    result["hold_token"] = row.hold_token
            return result
        except _SlotTaken:
            return _slot_taken(db, policy, now_dt, start, duration)
        except _NeedPhone:
            return _fail(
                "need_phone",
                "this business needs a phone number first: ask the caller to type it and press #",
            )
        except IntegrityError:
            # Another transaction won the cells (PostgreSQL: the primary key) or created
            # the same lead first: if the slot is now taken say so, else retry once.
            with db.session() as s:
                taken = bool(occupied_cells(s, policy.business_id, start, end))
            if taken:  # suggested outside that session: one pooled connection at a time
                return _slot_taken(db, policy, now_dt, start, duration)
            if attempt:
                raise
    raise RuntimeError("unreachable")  # pragma: no cover


class _SlotTaken(Exception):
    pass


def _created_event(row: AppointmentRow, policy: BusinessPolicy) -> EventRow:
    """The `appointment.created` outbox row of booking `row` (payload: `_payload`)."""
    return EventRow(
        type=EVENT_CREATED,
        payload=json.dumps(_payload(row, policy), ensure_ascii=False),
        business_id=policy.business_id,
        call_sid=row.call_sid,
    )


def confirm_hold(
    db: Database,
    policy: BusinessPolicy,
    appointment_id: int,
    token: str,
    *,
    backoff_s: Sequence[float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Make hold `appointment_id` the booking its turn promised: `status = "booked"`, its
    lead (as `create_appointment` would: one per phone, or a phone-less lead flagged
    `needs_follow_up`) and its `appointment.created` event, in one transaction. Never
    raises. `token` is the hold's `hold_token` (from `create_appointment(..., hold=True)`):
    an id alone could name another appointment (SQLite reuses a deleted row's id).

    Exactly once, by the database: the transition is `UPDATE ... WHERE status = 'held'`,
    checked by row count, so a second confirmation (any thread, process or box; on
    PostgreSQL it waits for the first and re-checks the row) writes nothing. A hold past
    its expiry that is still there is confirmed (its cells were never given up).

    A failure other than `hold_lost` (any exception: the database locked past
    `retry_locked`'s attempts, a dropped connection) is tried again after each pause of
    `backoff_s` (seconds; None = `CONFIRM_BACKOFF_S`), but no attempt starts more than
    `CONFIRM_RETRY_S` after the first. Safe to repeat: an attempt that failed wrote
    nothing (its transaction rolled back), and one whose commit went through unreported is
    found `already` booked by the next. Blocking (`sleep`, None = `time.sleep`, between
    attempts): run it off the event loop.

    Returns:
        `{ok: true, appointment_id, lead_id, already: bool}` (`already`: it was booked
        before this call); `{ok: false, error: "hold_lost", message}`: the hold is gone
        (released, or expired and taken by another booking) - nothing was written; or
        `{ok: false, error: "confirm_failed", message}`: every attempt failed - the row
        is still a hold, and expires.
    """
    first = time.monotonic()
    pauses = list(CONFIRM_BACKOFF_S if backoff_s is None else backoff_s)
    sleep = sleep or time.sleep
    while True:
        try:
            return retry_locked(lambda: _confirm(db, policy, appointment_id, token))
        except Exception as exc:  # noqa: BLE001 - never raises: tried again, then reported
            why = f"{type(exc).__name__}: {exc}"
        if not pauses or time.monotonic() - first + pauses[0] > CONFIRM_RETRY_S:
            return _fail("confirm_failed", f"hold {appointment_id} not confirmed: {why}")
        sleep(pauses.pop(0))


def _confirm(
    db: Database, policy: BusinessPolicy, appointment_id: int, token: str
) -> dict[str, Any]:
    for attempt in range(2):
        try:
            with db.session() as s:
                begin_write(s)
                claimed = s.execute(
                    update(AppointmentRow)
                    .where(
                        *holds.this_hold(appointment_id, token),
                        AppointmentRow.business_id == policy.business_id,
                    )
                    .values(status=BOOKED, hold_until=None)
                ).rowcount
                row = s.get(AppointmentRow, appointment_id)
                if not claimed:
                    if row is not None and row.hold_token == token and row.status == BOOKED:
                        return {
                            "ok": True,
                            "appointment_id": row.id,
                            "lead_id": row.lead_id,
                            "already": True,
                        }
                    return _fail("hold_lost", f"hold {appointment_id} is gone; nothing booked")
                assert row is not None
                lead = _lead_for(s, row.business_id, row.customer_phone, row.customer_name)
                row.lead_id = lead.id
                s.add(_created_event(row, policy))
                return {"ok": True, "appointment_id": row.id, "lead_id": lead.id, "already": False}
        except IntegrityError:
            # Another transaction created this phone's lead first: all rolled back, again.
            if attempt:
                raise
    raise RuntimeError("unreachable")  # pragma: no cover


class _NeedPhone(Exception):
    pass


def _slot_taken(
    db: Database, policy: BusinessPolicy, now: datetime, start: datetime, duration: int
) -> dict[str, Any]:
    return _fail(
        "slot_taken",
        "that time was just booked; offer the caller one of the suggestions",
        _suggest(db, policy, now, start, duration, 3),
    )


def _lead_for(s: Session, business_id: str, phone: str | None, name: str) -> LeadRow:
    """The lead of this phone (created if new; name refreshed), or a new phone-less lead
    flagged `needs_follow_up` (seed 001 item 2)."""
    lead: LeadRow | None = None
    if phone is not None:
        lead = s.scalar(
            select(LeadRow).where(LeadRow.business_id == business_id, LeadRow.phone == phone)
        )
    if lead is None:
        lead = LeadRow(
            business_id=business_id, phone=phone, name=name, needs_follow_up=phone is None
        )
        s.add(lead)
    else:
        lead.name = name
    s.flush()
    return lead


def attach_phone(
    db: Database,
    policy: BusinessPolicy,
    appointment_id: int | str,
    customer_phone: str,
    *,
    call_sid: str | None = None,
) -> dict[str, Any]:
    """Add (or correct) the phone of a booking, e.g. typed by DTMF after booking. Never raises.

    The phone must be usable (starts with `+` or `0`, normalises). The appointment moves to
    the lead of that phone (an existing one, or its phone-less lead gets the phone and
    loses `needs_follow_up`), and an `appointment.phone_attached` outbox event (same payload
    as `appointment.created`) is written in the same transaction, so the confirmation that
    could not be sent at booking time can go out now (seed 002 G).

    A hold (`status = "held"`) is `not_found`: it is not a booking until its turn commits,
    and its phone is added then (the call's `CommitGate` orders the two).

    Returns:
        `{ok: true, appointment_id, customer_phone, start_iso, service}`, or
        `{ok: false, error: "validation_error" | "not_found", message}`.
    """
    try:
        return retry_locked(lambda: _attach(db, policy, appointment_id, customer_phone, call_sid))
    except BookingInputError as exc:
        return validation_error(str(exc))
    except Exception as exc:  # noqa: BLE001 - tools never raise (seed 001 item 1)
        return validation_error(str(exc) or type(exc).__name__)


def _appointment_key(appointment_id: object) -> int:
    if isinstance(appointment_id, bool):
        raise BookingInputError("appointment_id must be a number")
    if isinstance(appointment_id, int):
        return appointment_id
    if isinstance(appointment_id, str) and appointment_id.strip().isdigit():
        return int(appointment_id.strip())
    raise BookingInputError("appointment_id must be a number")


def _attach(
    db: Database,
    policy: BusinessPolicy,
    appointment_id: object,
    customer_phone: object,
    call_sid: str | None,
) -> dict[str, Any]:
    key = _appointment_key(appointment_id)
    phone = usable_phone(customer_phone)
    if phone is None:
        raise BookingInputError(
            "customer_phone is not a usable phone number: ask the caller to type it and press #"
        )
    with db.session() as s:
        begin_write(s)
        row = s.get(AppointmentRow, key)
        if row is None or row.business_id != policy.business_id or row.status != BOOKED:
            # A hold is not a booking yet: its event would announce what may not happen.
            return _fail("not_found", f"no appointment {key} for this business")
        old_lead = s.get(LeadRow, row.lead_id) if row.lead_id is not None else None
        lead = s.scalar(
            select(LeadRow).where(LeadRow.business_id == row.business_id, LeadRow.phone == phone)
        )
        if lead is None and old_lead is not None and old_lead.phone is None:
            old_lead.phone = phone
            old_lead.needs_follow_up = False
            lead = old_lead
        elif lead is None:
            lead = LeadRow(business_id=row.business_id, phone=phone, name=row.customer_name)
            s.add(lead)
        s.flush()
        row.lead_id = lead.id
        row.customer_phone = phone
        s.flush()
        if old_lead is not None and old_lead.id != lead.id and old_lead.phone is None:
            left = s.scalar(
                select(func.count())
                .select_from(AppointmentRow)
                .where(AppointmentRow.lead_id == old_lead.id)
            )
            if not left:
                s.delete(old_lead)
        payload = _payload(row, policy)
        if call_sid is not None:
            payload["call_sid"] = call_sid
        s.add(
            EventRow(
                type=EVENT_PHONE_ATTACHED,
                payload=json.dumps(payload, ensure_ascii=False),
                business_id=row.business_id,
                call_sid=payload["call_sid"],
            )
        )
        return {
            "ok": True,
            "appointment_id": row.id,
            "customer_phone": phone,
            "start_iso": row.start_iso,
            "service": row.service_id,
        }


def appointment_dict(row: AppointmentRow, lead: LeadRow | None = None) -> dict[str, Any]:
    """A stored appointment as a plain dict (ids, ISO times, customer, lead, call)."""
    return {
        "appointment_id": row.id,
        "business_id": row.business_id,
        "service": row.service_id,
        "start_iso": row.start_iso,
        "end_iso": row.end_iso,
        "customer_name": row.customer_name,
        "customer_phone": row.customer_phone,
        "lead_id": row.lead_id,
        "needs_follow_up": (
            bool(lead.needs_follow_up) if lead is not None else row.customer_phone is None
        ),
        "call_sid": row.call_sid,
        "status": row.status,
        "created_at": row.created_at.replace(tzinfo=UTC).isoformat(timespec="seconds"),
    }


def find_appointment(
    db: Database, appointment_id: object, business_id: str | None = None
) -> dict[str, Any] | None:
    """One appointment as `appointment_dict`, or None (unknown id, other business, bad id)."""
    try:
        key = _appointment_key(appointment_id)
    except BookingInputError:
        return None
    with db.session() as s:
        row = s.get(AppointmentRow, key)
        if row is None or (business_id is not None and row.business_id != business_id):
            return None
        lead = s.get(LeadRow, row.lead_id) if row.lead_id is not None else None
        return appointment_dict(row, lead)


def list_appointments(
    db: Database, business_id: str | None = None, call_sid: str | None = None
) -> list[dict[str, Any]]:
    """Appointments (optionally of one business and/or one call), ordered by start time."""
    with db.session() as s:
        q = select(AppointmentRow, LeadRow).outerjoin(LeadRow, LeadRow.id == AppointmentRow.lead_id)
        if business_id is not None:
            q = q.where(AppointmentRow.business_id == business_id)
        if call_sid is not None:
            q = q.where(AppointmentRow.call_sid == call_sid)
        q = q.order_by(AppointmentRow.start_utc, AppointmentRow.id)
        return [appointment_dict(a, lead) for a, lead in s.execute(q).all()]


@functools.lru_cache(maxsize=64)  # one per cell count: a service is a few cells long
def _insert_cells(n: int) -> Any:
    """The multi-row INSERT of an appointment's `n` slot cells, built once per `n` with
    bound values (`b_business`, `b_id`, `b_cell0`...): a statement with literal rows is
    compiled anew on every booking, inside its write transaction."""
    return insert(AppointmentSlotRow).values(
        [
            {
                "business_id": bindparam("b_business"),
                "cell": bindparam(f"b_cell{i}"),
                "appointment_id": bindparam("b_id"),
            }
            for i in range(n)
        ]
    )
