"""What the commands share on the command line: the `--config` option and how settings
are loaded for a command (each command's code lives in its own module; `cli.py` only
registers them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from voicectl.config import ConfigError, Settings, load_settings

err_console = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (default ./voicectl.yaml).")
]


def settings_or_exit(config: Path | None, **overrides: object) -> Settings:
    """The settings: defaults < `config` (or ./voicectl.yaml) < environment < `overrides`
    (the command's options; None values are ignored).

    Raises:
        typer.Exit: code 2, after printing the problem (file or variable, field) on stderr.
    """
    try:
        return load_settings(config, overrides)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
