"""Business booking policy: loading, storing, overriding (SEEDS.md seed 002 C; DESIGN.md
"The demo business").

A policy comes from the database (`businesses` / `services` tables) when a `Database` is
given, else from the YAML file shipped in the package (`voicectl/data/businesses.yaml`).
On top of it `get_business_policy` applies, in this order:

1. overrides stated in a free-text business prompt (`prompt_overrides`), then
2. explicit overrides (`{field: value}`, e.g. a simulation scenario's
   `policy: {require_phone_before_booking: false}`) - these win.

Weekdays: `opening_hours` is indexed by `date.weekday()` (0 = Monday .. 6 = Sunday); in
YAML and in the database they are named `sun` .. `sat`. A range ending at `time.max`
(written `24:00`) runs until midnight. Ranges may not cross midnight.
"""

from __future__ import annotations

import json
import re
import threading
import time as _time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from voicectl.booking.phone import normalize_phone
from voicectl.hebrew.services import match_service
from voicectl.hebrew.text import clean

if TYPE_CHECKING:
    from voicectl.store.db import Database

DEFAULT_POLICY_PATH = Path(__file__).resolve().parent.parent / "data" / "businesses.yaml"
"""The policy file shipped in the package."""

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday keys indexed like `date.weekday()`."""

_WEEKDAY_ALIASES: dict[str, int] = {
    **{n: i for i, n in enumerate(WEEKDAY_NAMES)},
    **{
        n: i
        for i, n in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
    **{n: i for i, n in enumerate(("שני", "שלישי", "רביעי", "חמישי", "שישי", "שבת", "ראשון"))},
}

END_OF_DAY = time.max
"""Range end meaning "until midnight" (`24:00` in YAML)."""

Hours = tuple[tuple[time, time], ...]


class UnknownBusinessError(ValueError):
    """The business id is neither in the database nor in the policy file."""


class PolicyError(ValueError):
    """A policy file, row or override is malformed."""


@dataclass(frozen=True)
class Service:
    """A bookable service.

    Attributes:
        id: stable id, e.g. `swedish`.
        name: Hebrew display name, e.g. `שוודי`.
        duration_min: length in minutes (> 0).
        aliases: other Hebrew (or English) names callers use.
    """

    id: str
    name: str
    duration_min: int
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML shape: `{id, name, duration_min, aliases}`."""
        return {
            "id": self.id,
            "name": self.name,
            "duration_min": self.duration_min,
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True)
class BusinessPolicy:
    """One business's booking rules (immutable; derive variants with `with_overrides`).

    Attributes:
        business_id: e.g. `demo-spa`.
        name: Hebrew display name, e.g. `ספא דמו`.
        tz: the business clock's time zone.
        opening_hours: 7 tuples of `(open, close)` local times, indexed by `date.weekday()`.
        allow_24_7: open every day, the whole day (`opening_hours` ignored).
        slot_size_min: booking grid step in minutes; a start is on the grid when its local
            minute of the day is a multiple of it (seed 002 C.2 `minute % slot_size_min`).
        min_notice_min: earliest bookable start = now + this many minutes.
        booking_window_days: last bookable local date = today + this many days.
        require_phone_before_booking: `create_appointment` answers `need_phone` without one.
        services: the bookable services, in display order.
        phone_numbers: the business's Twilio `To` numbers (E.164), for call routing.
        applied_overrides: human-readable notes of every override applied (for traces).
    """

    business_id: str
    name: str
    tz: ZoneInfo
    opening_hours: tuple[Hours, ...]
    allow_24_7: bool = False
    slot_size_min: int = 30
    min_notice_min: int = 60
    booking_window_days: int = 30
    require_phone_before_booking: bool = False
    services: tuple[Service, ...] = ()
    phone_numbers: tuple[str, ...] = ()
    applied_overrides: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.tz, ZoneInfo):
            raise PolicyError(f"{self.business_id}: tz must be a ZoneInfo")
        if len(self.opening_hours) != 7:
            raise PolicyError(f"{self.business_id}: opening_hours needs 7 weekdays")
        for day_ranges in self.opening_hours:
            _check_ranges(self.business_id, day_ranges)
        if not 5 <= self.slot_size_min <= 1440:
            raise PolicyError(f"{self.business_id}: slot_size_min must be 5..1440")
        if not 0 <= self.min_notice_min <= 525600:
            raise PolicyError(f"{self.business_id}: min_notice_min must be 0..525600")
        if not 0 <= self.booking_window_days <= 3660:
            raise PolicyError(f"{self.business_id}: booking_window_days must be 0..3660")
        ids = [s.id for s in self.services]
        if len(set(ids)) != len(ids):
            raise PolicyError(f"{self.business_id}: duplicate service ids")
        for s in self.services:
            if not 1 <= s.duration_min <= 1440:
                raise PolicyError(f"{self.business_id}: service {s.id} duration must be 1..1440")

    # -- queries -------------------------------------------------------------------------

    @property
    def timezone(self) -> str:
        """The IANA name of `tz`, e.g. `Asia/Jerusalem`."""
        return self.tz.key

    def hours_on(self, day: date) -> list[tuple[time, time]]:
        """Opening ranges on a local date: `[(open, close), ...]`, empty when closed.

        With `allow_24_7` the whole day: `[(time(0, 0), time.max)]`.
        """
        if self.allow_24_7:
            return [(time(0, 0), END_OF_DAY)]
        return list(self.opening_hours[day.weekday()])

    def is_open_on(self, day: date) -> bool:
        """True when the business has at least one opening range on `day`."""
        return bool(self.hours_on(day))

    def service(self, service_id: str) -> Service | None:
        """The service with exactly this id, or None."""
        for s in self.services:
            if s.id == service_id:
                return s
        return None

    def service_by_name(self, text: str | None) -> Service | None:
        """Find a service by id, Hebrew name or alias, as a caller or the agent says it.

        The one service matcher, `voicectl.hebrew.services.match_service`: tolerant of
        case, niqqud, punctuation, the generic "עיסוי"/"טיפול", prefixes ("לעיסוי השוודי")
        and surrounding words ("עיסוי שוודי של שעה").

        Returns:
            The service, or None when nothing (or more than one service) matches.
        """
        if not isinstance(text, str):
            return None
        return match_service(text, self.services)

    # -- conversions ---------------------------------------------------------------------

    def with_overrides(
        self, overrides: Mapping[str, Any], note: str = "override"
    ) -> BusinessPolicy:
        """Return a copy with fields replaced (`{field: value}`), values coerced.

        Accepted keys: every field except `business_id`/`applied_overrides`, plus
        `timezone` (= `tz`) and `opening_hours_json`. Raises `PolicyError` on an unknown
        field or a bad value.
        """
        if not overrides:
            return self
        if not isinstance(overrides, Mapping):
            raise PolicyError("policy overrides must be a mapping of field -> value")
        changes: dict[str, Any] = {}
        for raw_key, value in overrides.items():
            key = _OVERRIDE_ALIASES.get(str(raw_key), str(raw_key))
            if key not in _OVERRIDABLE:
                known = ", ".join(sorted(_OVERRIDABLE))
                raise PolicyError(f"unknown policy field {raw_key!r}; known: {known}")
            changes[key] = _coerce(self.business_id, key, value)
        notes = tuple(f"{note}: {k}={_show(v)}" for k, v in changes.items())
        return replace(self, **changes, applied_overrides=self.applied_overrides + notes)

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML/database shape of this policy (without `business_id`)."""
        return {
            "name": self.name,
            "timezone": self.timezone,
            "opening_hours": _hours_to_json(self.opening_hours),
            "allow_24_7": self.allow_24_7,
            "slot_size_min": self.slot_size_min,
            "min_notice_min": self.min_notice_min,
            "booking_window_days": self.booking_window_days,
            "require_phone_before_booking": self.require_phone_before_booking,
            "services": [s.to_dict() for s in self.services],
            "phone_numbers": list(self.phone_numbers),
        }

    @classmethod
    def from_dict(cls, business_id: str, data: Mapping[str, Any]) -> BusinessPolicy:
        """Build a policy from the YAML shape (see `voicectl/data/businesses.yaml`).

        Raises:
            PolicyError: a missing or malformed field.
        """
        if not isinstance(data, Mapping):
            raise PolicyError(f"{business_id}: policy must be a mapping")
        unknown = set(data) - _YAML_KEYS
        if unknown:
            raise PolicyError(f"{business_id}: unknown policy keys {sorted(unknown)}")
        bid = str(business_id)
        return cls(
            business_id=bid,
            name=str(data.get("name") or bid),
            tz=_coerce(bid, "tz", data.get("timezone", "Asia/Jerusalem")),
            opening_hours=_coerce(bid, "opening_hours", data.get("opening_hours") or {}),
            allow_24_7=_coerce(bid, "allow_24_7", data.get("allow_24_7", False)),
            slot_size_min=_coerce(bid, "slot_size_min", data.get("slot_size_min", 30)),
            min_notice_min=_coerce(bid, "min_notice_min", data.get("min_notice_min", 60)),
            booking_window_days=_coerce(
                bid, "booking_window_days", data.get("booking_window_days", 30)
            ),
            require_phone_before_booking=_coerce(
                bid, "require_phone_before_booking", data.get("require_phone_before_booking", False)
            ),
            services=_coerce(bid, "services", data.get("services") or []),
            phone_numbers=_coerce(bid, "phone_numbers", data.get("phone_numbers") or []),
        )


_YAML_KEYS = {
    "name",
    "timezone",
    "opening_hours",
    "allow_24_7",
    "slot_size_min",
    "min_notice_min",
    "booking_window_days",
    "require_phone_before_booking",
    "services",
    "phone_numbers",
}
_OVERRIDE_ALIASES = {"timezone": "tz", "opening_hours_json": "opening_hours"}
_OVERRIDABLE = {f.name for f in fields(BusinessPolicy)} - {"business_id", "applied_overrides"}


# -- loading -------------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cache: dict[Path, tuple[int, dict[str, BusinessPolicy], dict[str, str]]] = {}


def load_policies(path: str | Path | None = None) -> dict[str, BusinessPolicy]:
    """Load every business policy from a YAML file (default: the shipped one).

    The file has a top-level `businesses:` mapping of business id -> policy fields. Parsed
    files are cached by path and modification time.

    Returns:
        `{business_id: BusinessPolicy}` (a fresh dict; the policies are immutable).

    Raises:
        PolicyError: the file is malformed. OSError: it cannot be read.
    """
    return dict(_load_file(path)[0])


def _load_file(path: str | Path | None) -> tuple[dict[str, BusinessPolicy], dict[str, str]]:
    """`load_policies`' cached parse: the policies and their `_numbers` index."""
    p = Path(path) if path is not None else DEFAULT_POLICY_PATH
    mtime = p.stat().st_mtime_ns
    with _cache_lock:
        hit = _cache.get(p)
        if hit is not None and hit[0] == mtime:
            return hit[1], hit[2]
    with p.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    if not isinstance(doc, Mapping) or not isinstance(doc.get("businesses"), Mapping):
        raise PolicyError(f"{p}: expected a top-level 'businesses:' mapping")
    policies = {
        str(bid): BusinessPolicy.from_dict(str(bid), d) for bid, d in doc["businesses"].items()
    }
    numbers = _numbers(policies)
    with _cache_lock:
        _cache[p] = (mtime, policies, numbers)
    return policies, numbers


