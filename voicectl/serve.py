"""The `voicectl serve` command: the Twilio bridge in one process, or N (`--workers`)."""

from __future__ import annotations

import socket
from typing import Annotated

import typer
from rich.markup import escape

from voicectl.cli_options import ConfigOpt, err_console, settings_or_exit
from voicectl.config import Settings
from voicectl.logs import setup_logging

#: `serve` options that are the supervisor's own, never passed on to its workers.
SUPERVISOR_ONLY = ("workers", "worker_fd")


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    db: Annotated[
        str | None, typer.Option(help="SQLite file or database URL (default from settings).")
    ] = None,
    config: ConfigOpt = None,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING.")] = None,
    accept_sim_params: Annotated[
        bool | None,
        typer.Option(
            "--accept-sim-params",
            help="Honour the simulator's voicectl.* stream parameters and open "
            "/calls/{CallSid} without an admin token: for `simulate --url` only, never for "
            "real calls (env VOICECTL_ACCEPT_SIM_PARAMS).",
        ),
    ] = None,
    require_signatures: Annotated[
        bool | None,
        typer.Option(
            "--require-signatures",
            help="Refuse to start without TWILIO_AUTH_TOKEN (production; env "
            "VOICECTL_REQUIRE_SIGNATURES).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes on the one port (e.g. one per core). Any of them may "
            "take any call's stream; a worker that dies is restarted.",
        ),
    ] = 1,
    worker_fd: Annotated[
        int | None, typer.Option(hidden=True, help="Internal: listening socket inherited.")
    ] = None,
) -> None:
    """Run the Twilio bridge: POST /voice, WS /media, webhooks, /healthz, /metrics.

    One process by default (no auto-reload; seed 002 A); `--workers N` runs N on one port
    (README "serve --workers N"). Deny by default: see README "Security and production".
    """
    settings = settings_or_exit(
        config,
        database=db,
        log_level=log_level,
        accept_sim_params=accept_sim_params or None,
        require_signatures=require_signatures or None,
    )
    setup_logging(settings.log_level)
    from voicectl.telephony.twilio.app import check_startable

    try:
        check_startable(settings)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    from voicectl.supervisor import watch_supervisor

    watch_supervisor()  # a worker, or a server `bench --load` started: not outliving it
    if workers > 1 and worker_fd is None:
        raise typer.Exit(_supervise(settings, workers, host, port, worker_args(ctx)))
    _run_server(settings, host, port, worker_fd)


def worker_args(ctx: typer.Context) -> list[str]:
    """The options this `serve` was given, as the command-line words each worker gets:
    every option of the command (so a new one reaches the workers with no code here),
    except the supervisor's own (`SUPERVISOR_ONLY`); unset ones are left out."""
    words: list[str] = []
    for param in ctx.command.params:
        if param.param_type_name != "option" or param.name in SUPERVISOR_ONLY:
            continue
        value = ctx.params.get(param.name or "")
        if value is None or value is False:
            continue
        name = max(param.opts, key=len)  # the long form, e.g. --log-level
        words += [name] if getattr(param, "is_flag", False) else [name, str(value)]
    return words


def _run_server(settings: Settings, host: str, port: int, worker_fd: int | None) -> None:
    import uvicorn

    from voicectl.telephony.twilio.app import create_app
    from voicectl.telephony.twilio.server import uvicorn_config

    try:
        application = create_app(settings)
    except ValueError as exc:  # includes ProviderError: one line naming the extra
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    server = uvicorn.Server(
        uvicorn_config(application, settings, host, port, settings.log_level.lower())
    )
    if worker_fd is None:
        server.run()
        return
    server.run(sockets=[socket.socket(fileno=worker_fd)])


def _supervise(settings: Settings, workers: int, host: str, port: int, args: list[str]) -> int:
    from voicectl.supervisor import Supervisor, listen_socket, shared_stream_secret
    from voicectl.telephony.twilio.server import listen_backlog

    try:
        sock = listen_socket(host, port, listen_backlog(settings))
    except OSError as exc:
        err_console.print(f"[red]error:[/red] cannot listen on {host}:{port}: {exc}")
        return 2
    secret = shared_stream_secret(settings.twilio_auth_token, settings.stream_secret)
    return Supervisor(workers, args, sock, stream_secret=secret).run()
