"""Free slots: the booking grid, opening hours, notice, window and occupancy
(SEEDS.md seed 002 C.1).

A start is offered when it is

- on the grid: its local minute of the day is a multiple of `slot_size_min` (seed 002 C.2);
- inside an opening range (the whole day with `allow_24_7`), with the service's whole
  duration ending by the range's close;
- at least `min_notice_min` after the call's "now";
- on a local date no later than today + `booking_window_days`;
- free: none of the `CELL_MIN`-minute cells its interval intersects is occupied (by a
  booking or a live hold: `store/holds.py`; an expired hold's cells are free).

Daylight saving: candidates are local wall-clock times; a wall time that does not exist
(the spring-forward gap) is skipped, one that happens twice (the autumn fold) is offered
twice with its two UTC offsets; durations and comparisons are in absolute (UTC) time. ISO
strings carry the local offset, e.g. `2026-03-27T09:00:00+03:00`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select

from voicectl.booking.policy import END_OF_DAY, BusinessPolicy, Service
from voicectl.store import holds
from voicectl.store.booking import CELL_MIN, AppointmentRow, AppointmentSlotRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from voicectl.store.db import Database

NowArg = datetime | Callable[[], datetime]
"""The business clock: an aware datetime, or a callable returning one."""

MAX_ALTERNATIVES = 3
"""How many next open days a slot-less `find_slots` answer lists."""

_CELL_S = CELL_MIN * 60


class BookingInputError(ValueError):
    """Bad tool input; becomes `{ok: false, error: "validation_error", message}`."""


class NonexistentTimeError(BookingInputError):
    """A naive local time inside the spring-forward gap (e.g. 02:30 on 2026-03-27)."""


# -- time helpers ------------------------------------------------------------------------


def resolve_now(now: NowArg, tz: ZoneInfo) -> datetime:
    """Return the business clock as an aware datetime in `tz` (naive is taken as local)."""
    value = now() if callable(now) else now
    if not isinstance(value, datetime):
        raise BookingInputError("now() must return a datetime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(tz)


def exists(local: datetime) -> bool:
    """False for a wall time inside a DST gap (it does not happen on the clock)."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def local_at(tz: ZoneInfo, day: date, t: time, fold: int = 0) -> datetime:
    """The aware local datetime of `t` on `day`; `END_OF_DAY` means the next midnight."""
    if t == END_OF_DAY:
        return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz)
    return datetime.combine(day, t, tzinfo=tz).replace(fold=fold)


def is_on_grid(policy: BusinessPolicy, local: datetime) -> bool:
    """True when the local minute of the day is a multiple of `slot_size_min` and the
    seconds are zero (seed 002 C.2: `minute % slot_size_min == 0`)."""
    if local.second or local.microsecond:
        return False
    return (local.hour * 60 + local.minute) % policy.slot_size_min == 0


def iso(dt: datetime) -> str:
    """ISO 8601 with seconds and offset, e.g. `2026-11-21T12:00:00+02:00`."""
    return dt.isoformat(timespec="seconds")


def parse_day(value: object, tz: ZoneInfo) -> date:
    """Parse `YYYY-MM-DD` (or a full ISO date-time, taken as its local date in `tz`)."""
    if isinstance(value, datetime):
        return value.astimezone(tz).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value.strip():
        raise BookingInputError("date_iso must be a date like 2026-11-21")
    s = value.strip()
    try:
        return date.fromisoformat(s)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s)
    except ValueError as exc:
        raise BookingInputError(f"date_iso {s[:40]!r} is not a date like 2026-11-21") from exc
    return dt.astimezone(tz).date() if dt.tzinfo else dt.date()


def parse_datetime(value: object, tz: ZoneInfo, *, field: str = "start_iso") -> datetime:
    """Parse an ISO 8601 date-time into an aware datetime in `tz` (naive = local time;
    an ambiguous naive time in the autumn fold is the first one, `fold=0`).

    Raises:
        NonexistentTimeError: a naive local time inside the spring-forward gap.
        BookingInputError: not a date-time (a bare date is rejected too).
    """
    if isinstance(value, datetime):
        dt = value
    else:
        if not isinstance(value, str) or not value.strip():
            raise BookingInputError(f"{field} must be an ISO date-time like 2026-11-21T12:00")
        s = value.strip()
        if "T" not in s.upper() and " " not in s:
            raise BookingInputError(f"{field} needs a time, e.g. {s[:10]}T12:00")
        try:
            dt = datetime.fromisoformat(s)
        except ValueError as exc:
            raise BookingInputError(
                f"{field} {s[:40]!r} is not an ISO date-time like 2026-11-21T12:00"
            ) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
        if not exists(dt):
            raise NonexistentTimeError(
                f"{field} {dt.strftime('%H:%M')} does not exist that day (clocks jump forward)"
            )
    return dt.astimezone(tz)