def seed_policies(db: Database, path: str | Path | None = None) -> int:
    """Upsert every policy of a YAML file into the `businesses`/`services` tables.

    Idempotent: a business row is updated in place and its services replaced, so running
    it again changes nothing. Businesses absent from the file are left alone. Processes
    seeding one database at once take turns (SQLite's write lock, a PostgreSQL advisory
    lock), so each sees the others' rows.

    Returns:
        The number of businesses written.
    """
    policies = load_policies(path)
    try:
        _write_policies(db, policies)
    finally:
        with _cache_lock:  # this process sees the new rows at once (POLICY_CACHE_S)
            _db_cache.pop(db, None)
    return len(policies)


def _write_policies(db: Database, policies: dict[str, BusinessPolicy]) -> None:
    from sqlalchemy import delete

    from voicectl.store.booking import BusinessRow, ServiceRow, begin_write
    from voicectl.store.db import lock_transaction

    with db.session() as s:
        begin_write(s)
        lock_transaction(s, "voicectl.seed_policies")  # N servers start at once
        for bid, pol in policies.items():
            row = s.get(BusinessRow, bid) or BusinessRow(id=bid)
            row.name = pol.name
            row.timezone = pol.timezone
            row.allow_24_7 = pol.allow_24_7
            row.slot_size_min = pol.slot_size_min
            row.min_notice_min = pol.min_notice_min
            row.booking_window_days = pol.booking_window_days
            row.require_phone_before_booking = pol.require_phone_before_booking
            row.opening_hours_json = json.dumps(_hours_to_json(pol.opening_hours))
            row.phone_numbers_json = json.dumps(list(pol.phone_numbers))
            s.add(row)
            s.flush()
            s.execute(delete(ServiceRow).where(ServiceRow.business_id == bid))
            for pos, svc in enumerate(pol.services):
                s.add(
                    ServiceRow(
                        business_id=bid,
                        id=svc.id,
                        name=svc.name,
                        duration_min=svc.duration_min,
                        aliases_json=json.dumps(list(svc.aliases), ensure_ascii=False),
                        position=pos,
                    )
                )


