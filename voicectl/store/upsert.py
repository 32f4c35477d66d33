"""Insert-if-missing as ONE statement: `INSERT ... ON CONFLICT` on SQLite and PostgreSQL.

Several processes (`serve --workers N`, N boxes on one PostgreSQL) write the same rows:
a call's ending, its live stream, its saved conversation. Reading "is there a row?" and
then inserting lets two of them both see none and both insert - one then fails with a
unique violation (a 500 to Twilio, a lost save). Here the primary key decides inside the
statement: `insert_once` inserts unless the key exists (`ON CONFLICT DO NOTHING`) and says
whether it did; `upsert` inserts or updates the named columns (`ON CONFLICT DO UPDATE`).

Both run inside the caller's session, so they commit or roll back with the rest of its
transaction. On PostgreSQL an insert that meets another transaction's uncommitted row of
the same key waits for it, then does nothing (or updates) once it commits - no error.
Both dialects' syntax: SQLite 3.24+ and PostgreSQL 9.5+ (SQLAlchemy `dialects.sqlite` /
`dialects.postgresql` `insert`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _insert(session: Session, table: Table) -> Any:
    return _insert_of(session.get_bind().dialect.name, table)


def _insert_of(name: str, table: Table) -> Any:
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"insert-if-missing is not written for the {name} dialect")


def _table(model: Any) -> Table:
    return model if isinstance(model, Table) else model.__table__


def insert_once(session: Session, model: Any, values: Mapping[str, Any]) -> bool:
    """Insert the row `values` into `model`'s table unless a row with its primary key
    exists; returns True if this statement inserted it (False: nothing written).

    Args:
        session: the transaction to run in.
        model: a mapped class (or a `Table`).
        values: column name -> value; columns left out get their defaults.

    Raises:
        NotImplementedError: a database other than SQLite or PostgreSQL.
    """
    dialect = session.get_bind().dialect
    stmt = _insert_once_stmt(dialect.name, _table(model), dialect.insert_returning)
    if dialect.insert_returning:
        return session.execute(stmt, dict(values)).first() is not None
    return session.execute(stmt, dict(values)).rowcount == 1  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=64)  # one per (dialect, table): a handful
def _insert_once_stmt(dialect: str, table: Table, returning: bool) -> Any:
    """`insert_once`'s statement, built once: the row's values are bound at execution
    (building the statement cost SQLAlchemy more than running it)."""
    key = list(table.primary_key.columns)
    stmt = _insert_of(dialect, table).on_conflict_do_nothing(index_elements=key)
    # psycopg reports no rowcount (-1) for this statement: ask for the inserted key.
    return stmt.returning(*key) if returning else stmt


def upsert(session: Session, model: Any, values: Mapping[str, Any], update: Iterable[str]) -> None:
    """Insert the row `values`, or - when its primary key exists - set the columns named
    in `update` to the values given (the row's other columns are kept).

    Column `onupdate` hooks do not run on the update branch: pass such a column (e.g. an
    `updated_at`) in `values` and `update` yourself.

    Raises:
        NotImplementedError: a database other than SQLite or PostgreSQL.
        KeyError: a name in `update` is not in `values`.
    """
    table = _table(model)
    names = list(update)
    missing = [n for n in names if n not in values]
    if missing:
        raise KeyError(f"upsert: {missing} updated but not given")
    stmt = _insert(session, table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={name: stmt.excluded[name] for name in names},
    )
    session.execute(stmt)