def parse_after(value: object, day: date, tz: ZoneInfo) -> datetime | None:
    """Parse `after`: an ISO date-time, or a time of day (`HH:MM`) on `day`; None passes."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and ("T" not in value.upper() and "-" not in value):
        try:
            t = time.fromisoformat(value.strip())
        except ValueError as exc:
            raise BookingInputError(f"after {value[:40]!r} is not a time like 14:00") from exc
        return datetime.combine(day, t.replace(tzinfo=None), tzinfo=tz)
    try:
        return parse_datetime(value, tz, field="after")
    except NonexistentTimeError:
        naive = datetime.fromisoformat(str(value).strip())
        return naive.replace(tzinfo=tz).astimezone(tz)  # the moment after the gap


def earliest_start(policy: BusinessPolicy, now: datetime) -> datetime:
    """now + `min_notice_min`, in UTC (absolute time, DST-safe)."""
    return now.astimezone(UTC) + timedelta(minutes=policy.min_notice_min)


def last_bookable_day(policy: BusinessPolicy, now: datetime) -> date:
    """The last local date inside the window: today + `booking_window_days`."""
    return now.astimezone(policy.tz).date() + timedelta(days=policy.booking_window_days)


def cells_for(start: datetime, end: datetime) -> range:
    """The `CELL_MIN` cells (UTC epoch based) the interval [start, end) intersects."""
    s = int(start.timestamp())
    e = int(end.timestamp())
    return range(s // _CELL_S, (max(e, s + 1) - 1) // _CELL_S + 1)


# -- candidates --------------------------------------------------------------------------


def candidate_starts(policy: BusinessPolicy, day: date, duration_min: int) -> list[datetime]:
    """Every on-grid start on `day` whose whole duration fits inside an opening range.

    Ignores notice, window and occupancy. Sorted by absolute time; DST-correct (see the
    module docstring).
    """
    return [c for c, _ in _candidates(policy, day, duration_min)]


@lru_cache(maxsize=4096)
def _candidates(
    policy: BusinessPolicy, day: date, duration_min: int
) -> tuple[tuple[datetime, int], ...]:
    """`candidate_starts` as `(aware local start, UTC epoch seconds)` pairs (cached: pure).

    Aware datetimes sharing a tzinfo compare by wall time in Python, so every comparison
    here is made on UTC epoch seconds.
    """
    tz = policy.tz
    size = policy.slot_size_min
    dur_s = duration_min * 60
    day_start = datetime.combine(day, time(0, 0), tzinfo=tz)
    next_start = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz)
    steady = day_start.utcoffset() == next_start.utcoffset()  # no DST change today
    out: dict[int, datetime] = {}
    for open_t, close_t in policy.hours_on(day):
        open_s = int(local_at(tz, day, open_t).timestamp())
        close_s = int(local_at(tz, day, close_t, fold=1).timestamp())
        open_m = open_t.hour * 60 + open_t.minute + bool(open_t.second or open_t.microsecond)
        close_m = 1440 if close_t == END_OF_DAY else close_t.hour * 60 + close_t.minute
        m = -(-open_m // size) * size
        while m < close_m:
            wall = datetime.combine(day, time(m // 60, m % 60), tzinfo=tz)
            folds = (wall,) if steady else (wall, wall.replace(fold=1))
            for cand in folds:
                if not steady and not exists(cand):
                    continue
                ts = int(cand.timestamp())
                if ts not in out and open_s <= ts and ts + dur_s <= close_s:
                    out[ts] = cand
            m += size
    return tuple((out[k], k) for k in sorted(out))


def occupied_cells(session: Session, business_id: str, start: datetime, end: datetime) -> set[int]:
    """The occupied cells of a business intersecting [start, end): those of bookings and
    of holds not yet expired (`store.holds.live`)."""
    r = cells_for(start, end)
    conn = session.connection()
    params = {"business_id": business_id, "lo": r.start, "hi": r.stop}
    params.update(holds.now_params(session))
    return set(conn.execute(_occupied_stmt(conn.dialect.name), params).scalars())


@lru_cache(maxsize=4)  # one per dialect
def _occupied_stmt(dialect: str) -> Any:
    """`occupied_cells`' query, built once (building it cost more than running it)."""
    return (
        select(AppointmentSlotRow.cell)
        .join(AppointmentRow, AppointmentRow.id == AppointmentSlotRow.appointment_id)
        .where(
            AppointmentSlotRow.business_id == bindparam("business_id"),
            AppointmentSlotRow.cell >= bindparam("lo"),
            AppointmentSlotRow.cell < bindparam("hi"),
            holds.live(dialect),
        )
    )