#: How long policies read from the database are reused, seconds. Every call start needs
#: its business's policy (and `/voice` the number -> business map); reading and parsing
#: the tables each time was ~6% of a 100-call server's CPU (docs/benchmarks.md, "Issue
#: 12: per call start"). Policies change only by `seed_policies`, which clears this
#: process's copy at once; a change seeded by another process or box reaches calls that
#: start at most this long after it.
POLICY_CACHE_S = 5.0


@dataclass(frozen=True)
class _DbPolicies:
    read_at: float  # time.monotonic() when read
    policies: dict[str, BusinessPolicy]
    numbers: dict[str, str]  # normalised phone number -> business id


_db_cache: weakref.WeakKeyDictionary[Database, _DbPolicies] = weakref.WeakKeyDictionary()


def _numbers(policies: Mapping[str, BusinessPolicy]) -> dict[str, str]:
    """`{normalised phone number: business id}`; the first business listing a number wins."""
    out: dict[str, str] = {}
    for bid, pol in policies.items():
        for number in pol.phone_numbers:
            key = normalize_phone(number)
            if key is not None:
                out.setdefault(key, bid)
    return out


def _cached_db_policies(db: Database) -> _DbPolicies:
    """Every business in the database, read at most `POLICY_CACHE_S` ago (blocking)."""
    now = _time.monotonic()
    with _cache_lock:
        hit = _db_cache.get(db)
    if hit is not None and now - hit.read_at < POLICY_CACHE_S:
        return hit
    policies = _read_policies_from_db(db)
    entry = _DbPolicies(now, policies, _numbers(policies))
    with _cache_lock:
        _db_cache[db] = entry
    return entry


