"""`simulate`: one scenario as a real call, in-process or against a running server.

In-process, the real server (`voicectl.telephony.twilio.app`) runs under uvicorn on a
loopback port in its own thread and event loop, on a fresh SQLite file (or the database
the settings name: `simulate --db`, `VOICECTL_DATABASE`), and the Twilio
emulator talks to it over a real WebSocket - the same code path as `voicectl serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from voicectl.audio.resample import resample
from voicectl.audio.wav import read_wav_8k, write_stereo_wav
from voicectl.call.marks import CALL_METRICS
from voicectl.config import Settings
from voicectl.sim.budgets import Budget, classify, load_budgets, worst
from voicectl.sim.checks import Check, check_bot_texts, check_expectations
from voicectl.sim.emulator import (
    CallerAudio,
    EmulatorResult,
    TwilioEmulator,
    http_base_of,
    prepare_utterance,
)
from voicectl.sim.rest_fake import TwilioRestFake, loopback_port
from voicectl.sim.scenario import Scenario


@dataclass
class SimResult:
    """Everything `simulate` learned about one call.

    Attributes:
        scenario: the scenario run.
        record: the server's call record (`voicectl.store.records.load_record`).
        caller: what the emulator saw.
        turns: per turn: index, kind, user_text, bot_text, barged_in, marks (server marks
            plus the caller-side V2V_MS / BARGE_IN_STOP_MS), verdicts (mark -> verdict).
        metrics: call-level marks (QUEUE_MAX_DEPTH, SEND_QUEUE_FULL) with verdicts.
        checks: expectation checks, then protocol and step checks.
        latency_verdict: worst verdict over every budgeted mark.
        server: "in-process" or the URL used.
    """

    scenario: Scenario
    record: dict[str, Any]
    caller: EmulatorResult
    turns: list[dict[str, Any]]
    metrics: dict[str, tuple[float, str]]
    checks: list[Check]
    latency_verdict: str
    budgets: dict[str, Budget]
    server: str
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def expectations_met(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 = GO or WARN with every expectation met; 1 otherwise (issue: exit codes)."""
        return 0 if self.expectations_met and self.latency_verdict != "NO-GO" else 1


