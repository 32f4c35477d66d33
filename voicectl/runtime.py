"""The process-wide runtime: database and providers (`voicectl.providers`), created ONCE.

SEEDS.md seed 002 A/B/F: heavy clients are created once at start-up (never per turn or
per call), failures while creating an optional provider log a warning instead of killing
the process, and the TTS is pre-warmed ("TTS prewarm took <n> ms").
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from voicectl.config import Settings
from voicectl.logs import get_logger
from voicectl.speech.stt.base import ResultCallback, STTStream
from voicectl.speech.stt.script import SCRIPT_PARAM, ScriptSTTStream, parse_script
from voicectl.store import records, streams
from voicectl.store.db import Database
from voicectl.telephony.twilio.security import stream_key

_log = get_logger("runtime")

#: customParameters the simulator may send; stripped before anything else sees them.
SIM_PREFIX = "voicectl."


@dataclass
class CallParams:
    """A stream's `customParameters`, split into ours and the simulator's."""

    public: dict[str, str]
    script: list[str] | None = None
    now: datetime | None = None
    business_id: str | None = None
    policy_overrides: dict[str, Any] = field(default_factory=dict)
    dtmf_mode: str | None = None


def split_params(params: dict[str, str], accept_sim: bool) -> CallParams:
    """Separate simulator parameters (`voicectl.*`) from the rest.

    Raises:
        ValueError: a simulator parameter that does not parse (the message names it).
    """
    public = {k: v for k, v in params.items() if not k.startswith(SIM_PREFIX)}
    out = CallParams(public=public)
    if not accept_sim:
        return out
    if SCRIPT_PARAM in params:
        out.script = parse_script(params[SCRIPT_PARAM])
    if "voicectl.now" in params:
        try:
            now = datetime.fromisoformat(params["voicectl.now"])
        except ValueError:
            raise ValueError("voicectl.now: not an ISO 8601 date-time") from None
        if now.tzinfo is None:
            raise ValueError("voicectl.now: needs a UTC offset")
        out.now = now
    if params.get("voicectl.business"):
        out.business_id = params["voicectl.business"]
    if params.get("voicectl.policy"):
        value = json.loads(params["voicectl.policy"])
        if not isinstance(value, dict):
            raise ValueError("voicectl.policy: must be a JSON object")
        out.policy_overrides = value
    if params.get("voicectl.dtmf_mode"):
        if params["voicectl.dtmf_mode"] not in ("stream", "gather"):
            raise ValueError("voicectl.dtmf_mode: must be stream or gather")
        out.dtmf_mode = params["voicectl.dtmf_mode"]
    return out


class Runtime:
    """Everything a process shares across calls.

    Args:
        settings: the loaded settings.
        db: a database to use instead of opening `settings.database`.
    """

    def __init__(
        self, settings: Settings, db: Database | None = None, purpose: str = "serve"
    ) -> None:
        from voicectl.booking.policy import seed_policies
        from voicectl.providers import Providers

        self.settings = settings
        self.purpose = purpose
        self.providers = Providers(settings)
        self.agent = self.providers.agent
        self.tts = self.providers.tts
        self.stt = self.providers.stt
        self.db = db or Database(settings.database)
        seed_policies(self.db, settings.policies_file)
        from voicectl.telephony.twilio.rest import TwilioRest

        self.rest = TwilioRest(settings)
        from voicectl.flows.engine import build_engine

        self.flows = build_engine(settings, self.db)
        #: This process's live calls (CallSid -> CallRunner). Which process streams a
        #: call is in the database (`store/streams.py`): any worker may take any stream.
        self.active: dict[str, Any] = {}
        #: CallSids whose stream this process is claiming or opening (not yet `active`),
        #: with how many starts are at it (a second start of a call is being refused).
        self.opening: Counter[str] = Counter()
        self.instance = secrets.token_hex(4)
        self.owner = records.process_owner(self.instance)
        self.host = socket.gethostname()
        self.stream_key = stream_key(settings.twilio_auth_token, settings.stream_secret)
        # Start-up only (seed 002 A): close what a crashed process left in progress.
        self.recovered = records.recover_interrupted(self.db, self.owner)
        streams.clear_dead_owners(self.db, lambda owner: records.owner_dead(owner, self.owner))
        self.records = records.RecordWriter(self.db)

    def holds(self, call_sid: str) -> bool:
        """Whether this process still owns the live-stream row of `call_sid`: its stream
        is opening or live here, or its record writes (which release the row last) are
        still queued (`streams.release_orphans`)."""
        return call_sid in self.active or call_sid in self.opening or self.records.pending(call_sid)

    def calls_in_flight(self) -> int:
        """This box's calls with a live stream or an unused stream token (blocking: the
        concurrent-call cap counts them; `store/streams.py`)."""
        return streams.calls_in_flight(self.db, self.host)

    def describe(self) -> str:
        """One line naming the provider serving each role, and the database."""
        return f"{self.providers.describe()} db={self.db.display_url}"

    def log_providers(self) -> None:
        """Log `describe()` at start-up; on `serve` with `stt: none` it is a WARNING, since
        real callers' speech cannot be understood (simulations bring their transcripts)."""
        line = self.describe()
        if self.providers.names["stt"] == "none" and self.purpose == "serve":
            _log.warning(
                "%s - no speech recogniser: real callers cannot be understood "
                "(configure stt: google; simulations bring their own transcripts)",
                line,
            )
        else:
            _log.info(line)

    def warmup(self) -> float:
        """Pre-warm the TTS; returns and logs the time it took (ms)."""
        t0 = time.perf_counter()
        try:
            self.tts.warmup()
        except Exception as exc:  # a warm-up failure must not take the server down
            _log.warning("TTS prewarm failed: %r", exc)
        ms = (time.perf_counter() - t0) * 1000
        _log.info("TTS prewarm took %.0f ms", ms)
        return ms

    def open_stt(
        self, script: list[str] | None, on_result: ResultCallback, hints: Sequence[str] = ()
    ) -> STTStream:
        """This call's recogniser: the configured provider's stream; with `stt: none`, the
        simulator's script when the call carries one (and simulator parameters are
        accepted).

        Args:
            script: the `voicectl.script` transcripts, or None.
            on_result: the session's result callback.
            hints: this call's phrase hints (its business's service names and aliases).
        """
        if script is not None and self.providers.names["stt"] == "none":
            # The script stands in for a missing recogniser only: a configured one (e.g.
            # google, also against a test fake) hears the audio instead.
            return ScriptSTTStream(
                script, on_result, first_partial_ms=max(self.settings.min_utt_ms, 100)
            )
        return self.stt.open(on_result, hints=hints)