def _policies_from_db(db: Database, business_id: str | None = None) -> dict[str, BusinessPolicy]:
    """`{business_id: policy}` from the database (one business, or all): a fresh dict of
    immutable policies, at most `POLICY_CACHE_S` old."""
    policies = _cached_db_policies(db).policies
    if business_id is None:
        return dict(policies)
    found = policies.get(business_id)
    return {business_id: found} if found is not None else {}


def _read_policies_from_db(db: Database) -> dict[str, BusinessPolicy]:
    from sqlalchemy import select

    from voicectl.store.booking import BusinessRow, ServiceRow

    out: dict[str, BusinessPolicy] = {}
    with db.session() as s:
        rows = list(s.scalars(select(BusinessRow)))
        if not rows:
            return out
        sq = select(ServiceRow).order_by(ServiceRow.business_id, ServiceRow.position)
        services: dict[str, list[dict[str, Any]]] = {}
        for srow in s.scalars(sq):
            services.setdefault(srow.business_id, []).append(
                {
                    "id": srow.id,
                    "name": srow.name,
                    "duration_min": srow.duration_min,
                    "aliases": json.loads(srow.aliases_json or "[]"),
                }
            )
        for row in rows:
            out[row.id] = BusinessPolicy.from_dict(
                row.id,
                {
                    "name": row.name,
                    "timezone": row.timezone,
                    "opening_hours": json.loads(row.opening_hours_json or "{}"),
                    "allow_24_7": row.allow_24_7,
                    "slot_size_min": row.slot_size_min,
                    "min_notice_min": row.min_notice_min,
                    "booking_window_days": row.booking_window_days,
                    "require_phone_before_booking": row.require_phone_before_booking,
                    "services": services.get(row.id, []),
                    "phone_numbers": json.loads(row.phone_numbers_json or "[]"),
                },
            )
    return out