def free_starts(
    session: Session,
    policy: BusinessPolicy,
    now: datetime,
    days: Iterable[date],
    duration_min: int,
    *,
    after: datetime | None = None,
) -> dict[date, list[datetime]]:
    """Free, bookable starts for each of `days` (one occupancy query for all of them).

    Applies grid, hours, fit, notice (`min_notice_min`), window (`booking_window_days`),
    `after` and occupancy.

    Returns:
        `{day: [aware local starts]}`, every requested day present (maybe empty).
    """
    days = sorted(set(days))
    out: dict[date, list[datetime]] = {d: [] for d in days}
    if not days:
        return out
    first_ok = earliest_start(policy, now).timestamp()
    if after is not None:
        first_ok = max(first_ok, after.timestamp())
    last_day = last_bookable_day(policy, now)
    dur_s = duration_min * 60
    cands: dict[date, list[tuple[datetime, int]]] = {}
    for d in days:
        if d > last_day:
            continue
        cands[d] = [(c, ts) for c, ts in _candidates(policy, d, duration_min) if ts >= first_ok]
    flat = [ts for cs in cands.values() for _, ts in cs]
    if not flat:
        return out
    lo = datetime.fromtimestamp(min(flat), UTC)
    hi = datetime.fromtimestamp(max(flat) + dur_s, UTC)
    occupied = occupied_cells(session, policy.business_id, lo, hi)
    for d, cs in cands.items():
        if not occupied:
            out[d] = [c for c, _ in cs]
            continue
        out[d] = [
            c
            for c, ts in cs
            if occupied.isdisjoint(range(ts // _CELL_S, (ts + dur_s - 1) // _CELL_S + 1))
        ]
    return out


def nearest_free(
    session: Session,
    policy: BusinessPolicy,
    now: datetime,
    target: datetime,
    duration_min: int,
    n: int = 3,
) -> list[datetime]:
    """Up to `n` free bookable starts closest in time to `target` (excluding it).

    Looks at target's day +-3 days first, the whole booking window if that is not enough.

    Returns:
        Aware local datetimes, closest first (ties: earlier first).
    """
    tz = policy.tz
    today = now.astimezone(tz).date()
    last = last_bookable_day(policy, now)
    tday = target.astimezone(tz).date()
    t_utc = target.astimezone(UTC)

    def rank(lo: date, hi: date) -> list[datetime]:
        lo, hi = max(lo, today), min(hi, last)
        if lo > hi:
            return []
        days = [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]
        found = free_starts(session, policy, now, days, duration_min)
        flat = [c for cs in found.values() for c in cs if c.astimezone(UTC) != t_utc]
        flat.sort(
            key=lambda c: (abs((c.astimezone(UTC) - t_utc).total_seconds()), c.astimezone(UTC))
        )
        return flat

    radius = 3
    best = rank(tday - timedelta(days=radius), tday + timedelta(days=radius))
    bound = radius * 86400 - 3600  # any start on an unsearched day is at least this far
    if len(best) < n or abs((best[n - 1].astimezone(UTC) - t_utc).total_seconds()) > bound:
        best = rank(today, last)
    return best[:n]


def next_open_days(
    session: Session,
    policy: BusinessPolicy,
    now: datetime,
    after_day: date,
    duration_min: int,
    limit: int = MAX_ALTERNATIVES,
) -> list[dict[str, str]]:
    """The next days after `after_day` (and not before today) with a free slot.

    Returns:
        `[{date_iso, first_slot_iso}]`, at most `limit`, inside the booking window.
    """
    today = now.astimezone(policy.tz).date()
    start = max(after_day + timedelta(days=1), today)
    last = last_bookable_day(policy, now)
    out: list[dict[str, str]] = []
    chunk = 7
    d = start
    while d <= last and len(out) < limit:
        days = [d + timedelta(days=i) for i in range(chunk) if d + timedelta(days=i) <= last]
        found = free_starts(session, policy, now, days, duration_min)
        for day in days:
            if found[day] and len(out) < limit:
                out.append({"date_iso": day.isoformat(), "first_slot_iso": iso(found[day][0])})
        d += timedelta(days=chunk)
    return out


def slot_dict(start: datetime, duration_min: int) -> dict[str, str]:
    """`{start_iso, end_iso}` for a start and a duration (end in the same zone)."""
    end = (start.astimezone(UTC) + timedelta(minutes=duration_min)).astimezone(start.tzinfo)
    return {"start_iso": iso(start), "end_iso": iso(end)}


def end_of(start: datetime, duration_min: int) -> datetime:
    """start + duration in absolute time, expressed in start's zone (DST-correct)."""
    return (start.astimezone(UTC) + timedelta(minutes=duration_min)).astimezone(start.tzinfo)


def resolve_service(policy: BusinessPolicy, service: object) -> Service:
    """Find a service by id/name/alias or raise `BookingInputError` naming the choices."""
    svc = policy.service_by_name(service) if isinstance(service, str) else None
    if svc is None:
        names = ", ".join(f"{s.id}/{s.name}" for s in policy.services)
        raise BookingInputError(f"unknown service {str(service)[:30]!r}; one of: {names}")
    return svc


# -- the tool ----------------------------------------------------------------------------


def validation_error(message: str) -> dict[str, Any]:
    """`{ok: false, error: "validation_error", message}` with the message cut to 120 chars."""
    return {"ok": False, "error": "validation_error", "message": (message or "invalid input")[:120]}


def find_slots(
    db: Database,
    policy: BusinessPolicy,
    now: NowArg,
    date_iso: str,
    service: str | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    """Free slots of one local day (seed 002 C.1). Never raises.

    Args:
        db: the database (existing appointments).
        policy: the effective business policy.
        now: the business clock (aware datetime or a callable returning one).
        date_iso: the local date, `YYYY-MM-DD` (a full ISO date-time is taken as its date).
        service: id, Hebrew name or alias; None = one `slot_size_min` slot.
        after: only starts at/after this ISO date-time (or `HH:MM` on that day).

    Returns:
        `{ok: true, business_id, date_iso, service, duration_min, slot_size_min,
        slots: [{start_iso, end_iso}], closed, reason, alternatives}` where `reason` is None
        when there are slots, else `closed` / `past` / `beyond_window` / `too_soon` /
        `fully_booked`, and `alternatives` (only when there are no slots) lists the next
        days with a free slot: `[{date_iso, first_slot_iso}]`. Bad input:
        `{ok: false, error: "validation_error", message}` (message <= 120 chars).
    """
    try:
        return _find_slots(db, policy, now, date_iso, service, after)
    except BookingInputError as exc:
        return validation_error(str(exc))
    except Exception as exc:  # noqa: BLE001 - tools never raise (seed 001 item 1)
        return validation_error(str(exc) or type(exc).__name__)


def _find_slots(
    db: Database,
    policy: BusinessPolicy,
    now: NowArg,
    date_iso: object,
    service: object,
    after: object,
) -> dict[str, Any]:
    tz = policy.tz
    now_dt = resolve_now(now, tz)
    day = parse_day(date_iso, tz)
    svc: Service | None = None
    if service is not None and not (isinstance(service, str) and not service.strip()):
        svc = resolve_service(policy, service)
    duration = svc.duration_min if svc else policy.slot_size_min
    after_dt = parse_after(after, day, tz)
    today = now_dt.date()
    last = last_bookable_day(policy, now_dt)

    result: dict[str, Any] = {
        "ok": True,
        "business_id": policy.business_id,
        "date_iso": day.isoformat(),
        "service": svc.id if svc else None,
        "duration_min": duration,
        "slot_size_min": policy.slot_size_min,
        "slots": [],
        "closed": not policy.is_open_on(day),
        "reason": None,
        "alternatives": [],
    }
    with db.session() as s:
        starts = free_starts(s, policy, now_dt, [day], duration, after=after_dt)[day]
        result["slots"] = [slot_dict(c, duration) for c in starts]
        if starts:
            return result
        if result["closed"]:
            result["reason"] = "closed"
        elif day < today:
            result["reason"] = "past"
        elif day > last:
            result["reason"] = "beyond_window"
        else:
            cands = candidate_starts(policy, day, duration)
            if after_dt is not None:
                cands = [c for c in cands if c.astimezone(UTC) >= after_dt.astimezone(UTC)]
            notice = earliest_start(policy, now_dt)
            result["reason"] = (
                "too_soon"
                if cands and all(c.astimezone(UTC) < notice for c in cands)
                else "fully_booked"
            )
        result["alternatives"] = next_open_days(s, policy, now_dt, day, duration)
    return result
