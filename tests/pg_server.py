"""A throwaway PostgreSQL server for the tests: the real PostgreSQL binaries that the
`pgserver` wheel ships (a `test` extra dependency), listening on a Unix socket only.

`.ci/run` starts one before pytest and stops it on exit; the tests' `postgres_url`
fixture (tests/conftest.py) uses it through `VOICECTL_TEST_POSTGRES_URL`, or starts its
own with `start()` when that is unset.

    python tests/pg_server.py start DIR   # prints the SQLAlchemy URL; the server keeps running
    python tests/pg_server.py stop DIR    # fast shutdown (no-op if nothing runs there)
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path


def _pgserver():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    return pgserver


def start(pgdata: Path) -> str:
    """Start (initdb on first use) a server with its data in `pgdata`; return its
    `postgresql+psycopg://` URL (database `postgres`, user `postgres`, trust auth).

    The server outlives this process; `stop(pgdata)` ends it. As root, `pgserver` runs it
    as a system user `pgserver` (created if missing) and makes `pgdata`'s parents
    traversable. Raises ImportError without `pgserver`, or whatever starting it raised.
    """
    from sqlalchemy.engine import make_url

    server = _pgserver().get_server(pgdata, cleanup_mode=None)
    url = make_url(server.get_uri()).set(drivername="postgresql+psycopg", password=None)
    return url.render_as_string(hide_password=False)


def stop(pgdata: Path) -> None:
    """Stop the server whose data is in `pgdata` (fast shutdown: open sessions end)."""
    if not (pgdata / "postmaster.pid").exists():
        return
    pg = _pgserver()
    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    pgdata = Path(argv[1]).resolve()
    if argv[0] == "start":
        print(start(pgdata))
    else:
        stop(pgdata)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