def get_business_policy(
    business_id: str,
    business_prompt: str | None = None,
    *,
    db: Database | None = None,
    overrides: Mapping[str, Any] | None = None,
    path: str | Path | None = None,
) -> BusinessPolicy:
    """The effective policy of a business for one call (seed 002 C.1).

    Source: the database when `db` is given and holds the business, else the YAML file
    (`path`, default the shipped one). Then the overrides a free-text `business_prompt`
    states (see `prompt_overrides`), then the explicit `overrides` (`{field: value}`,
    e.g. a scenario's `policy:` block), which win.

    Raises:
        UnknownBusinessError: the business is in neither source.
        PolicyError: an override names an unknown field or has a bad value.
    """
    bid = str(business_id).strip() if business_id is not None else ""
    policy: BusinessPolicy | None = None
    if db is not None:
        policy = _policies_from_db(db, bid).get(bid)
    if policy is None:
        shipped = load_policies(path)
        policy = shipped.get(bid)
        if policy is None:
            known = sorted(shipped)
            if db is not None:
                known = sorted(set(known) | set(_policies_from_db(db)))
            raise UnknownBusinessError(
                f"unknown business {business_id!r}; known businesses: {', '.join(known)}"
            )
    if business_prompt:
        policy = policy.with_overrides(prompt_overrides(business_prompt), note="prompt")
    if overrides:
        policy = policy.with_overrides(overrides)
    return policy


def business_for_number(
    e164: str | None, *, db: Database | None = None, path: str | Path | None = None
) -> str | None:
    """The business whose `phone_numbers` contain this Twilio `To` number, or None.

    The number is normalised first (`+972 3-372-0100` matches `+97233720100`). Looks in
    the database when `db` is given (falling back to the YAML file), else the YAML file.
    """
    wanted = normalize_phone(e164) if isinstance(e164, str) else None
    if wanted is None:
        return None
    if db is not None:
        found = _cached_db_policies(db).numbers.get(wanted)
        if found is not None:
            return found
    return _load_file(path)[1].get(wanted)


# -- free-text prompt ----------------------------------------------------------------------

_NEG = re.compile(r"(?:\bלא|\bאין|\bnot|\bno|n't)\b\s*(?:\S+\s+){0,2}$", re.IGNORECASE)
_24_7 = re.compile(
    r"24\s*/\s*7|24\s*[x×]\s*7|24\s+שעות(?!\s+(?:מראש|לפני|קודם|בהתראה))|מסביב\s+לשעון|כל\s+שעות\s+היממה|"
    r"open\s+24\s+hours|around\s+the\s+clock|24\s+hours\s+a\s+day",
    re.IGNORECASE,
)
_MIN_WORD = r"(?:דקות|דק['׳]?|minutes?|mins?)"
_SLOT_NUM = re.compile(
    r"(?:תורים|תור|משבצות|משבצת|slots?|appointments?)\s+(?:של\s+|כל\s+|every\s+|of\s+)?"
    r"(?:[-–]\s*)?(\d{1,4})\s*" + _MIN_WORD,
    re.IGNORECASE,
)
_EVERY_NUM = re.compile(r"(?:\bכל|\bevery)\s+(\d{1,4})\s*" + _MIN_WORD, re.IGNORECASE)
_SLOT_WORDS = re.compile(
    r"(?:תורים|משבצות)\s+(?:של\s+|כל\s+)(רבע\s+שעה|חצי\s+שעה|שעה\s+וחצי|שעתיים|שעה)"
)
_WORD_MINUTES = {"רבע שעה": 15, "חצי שעה": 30, "שעה": 60, "שעה וחצי": 90, "שעתיים": 120}
_NOTICE = re.compile(
    r"(?:לפחות|מינימום|at\s+least)\s+(\d{1,4})\s*(דקות|דק['׳]?|שעות|שעה|minutes?|hours?)\s+"
    r"(?:מראש|התראה|הודעה\s+מוקדמת|notice|in\s+advance|ahead)",
    re.IGNORECASE,
)
_NOTICE_WORDS = re.compile(r"לפחות\s+(שעה|שעתיים|יום)\s+מראש")
_WINDOW = re.compile(
    r"(?:עד|up\s+to|no\s+more\s+than)\s+(\d{1,4})\s*(ימים|יום|שבועות|שבוע|days?|weeks?)\s+"
    r"(?:מראש|קדימה|ahead|in\s+advance)",
    re.IGNORECASE,
)
_PHONE_REQ = re.compile(
    r"(?:טלפון|מספר\s+טלפון)\s+(?:הוא\s+)?חובה|חובה\s+(?:לקבל\s+|לבקש\s+)?(?:מספר\s+)?טלפון|"
    r"(?:phone(?:\s+number)?\s+(?:is\s+)?required|requires?\s+(?:a\s+)?phone)",
    re.IGNORECASE,
)


