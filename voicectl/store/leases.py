"""Which processes are alive, across boxes: a lease per serving process, renewed in the
database.

At start-up a process closes the calls a dead process of ITS OWN box left "in-progress"
(it can ask the kernel whether a pid lives: `records.owner_dead`). A box that never comes
back cannot do that for its calls, and no other box can ask its kernel. So every serving
process renews a lease row (`process_leases`, keyed by `records.process_owner`) every
`LEASE_RENEW_S`; any live process that finds a lease not renewed for `LEASE_TTL_S` takes
its owner as gone: the calls it left in progress are closed as "interrupted" (with what
was saved; `call.ended` with `ended_by="owner_lost"`) and its live-stream rows are
cleared (`records.close_lost_owners`).

Rules that keep this sound:
- Only owners that hold a lease row are judged by it; an owner with none (a build
  before leases, a process that never served) is left to its own box's start-up.
- A clean shutdown deletes its row: nothing left to judge.
- Times are the database server's clock on PostgreSQL (`now()`), so boxes' clocks need
  not agree; SQLite is one box, one clock.
- `LEASE_TTL_S` (60 s) is six renewals: a process whose renewals all fail that long (the
  database unreachable for a minute) is taken as gone, and its calls are closed.

All functions here block: run them off the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from voicectl.store.db import Base, Database
from voicectl.store.upsert import upsert

#: How often a serving process renews its lease (s).
LEASE_RENEW_S = 10.0
#: A lease not renewed for this long means its process is gone (s).
LEASE_TTL_S = 60.0


class ProcessLeaseRow(Base):
    """A serving process's lease: its last renewal (database time)."""

    __tablename__ = "process_leases"

    #: `records.process_owner`: `host:pid:instance`.
    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    renewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _db_now(s: Session) -> datetime:
    """The database's clock (PostgreSQL `now()`), aware UTC; the local clock on SQLite."""
    if s.get_bind().dialect.name == "postgresql":
        now = s.scalar(select(func.now()))
        assert now is not None
        return now.astimezone(UTC)
    return datetime.now(UTC)


def renew(db: Database, owner: str, host: str) -> None:
    """Create or renew the lease of process `owner` on box `host`."""
    with db.session() as s:
        now = _db_now(s)
        upsert(
            s,
            ProcessLeaseRow,
            {"owner": owner, "host": host, "renewed_at": now},
            update=("host", "renewed_at"),
        )


def release(db: Database, owner: str) -> None:
    """Drop the lease of `owner` (a clean shutdown)."""
    with db.session() as s:
        s.execute(delete(ProcessLeaseRow).where(ProcessLeaseRow.owner == owner))


def lapsed(db: Database, ttl_s: float = LEASE_TTL_S) -> set[str]:
    """Owners whose lease was last renewed more than `ttl_s` seconds ago."""
    with db.session() as s:
        cutoff = _db_now(s) - timedelta(seconds=ttl_s)
        return set(
            s.scalars(select(ProcessLeaseRow.owner).where(ProcessLeaseRow.renewed_at < cutoff))
        )


def forget(db: Database, owners: set[str]) -> None:
    """Delete the leases of `owners` (their calls are closed)."""
    if owners:
        with db.session() as s:
            s.execute(delete(ProcessLeaseRow).where(ProcessLeaseRow.owner.in_(owners)))
