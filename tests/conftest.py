"""Shared fixtures: the database under test, SQLite or a real PostgreSQL server.

`db_url` runs a test once per database (`[sqlite]`, `[postgresql]`), each time with a
fresh, empty database of its own. The PostgreSQL server is the one `.ci/run` started
(`VOICECTL_TEST_POSTGRES_URL`, a SQLAlchemy URL of a role that may create databases), or,
when that is unset, one this session starts itself from the `pgserver` wheel (the `test`
extra installs it) and stops at the end. Without either the PostgreSQL cases skip, saying
why - except under `CI=true`, where they fail: CI never passes without PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pg_server  # tests/pg_server.py
import pytest

POSTGRES_URL_ENV = "VOICECTL_TEST_POSTGRES_URL"
DATABASES = ("sqlite", "postgresql")


def _unavailable(why: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required in CI: {why}", pytrace=False)
    pytest.skip(f"PostgreSQL tests need a server: {why}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database (`postgres`) for this session."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if url:
        yield url
        return
    # A short path of its own under /tmp: the server's Unix socket lives in it (108-byte
    # limit), and pgserver opens its parents to its system user when run as root.
    tmp = Path(tempfile.mkdtemp(prefix="voicectl-pg-"))
    pgdata = tmp / "data"
    try:
        url = pg_server.start(pgdata)
    except Exception as exc:  # noqa: BLE001 - any reason is reported, then skip/fail
        shutil.rmtree(tmp, ignore_errors=True)
        _unavailable(f"set {POSTGRES_URL_ENV}, or install pgserver ({type(exc).__name__}: {exc})")
    try:
        yield url
    finally:
        pg_server.stop(pgdata)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def _pg_admin(postgres_url: str) -> Iterator[object]:
    from sqlalchemy import create_engine

    from voicectl.store.db import database_url

    engine = create_engine(database_url(postgres_url), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@contextmanager
def _new_pg_database(admin) -> Iterator[str]:  # noqa: ANN001
    """URL of a new, empty PostgreSQL database, dropped (sessions and all) on exit."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"voicectl_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin.url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_database(_pg_admin) -> Iterator[str]:  # noqa: ANN001
    """URL of a new, empty PostgreSQL database for one test."""
    with _new_pg_database(_pg_admin) as url:
        yield url


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for this test: a SQLite file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "test.db")
    return request.getfixturevalue("pg_database")


@pytest.fixture(scope="module", params=DATABASES)
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:  # noqa: ANN001
    """Like `db_url`, one per test module (for property tests that share a calendar)."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("db") / "shared.db")
        return
    with _new_pg_database(request.getfixturevalue("_pg_admin")) as url:
        yield url