def _negated(text: str, start: int) -> bool:
    return bool(_NEG.search(text[max(0, start - 24) : start]))


def prompt_overrides(text: str | None) -> dict[str, Any]:
    """The policy overrides a free-text business prompt states (seed 002 C.1).

    Recognised (Hebrew or English; a preceding "לא"/"אין"/"not"/"no" cancels a match):

    - `allow_24_7 = True`: "24/7", "24x7", "24 שעות" (not "24 שעות מראש"), "מסביב לשעון",
      "כל שעות היממה", "open 24 hours", "around the clock".
    - `slot_size_min`: "תורים כל 15 דקות", "משבצות של 20 דק'", "slots of 15 minutes",
      "every 15 minutes", "כל 15 דקות", "תורים כל רבע שעה / חצי שעה / שעה / שעתיים"
      (values outside 5..1440 ignored).
    - `min_notice_min`: "לפחות 2 שעות מראש", "at least 90 minutes notice", "לפחות שעתיים מראש",
      "לפחות יום מראש".
    - `booking_window_days`: "עד 14 ימים מראש", "עד 3 שבועות קדימה", "up to 60 days ahead".
    - `require_phone_before_booking = True`: "טלפון חובה", "חובה מספר טלפון",
      "phone number required".

    Returns:
        `{field: value}` for what was found (empty when nothing was). Never raises.
    """
    if not isinstance(text, str) or not text.strip():
        return {}
    # One clean-up for every Hebrew reader: niqqud, geresh/gershayim ("ש״ח"), maqaf.
    text = clean(text)[0]
    found: dict[str, Any] = {}
    for m in _24_7.finditer(text):
        if not _negated(text, m.start()):
            found["allow_24_7"] = True
            break
    size: int | None = None
    for rx in (_SLOT_NUM, _EVERY_NUM):
        m = rx.search(text)
        if m:
            size = int(m.group(1))
            break
    if size is None:
        m = _SLOT_WORDS.search(text)
        if m:
            size = _WORD_MINUTES[re.sub(r"\s+", " ", m.group(1))]
    if size is not None and 5 <= size <= 1440:
        found["slot_size_min"] = size
    m = _NOTICE.search(text)
    if m:
        n, unit = int(m.group(1)), m.group(2).lower()
        found["min_notice_min"] = n * 60 if unit.startswith(("שע", "hour")) else n
    else:
        m = _NOTICE_WORDS.search(text)
        if m:
            found["min_notice_min"] = {"שעה": 60, "שעתיים": 120, "יום": 1440}[m.group(1)]
    m = _WINDOW.search(text)
    if m:
        n, unit = int(m.group(1)), m.group(2).lower()
        found["booking_window_days"] = n * 7 if unit.startswith(("שבוע", "week")) else n
    m = _PHONE_REQ.search(text)
    if m and not _negated(text, m.start()):
        found["require_phone_before_booking"] = True
    return found


# -- helpers -------------------------------------------------------------------------------


def parse_time_of_day(value: object) -> time:
    """Parse `HH:MM` (or `HH:MM:SS`, or a `time`); `24:00` gives `END_OF_DAY`."""
    if isinstance(value, time):
        return value
    s = str(value).strip()
    if s in ("24:00", "24:00:00"):
        return END_OF_DAY
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", s)
    if not m:
        raise PolicyError(f"bad time of day {value!r}; expected HH:MM")
    h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if h > 23 or mi > 59 or sec > 59:
        raise PolicyError(f"bad time of day {value!r}")
    return time(h, mi, sec)


def _parse_range(bid: str, value: object) -> tuple[time, time]:
    if isinstance(value, str):
        parts = re.split(r"\s*[-–]\s*", value.strip())
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise PolicyError(f"{bid}: bad opening range {value!r}")
    if len(parts) != 2:
        raise PolicyError(f"{bid}: bad opening range {value!r}; expected 'HH:MM-HH:MM'")
    start, end = parse_time_of_day(parts[0]), parse_time_of_day(parts[1])
    if start == END_OF_DAY:
        raise PolicyError(f"{bid}: opening range cannot start at 24:00")
    return start, end