class InProcessServer:
    """The real app under uvicorn on 127.0.0.1 (random port), in a background thread.

    Use as a context manager; `http_base` is set once it is listening.

    Args:
        settings: the server's settings.
        simulation: run as the simulator's own server: `accept_sim_params` on (the
            scenario's business, clock, policy and transcripts apply, and
            `/calls/{CallSid}` answers without an admin token). False = exactly
            `settings`, as `voicectl serve` would run them.
    """

    def __init__(self, settings: Settings, simulation: bool = True) -> None:
        if simulation:
            settings = settings.model_copy(update={"accept_sim_params": True})
        self.settings = settings
        self.http_base = ""
        self.runtime: Any = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> InProcessServer:
        import uvicorn

        from voicectl.telephony.twilio.app import create_app
        from voicectl.telephony.twilio.server import uvicorn_config

        app = create_app(self.settings, purpose="simulate")
        self.runtime = app.state.runtime
        config = uvicorn_config(app, self.settings, "127.0.0.1", 0, "warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="voicectl-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.http_base = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def caller_audio(scenario: Scenario) -> list[CallerAudio]:
    """Prepare every `say` step's audio: its WAV (any format, resampled), or synthesised."""
    out = []
    for step in scenario.steps:
        if step.kind != "say":
            continue
        if step.audio is not None:
            pcm = read_wav_8k(step.audio)
        else:
            pcm = synthesize_caller(step.say)
        out.append(prepare_utterance(pcm))
    return out


HESITATION_MS = 700
"""A "…" (U+2026) in a `say` text is a caller's mid-sentence hesitation of this long."""


def synthesize_caller(text: str) -> np.ndarray:
    """Caller speech for `text` (offline espeak-ng), as 8 kHz int16 PCM.

    A "…" (one character, U+2026) marks a hesitation: `HESITATION_MS` of silence in the
    middle of the sentence ("יש לכם מקום ביום… שלישי בשתיים?"); the transcript keeps the
    whole sentence as one utterance.
    """
    from voicectl.speech.tts.espeak import synthesize_pcm

    parts: list[np.ndarray] = []
    for k, piece in enumerate(text.split("\u2026")):
        if k:
            parts.append(np.zeros(8000 * HESITATION_MS // 1000, dtype=np.int16))
        if piece.strip():
            pcm, rate = synthesize_pcm(piece)
            parts.append(resample(pcm, rate, 8000))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


async def fetch_record(
    http_base: str,
    call_sid: str,
    admin_token: str | None = None,
    wait_s: float = 10.0,
    flows_wait_s: float = 10.0,
) -> dict[str, Any]:
    """GET /calls/{call_sid} until the server has saved the ended call and its flows have
    handled the call's events (`flows_settled`; at most `flows_wait_s` more seconds)."""
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    deadline = time.monotonic() + wait_s + flows_wait_s
    flows_by = time.monotonic() + flows_wait_s
    last: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            r = await client.get(f"{http_base}/calls/{call_sid}", headers=headers)
            if r.status_code == 200:
                last = r.json()
                ended = not last.get("active") and last.get("status") != "in-progress"
                # After hang-up, wait (bounded) for the server's flows to handle the call's
                # events, so the record shows the messages they produced.
                if ended and (last.get("flows_settled", True) or time.monotonic() > flows_by):
                    return last
                if not ended:
                    flows_by = time.monotonic() + flows_wait_s
            if time.monotonic() > deadline:
                if last:
                    return last
                raise RuntimeError(f"GET /calls/{call_sid} answered {r.status_code}")
            await asyncio.sleep(0.1)


def evaluate(
    scenario: Scenario,
    record: dict[str, Any],
    caller: EmulatorResult,
    budgets: dict[str, Budget],
    server: str,
) -> SimResult:
    """Join server and caller marks per turn, judge them, run the checks."""
    turns: list[dict[str, Any]] = []
    caller_marks = iter(caller.caller_marks)
    for t in record.get("turns", []):
        marks = dict(t.get("marks") or {})
        if t.get("kind") == "speech":
            marks.update(next(caller_marks, {}))
        verdicts = {k: classify(k, v, budgets) for k, v in marks.items()}
        turns.append({**t, "marks": marks, "verdicts": verdicts})
    metrics: dict[str, tuple[float, str]] = {}
    for name in CALL_METRICS:
        value = float((record.get("metrics") or {}).get(name, 0))
        metrics[name] = (value, classify(name, value, budgets))
    all_verdicts = [v for t in turns for v in t["verdicts"].values()] + [
        v for _, v in metrics.values()
    ]
    checks = check_expectations(scenario.expect, record)
    texts = [(idx, c) for idx, c in caller.expect_turns if idx is not None and c]
    checks += check_bot_texts(texts, record)
    checks.append(
        Check(
            "steps",
            not caller.failures,
            "every step ran" if not caller.failures else "; ".join(caller.failures),
        )
    )
    checks.append(
        Check(
            "twilio protocol",
            not caller.protocol_errors,
            "every server message was valid Media Streams"
            if not caller.protocol_errors
            else "; ".join(caller.protocol_errors[:3]),
        )
    )
    checks += check_call_control(scenario, record, caller)
    return SimResult(
        scenario=scenario,
        record=record,
        caller=caller,
        turns=turns,
        metrics=metrics,
        checks=checks,
        latency_verdict=worst(all_verdicts),
        budgets=budgets,
        server=server,
    )


def check_call_control(
    scenario: Scenario, record: dict[str, Any], caller: EmulatorResult
) -> list[Check]:
    """Checks on Twilio's side of call control (issue 7): one greeting in the whole call
    (a resumed stream does not greet again); TwiML Twilio would accept; every REST request
    made by the `twilio` library with the account's credentials; and, for `dtmf_mode:
    gather`, the call really went through a `<Gather>` and back to a new stream."""
    checks: list[Check] = []
    greetings = [t for t in record.get("turns", []) if t.get("kind") == "greeting"]
    checks.append(Check("one greeting", len(greetings) == 1, f"{len(greetings)} greeting turn(s)"))
    if caller.twiml_errors:
        checks.append(Check("twilio TwiML", False, "; ".join(caller.twiml_errors[:3])))
    reqs = caller.rest_requests
    if reqs:
        bad = [
            f"{r.method} {r.path} -> {r.status}"
            for r in reqs
            if not r.authorized
            or not r.user_agent.startswith("twilio-python/")
            or r.status not in (200, 404)
        ]
        checks.append(
            Check(
                "twilio REST",
                not bad,
                f"{len(reqs)} request(s) by the twilio library, authenticated"
                if not bad
                else "; ".join(bad[:3]),
            )
        )
    if scenario.dtmf_mode == "gather":
        gathers = [r for r in reqs if "<Gather" in r.form.get("Twiml", "")]
        ok = bool(gathers) and caller.streams >= 2
        checks.append(
            Check(
                "gather round trip",
                ok,
                f"{len(gathers)} REST <Gather> update(s), {caller.streams} stream(s); "
                f"Twilio said {caller.gather_says}",
            )
        )
    return checks


def check_media_url(url: str | None) -> None:
    """A `--url` must be the running server's Media Streams URL, `ws://host:port/media`
    (or `wss://`); None (in-process) passes.

    Raises:
        ValueError: another scheme, e.g. the server's `http://` base (one line saying so).
    """
    if url is not None and urlsplit(url).scheme not in ("ws", "wss"):
        raise ValueError(f"--url takes a running server's ws://host:port/media, not {url!r}")


async def run_call(
    scenario: Scenario,
    http_base: str,
    *,
    media_url: str | None = None,
    auth_token: str | None = None,
    admin_token: str | None = None,
    utterances: list[CallerAudio] | None = None,
    rest: TwilioRestFake | None = None,
    account_sid: str | None = None,
) -> tuple[dict[str, Any], EmulatorResult]:
    """Place one emulated call and return (server record, caller-side result).

    `rest` is the loopback fake of Twilio's REST API the server's `twilio` client is
    pointed at (hang-up, `<Gather>`); `account_sid` the account that client uses.
    """
    utterances = utterances if utterances is not None else caller_audio(scenario)
    emulator = TwilioEmulator(
        scenario, utterances, http_base, auth_token, media_url, rest=rest, account_sid=account_sid
    )
    caller = await emulator.run()
    if caller.streams == 0 and caller.failures:  # no stream: no record will come
        raise RuntimeError(f"the call's media stream did not open: {caller.failures[0]}")
    record = await fetch_record(http_base, caller.call_sid, admin_token)
    return record, caller


@contextlib.contextmanager
def rest_fake_for(settings: Settings) -> Iterator[tuple[Settings, TwilioRestFake]]:
    """A loopback fake of Twilio's REST API (hang-up, `<Gather>`: `sim/rest_fake.py`) for
    one in-process server, and `settings` pointing that server's real `twilio` client at
    it: `twilio_api_base_url`, and an account SID and auth token (the given ones, else
    made up) that its webhooks are also signed with. Yields `(settings, fake)`."""
    creds = {
        "twilio_account_sid": settings.twilio_account_sid or "AC" + "0" * 32,
        "twilio_auth_token": settings.twilio_auth_token or secrets.token_hex(16),
    }
    with TwilioRestFake(auth_token=creds["twilio_auth_token"]) as fake:
        yield settings.model_copy(update={**creds, "twilio_api_base_url": fake.base_url}), fake


def simulate(
    scenario: Scenario,
    settings: Settings,
    *,
    url: str | None = None,
    record_wav: Path | None = None,
    budgets_path: Path | None = None,
) -> SimResult:
    """Run `scenario` and judge it.

    Args:
        scenario: a loaded scenario.
        settings: server settings (used in-process; for `url`, only the tokens).
        url: `ws://host:port/media` of a running server (None = in-process).
        record_wav: write the call as heard (stereo: caller left, bot right).
        budgets_path: a budget file overriding the scenario's.

    Raises:
        BudgetError: the budget file is invalid.
        RuntimeError, OSError: the server could not be reached or started, or the
            call's media stream did not open.
        ValueError: `url` is not a ws:// or wss:// URL.
    """
    check_media_url(url)
    budgets = load_budgets(budgets_path or scenario.budgets)
    utterances = caller_audio(scenario)
    t0 = time.monotonic()
    if url is None:
        with tempfile.TemporaryDirectory(prefix="voicectl-sim-") as tmp:
            # A throwaway database unless one was chosen (--db, VOICECTL_DATABASE or the
            # settings file), so `voicectl flows list` can read the call's messages after.
            chosen = "database" in settings.model_fields_set
            s = (
                settings
                if chosen
                else settings.model_copy(update={"database": str(Path(tmp) / "sim.db")})
            )
            # The server's real `twilio` client talks to a loopback fake of Twilio's REST
            # API (hang-up, <Gather>); webhooks are signed with the same credentials.
            with rest_fake_for(s) as (s, fake), InProcessServer(s) as server:
                record, caller = asyncio.run(
                    run_call(
                        scenario,
                        server.http_base,
                        auth_token=s.twilio_auth_token,
                        admin_token=s.admin_token,
                        utterances=utterances,
                        rest=fake,
                        account_sid=s.twilio_account_sid,
                    )
                )
        where = "in-process"
    else:
        # Against a running server, the REST fake listens where that server's
        # `twilio_api_base_url` points (both read the same settings), if on loopback.
        port = loopback_port(settings.twilio_api_base_url)
        fake_cm = (
            TwilioRestFake(auth_token=settings.twilio_auth_token, port=port)
            if port
            else contextlib.nullcontext()
        )
        with fake_cm as fake:
            record, caller = asyncio.run(
                run_call(
                    scenario,
                    http_base_of(url),
                    media_url=url,
                    auth_token=settings.twilio_auth_token,
                    admin_token=settings.admin_token,
                    utterances=utterances,
                    rest=fake,
                    account_sid=settings.twilio_account_sid,
                )
            )
        where = url
    result = evaluate(scenario, record, caller, budgets, where)
    result.wall_s = time.monotonic() - t0
    if record_wav is not None and caller.caller_pcm is not None and caller.bot_pcm is not None:
        write_stereo_wav(record_wav, caller.caller_pcm, caller.bot_pcm, 8000)
    return result
