"""`serve --workers N` hands its workers exactly the options it was given: every option
of the command (a new one too, with no code to forget), never the supervisor's own."""

from __future__ import annotations

import typer.main

from voicectl.cli import app
from voicectl.serve import SUPERVISOR_ONLY, worker_args

SERVE = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]


def _params(argv: list[str]) -> dict[str, object]:
    return dict(SERVE.make_context("serve", argv).params)


def test_every_option_given_reaches_the_workers_and_the_supervisors_own_do_not() -> None:
    argv = ["--workers", "3", "--host", "0.0.0.0", "--port", "18601", "--db", "x.db",
            "-c", "v.yaml", "--log-level", "DEBUG", "--accept-sim-params",
            "--require-signatures"]  # fmt: skip
    given = SERVE.make_context("serve", argv)
    words = worker_args(given)
    assert not {"--workers", "--worker-fd"} & set(words)
    theirs = _params(words)
    mine = {k: v for k, v in given.params.items() if k not in SUPERVISOR_ONLY}
    assert {k: v for k, v in theirs.items() if k not in SUPERVISOR_ONLY} == mine
    options = {p.name for p in SERVE.params if p.param_type_name == "option"}
    assert options - set(SUPERVISOR_ONLY) <= {k for k, v in mine.items() if v is not None}


def test_options_left_unset_stay_unset_for_the_workers() -> None:
    words = worker_args(SERVE.make_context("serve", ["--workers", "2"]))
    assert words == ["--host", "127.0.0.1", "--port", "8080"]
    theirs = _params(words)
    assert theirs["db"] is None and theirs["accept_sim_params"] is None
