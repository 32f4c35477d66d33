"""`voicectl doctor`: is this deployment usable? (registered by `voicectl.cli`).

Checks, in order: the configuration loads; every configured provider is known and its
extra installed; the credentials it needs are present; it answers over the network (one
small bounded request each: OpenAI `GET /models`, Google TTS `ListVoices` for he-IL with
the configured voice, Google STT a `StreamingRecognize` carrying only the configuration,
which also proves the model takes Hebrew); the database opens and its schema is current;
which extras are installed. A failure is one line ("unreachable: ..."), never a stack
trace. Exit code 0 only when every configured part is usable, else 1 (2 = the
configuration itself is invalid).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from voicectl.config import ConfigError, Settings, load_settings
from voicectl.providers import EXTRAS, ROLES, ProviderError, missing_modules, spec_for

#: Bound on each network check (s): a doctor run must not hang on a dead endpoint.
PROBE_TIMEOUT_S = 5.0


@dataclass
class Check:
    """One line of the report. `ok` None = information only (never fails the run)."""

    name: str
    ok: bool | None
    detail: str


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{exc.__class__.__name__}: {text}"[:200]


def _guard(name: str, fn: Callable[[], Check | list[Check]]) -> list[Check]:
    try:
        out = fn()
    except Exception as exc:  # a check never raises: one clear line instead
        return [Check(name, False, _short(exc))]
    return out if isinstance(out, list) else [out]


# ---------------------------------------------------------------------- per provider
def _openai(settings: Settings) -> list[Check]:
    key = settings.openai_api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        return [Check("agent openai credentials", False, "missing: set OPENAI_API_KEY")]
    import openai

    base = settings.openai_base_url or os.environ.get("OPENAI_BASE_URL") or "api.openai.com"
    client = openai.OpenAI(
        api_key=key,
        base_url=settings.openai_base_url or None,
        timeout=PROBE_TIMEOUT_S,
        max_retries=0,
    )
    out = [Check("agent openai credentials", True, "OPENAI_API_KEY is set")]
    try:
        models = [m.id for m in client.models.list()]
    except openai.APIStatusError as exc:
        out.append(Check("agent openai reachable", False, f"{base} answered {exc.status_code}"))
        return out
    except openai.OpenAIError as exc:
        out.append(Check("agent openai reachable", False, f"unreachable: {base}: {_short(exc)}"))
        return out
    model = settings.openai_model
    if models and model not in models:
        out.append(Check("agent openai model", False, f"{model!r} not offered by {base}"))
    else:
        out.append(Check("agent openai reachable", True, f"{base}, model {model}"))
    return out


def _google_credentials(settings: Settings, role: str) -> Check:
    from voicectl.speech.google_cloud import is_loopback

    if is_loopback(settings.google_api_endpoint):
        return Check(f"{role} google credentials", True, "not needed (loopback endpoint)")
    import google.auth

    try:
        _, project = google.auth.default()
    except Exception as exc:
        return Check(
            f"{role} google credentials",
            False,
            f"missing: set GOOGLE_APPLICATION_CREDENTIALS ({_short(exc)})",
        )
    return Check(f"{role} google credentials", True, f"application default, project {project}")


def _unreachable(role: str, settings: Settings, exc: BaseException) -> Check:
    where = settings.google_api_endpoint or "Google"
    return Check(f"{role} google reachable", False, f"unreachable: {where}: {_short(exc)}")


def _google_tts(settings: Settings) -> list[Check]:
    cred = _google_credentials(settings, "tts")
    if not cred.ok:
        return [cred]
    from voicectl.speech.tts.google import GoogleTTS

    tts = GoogleTTS.from_settings(settings.model_copy(update={"tts_keepwarm_sec": 0}))
    try:
        voices = tts.client.list_voices(
            language_code="he-IL", retry=None, timeout=PROBE_TIMEOUT_S
        ).voices
    except Exception as exc:
        return [cred, _unreachable("tts", settings, exc)]
    names = sorted(v.name for v in voices)
    if settings.google_tts_voice not in names:
        shown = ", ".join(names[:6]) or "none"
        msg = f"voice {settings.google_tts_voice!r} not offered; he-IL voices: {shown}"
        return [cred, Check("tts google voice", False, msg)]
    return [cred, Check("tts google reachable", True, f"voice {settings.google_tts_voice}")]


def _google_stt(settings: Settings) -> list[Check]:
    from voicectl.speech.stt.google import GoogleSTT, check_model

    check_model(settings.google_stt_model, settings.google_stt_language)  # before the network
    cred = _google_credentials(settings, "stt")
    if not cred.ok:
        return [cred]

    stt = GoogleSTT.from_settings(settings)
    try:
        # Configuration only, then half-close: Google checks the model and language and
        # answers an empty stream; nothing is billed for audio.
        for _ in stt.client.streaming_recognize(
            stt.streaming_config(), iter(()), retry=None, timeout=PROBE_TIMEOUT_S
        ):
            pass
    except Exception as exc:
        return [cred, _unreachable("stt", settings, exc)]
    detail = f"model {stt.model}, {stt.language}"
    return [cred, Check("stt google reachable", True, detail)]


_PROBES: dict[tuple[str, str], Callable[[Settings], list[Check]]] = {
    ("agent", "openai"): _openai,
    ("tts", "google"): _google_tts,
    ("stt", "google"): _google_stt,
}


# ---------------------------------------------------------------------- the run
def _database(settings: Settings) -> Check:
    from sqlalchemy import inspect

    from voicectl.store import db as store_db

    url = store_db.database_url(settings.database)
    shown = store_db.display_url(url)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        return Check("database", True, f"{shown} does not exist yet; created at start-up")
    # Register every table (as Database does) without creating anything.
    from voicectl.store import booking, call_end, call_state, calls, flows  # noqa: F401

    try:
        engine = store_db.create_db_engine(url)
    except store_db.DatabaseConfigError as exc:
        return Check("database", False, str(exc))
    try:
        insp = inspect(engine)
        have = set(insp.get_table_names())
        want = store_db.Base.metadata.sorted_tables
        missing = [t.name for t in want if t.name not in have]
        stale = [
            f"{t.name}.{c.name}"
            for t in want
            if t.name in have
            for c in t.columns
            if c.name not in {col["name"] for col in insp.get_columns(t.name)}
        ]
    finally:
        engine.dispose()
    if missing or stale:
        todo = ", ".join(missing + stale)[:160]
        return Check("database", True, f"{shown}: start-up will add {todo}")
    return Check("database", True, f"{shown}: schema current ({len(want)} tables)")


def run_checks(config: Path | None = None, environ: dict[str, str] | None = None) -> list[Check]:
    """Every check for the configuration at `config` (None = ./voicectl.yaml if present).

    Raises:
        ConfigError: the configuration is invalid (the caller exits 2).
    """
    settings = load_settings(config, environ=environ)
    source = str(config or ("voicectl.yaml" if Path("voicectl.yaml").is_file() else "defaults"))
    checks = [Check("configuration", True, f"{source} (+ environment)")]
    for role in ROLES:
        name = str(getattr(settings, role))
        try:
            spec = spec_for(role, name)
        except ProviderError as exc:
            checks.append(Check(f"{role} {name}", False, str(exc)))
            continue
        extra = f", extra {spec.extra}" if spec.extra else ""
        checks.append(Check(f"{role} {spec.name}", True, f"{spec.target}{extra}"))
        probe = _PROBES.get((role, spec.name))
        if probe is not None:
            checks += _guard(f"{role} {spec.name}", lambda p=probe: p(settings))
    if settings.stt == "none":
        checks.append(
            Check("stt none", None, "no speech recogniser: real callers cannot be understood")
        )
    checks += _guard("database", lambda: _database(settings))
    for extra in EXTRAS:
        missing = missing_modules(extra)
        state = "installed" if not missing else f"not installed (missing {', '.join(missing)})"
        checks.append(Check(f"extra {extra}", None, state))
    return checks


def doctor(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings file (default ./voicectl.yaml).")
    ] = None,
) -> None:
    """Check the configuration, credentials, providers, database and extras.

    Exit codes: 0 = every configured part is usable; 1 = something is not; 2 = the
    configuration is invalid.
    """
    console = Console()
    try:
        checks = run_checks(config)
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    for c in checks:
        mark = {True: "[green]ok  [/green]", False: "[bold red]FAIL[/bold red]", None: "    "}[c.ok]
        console.print(f"{mark} {escape(c.name)}: {escape(c.detail)}", soft_wrap=True)
    failed = [c for c in checks if c.ok is False]
    console.print(
        f"{len(failed)} problem(s)" if failed else "every configured part is usable",
        style="bold red" if failed else "bold green",
    )
    raise typer.Exit(1 if failed else 0)
