"""`voicectl flows ...`: inspect, retry and run the after-call flows.

- `flows list [--status S] [--call SID] [--json]` - deliveries (messages), oldest first.
- `flows show ID [--json]` - one delivery with every attempt.
- `flows retry ID` - queue a failed/skipped delivery again (never a sent one).
- `flows run [--once]` - a dispatcher in this process (`--once`: one round, then exit).

The database is the one `serve` and `simulate` use: `--db`, else `VOICECTL_DATABASE`, else
`voicectl.yaml`'s `database`. Exit codes: 0 ok; 1 not found / refused / a delivery failed
during `run --once`; 2 bad configuration or usage.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from voicectl.cli_options import ConfigOpt, settings_or_exit
from voicectl.config import Settings
from voicectl.store.flows import STATUSES

app = typer.Typer(
    help="After-call flows: WhatsApp confirmations and call summaries (the outbox).",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

DbOpt = Annotated[
    str | None, typer.Option("--db", help="SQLite file or URL (default: VOICECTL_DATABASE).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_STYLE = {"sent": "green", "done": "green", "pending": "yellow", "skipped": "dim", "failed": "red"}


def _settings(config: Path | None, db: str | None) -> Settings:
    return settings_or_exit(config, database=db)


def _db(settings: Settings) -> Any:
    from voicectl.store.db import Database

    return Database(settings.database)


def _short_event(event: str) -> str:
    return event.replace("appointment.", "appt.")


def _short_handler(handler: str) -> str:
    return handler.replace("whatsapp_", "")


def messages_table(messages: list[dict[str, Any]], title: str | None = None) -> Table:
    """Deliveries as a table that fits 80 columns (the text wraps in its column)."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("event / handler", no_wrap=True)
    table.add_column("to", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("try", justify="right", no_wrap=True)
    table.add_column("text / note", overflow="fold", ratio=1)
    for m in messages:
        body = m["text"] or m["note"] or m["last_error"] or ""
        if m["status"] in ("pending", "failed") and m["last_error"]:
            body = f"{body} [{m['last_error']}]" if m["text"] else m["last_error"]
        table.add_row(
            str(m["id"]),
            f"{_short_event(m['event'])}\n{_short_handler(m['handler'])}",
            m["to"] or "-",
            Text(m["status"], style=_STYLE.get(m["status"], "")),
            str(m["attempts"]),
            body,
        )
    return table


@app.command("list")
def list_cmd(
    status: Annotated[
        str | None, typer.Option(help=f"Only this status: {', '.join(STATUSES)}.")
    ] = None,
    call: Annotated[str | None, typer.Option("--call", help="Only this CallSid.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many.")] = None,
    json_out: JsonOpt = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List deliveries (each message: id, event, handler, to, text, status, attempts)."""
    from voicectl.flows.messages import list_messages

    if status is not None and status not in STATUSES:
        err_console.print(f"[red]error:[/red] --status must be one of {', '.join(STATUSES)}")
        raise typer.Exit(2)
    database = _db(_settings(config, db))
    messages = list_messages(database, status=status, call_sid=call, limit=limit)
    if json_out:
        typer.echo(json.dumps(messages, ensure_ascii=False, indent=2))
        return
    if not messages:
        console.print("no messages" + (f" with status {status}" if status else ""))
        return
    console.print(messages_table(messages))


@app.command("show")
def show_cmd(
    delivery_id: Annotated[int, typer.Argument(metavar="ID", help="Delivery id (from list).")],
    json_out: JsonOpt = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show one delivery and every attempt at it."""
    from voicectl.flows.messages import get_message

    m = get_message(_db(_settings(config, db)), delivery_id)
    if m is None:
        err_console.print(f"[red]error:[/red] no delivery {delivery_id}")
        raise typer.Exit(1)
    if json_out:
        typer.echo(json.dumps(m, ensure_ascii=False, indent=2))
        return
    for key in ("id", "event", "event_id", "handler", "business_id", "call_sid", "to",
                "channel", "status", "attempts", "provider_id", "created_at", "sent_at",
                "next_attempt_at", "note", "last_error"):  # fmt: skip
        if m.get(key) is not None:
            console.print(Text(f"{key:>15}: {m[key]}"))
    for key in ("text", "summary"):
        if m.get(key):
            console.print(Text(f"{key:>15}: {m[key]}"))
    if m["attempt_log"]:
        t = Table(title="Attempts", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("#", "started (UTC)", "ms", "outcome"):
            t.add_column(col, no_wrap=True)
        t.add_column("error", overflow="fold", ratio=1)
        for a in m["attempt_log"]:
            t.add_row(
                str(a["number"]),
                str(a["started_at"]).replace("+00:00", ""),
                f"{a['duration_ms']:.0f}",
                a["outcome"],
                a["error"] or "",
            )
        console.print(t)


@app.command("retry")
def retry_cmd(
    delivery_id: Annotated[int, typer.Argument(metavar="ID", help="Delivery id (from list).")],
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Queue a failed or skipped delivery again (a sent one is refused: it would send twice)."""
    from voicectl.flows.messages import retry_delivery

    result = retry_delivery(_db(_settings(config, db)), delivery_id)
    if result == "queued":
        console.print(f"delivery {delivery_id} queued; a running dispatcher sends it next round")
        return
    if result == "not_found":
        err_console.print(f"[red]error:[/red] no delivery {delivery_id}")
    else:
        err_console.print(
            f"[red]error:[/red] delivery {delivery_id} is {result}; a retry would repeat it"
        )
    raise typer.Exit(1)


@app.command("run")
def run_cmd(
    once: Annotated[bool, typer.Option("--once", help="One round, then exit.")] = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run a dispatcher here (a worker beside `serve`, or `--once` from cron/CI)."""
    from voicectl.booking.policy import seed_policies
    from voicectl.flows.dispatcher import Dispatcher
    from voicectl.flows.engine import build_engine
    from voicectl.flows.rules import RulesError
    from voicectl.logs import setup_logging

    settings = _settings(config, db)
    setup_logging(settings.log_level)
    database = _db(settings)
    try:
        seed_policies(database, settings.policies_file)
        dispatcher = Dispatcher(build_engine(settings, database))
    except (RulesError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if once:
        stats = dispatcher.run_once()
        parts = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items())) or "nothing due"
        console.print(
            f"{stats.fanned_out} event(s) fanned out; {stats.claimed} delivery(ies): {parts}"
        )
        raise typer.Exit(1 if stats.outcomes.get("failed") else 0)
    console.print(f"dispatcher {dispatcher.name} running on {database.display_url} (Ctrl-C stops)")
    stop = threading.Event()
    try:
        dispatcher.run_forever(stop)
    except KeyboardInterrupt:
        stop.set()