def _check_ranges(bid: str, ranges: Hours) -> None:
    prev_end: time | None = None
    for start, end in ranges:
        if not start < end:
            raise PolicyError(f"{bid}: range {start}-{end} must end after it starts")
        if prev_end is not None and start < prev_end:
            raise PolicyError(f"{bid}: opening ranges overlap or are unsorted")
        prev_end = end


def _parse_hours(bid: str, value: object) -> tuple[Hours, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise PolicyError(f"{bid}: opening_hours is not JSON") from exc
    if isinstance(value, list | tuple) and len(value) == 7:
        value = dict(zip(WEEKDAY_NAMES, value, strict=True))
    if not isinstance(value, Mapping):
        raise PolicyError(f"{bid}: opening_hours must map weekday -> ranges")
    days: list[list[tuple[time, time]]] = [[] for _ in range(7)]
    for key, ranges in value.items():
        idx = _WEEKDAY_ALIASES.get(str(key).strip().lower())
        if idx is None:
            raise PolicyError(f"{bid}: unknown weekday {key!r}")
        if ranges is None:
            continue
        if isinstance(ranges, str):
            ranges = [r for r in re.split(r"\s*[,;]\s*", ranges) if r]
        if not isinstance(ranges, list | tuple):
            raise PolicyError(f"{bid}: ranges of {key!r} must be a list")
        days[idx] = sorted(_parse_range(bid, r) for r in ranges)
    return tuple(tuple(d) for d in days)


def _hours_to_json(hours: tuple[Hours, ...]) -> dict[str, list[str]]:
    def fmt(t: time) -> str:
        if t == END_OF_DAY:
            return "24:00"
        return t.strftime("%H:%M") if t.second == 0 else t.strftime("%H:%M:%S")

    order = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
    return {
        name: [f"{fmt(a)}-{fmt(b)}" for a, b in hours[WEEKDAY_NAMES.index(name)]] for name in order
    }


def _as_bool(bid: str, key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise PolicyError(f"{bid}: {key} must be true or false, not {value!r}")


def _as_int(bid: str, key: str, value: object) -> int:
    if isinstance(value, bool):
        raise PolicyError(f"{bid}: {key} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    raise PolicyError(f"{bid}: {key} must be an integer, not {value!r}")


def _parse_services(bid: str, value: object) -> tuple[Service, ...]:
    if not isinstance(value, list | tuple):
        raise PolicyError(f"{bid}: services must be a list")
    out: list[Service] = []
    for item in value:
        if isinstance(item, Service):
            out.append(item)
            continue
        if not isinstance(item, Mapping) or "id" not in item:
            raise PolicyError(f"{bid}: each service needs at least an id")
        aliases = item.get("aliases") or []
        if isinstance(aliases, str):
            aliases = [aliases]
        out.append(
            Service(
                id=str(item["id"]),
                name=str(item.get("name") or item["id"]),
                duration_min=_as_int(bid, "duration_min", item.get("duration_min", 30)),
                aliases=tuple(str(a) for a in aliases),
            )
        )
    return tuple(out)


def _coerce(bid: str, key: str, value: object) -> Any:
    if key == "tz":
        if isinstance(value, ZoneInfo):
            return value
        try:
            return ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise PolicyError(f"{bid}: unknown time zone {value!r}") from exc
    if key == "opening_hours":
        return _parse_hours(bid, value)
    if key in ("allow_24_7", "require_phone_before_booking"):
        return _as_bool(bid, key, value)
    if key in ("slot_size_min", "min_notice_min", "booking_window_days"):
        return _as_int(bid, key, value)
    if key == "services":
        return _parse_services(bid, value)
    if key == "phone_numbers":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise PolicyError(f"{bid}: phone_numbers must be a list")
        out = []
        for n in value:
            e164 = normalize_phone(str(n))
            if e164 is None:
                raise PolicyError(f"{bid}: bad phone number {n!r}")
            out.append(e164)
        return tuple(out)
    if key == "name":
        return str(value)
    raise PolicyError(f"{bid}: unknown policy field {key!r}")


def _show(value: object) -> str:
    if isinstance(value, ZoneInfo):
        return value.key
    if isinstance(value, tuple) and value and isinstance(value[0], Service):
        return ",".join(s.id for s in value)
    return str(value)[:60]
