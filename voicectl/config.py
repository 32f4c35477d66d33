"""Settings: defaults, then `voicectl.yaml` (if present), then environment variables.

The latency knobs keep the names the spec uses (SEEDS.md seed 002 D.1), both as YAML keys
(lower case) and as environment variables (upper case): `VAD_HANGOVER_MS`, `MIN_UTT_SEC`,
`STT_PARTIAL_DEBOUNCE_MS`, `STT_TIMEOUT_MS`. Every other variable is `VOICECTL_<FIELD>`,
except the Twilio credentials, which use Twilio's own names (`TWILIO_ACCOUNT_SID`,
`TWILIO_AUTH_TOKEN`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Environment names that are not `VOICECTL_<FIELD>`.
_SPEC_ENV = {
    "vad_hangover_ms": "VAD_HANGOVER_MS",
    "min_utt_sec": "MIN_UTT_SEC",
    "stt_partial_debounce_ms": "STT_PARTIAL_DEBOUNCE_MS",
    "stt_timeout_ms": "STT_TIMEOUT_MS",
    "twilio_account_sid": "TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "openai_api_key": "OPENAI_API_KEY",
    "openai_base_url": "OPENAI_BASE_URL",
}


class ConfigError(ValueError):
    """The configuration file or an environment variable is invalid (message names which)."""


class Settings(BaseModel):
    """Every knob of the server and the simulator.

    Units are in the names: `_ms` milliseconds, `_sec` seconds, `_frames` 20 ms frames.
    """

    model_config = ConfigDict(extra="forbid")

    # Providers (offline defaults; SEEDS/DESIGN: real providers plug in by config).
    agent: str = "offline"
    tts: str = "espeak"
    stt: str = Field("none", description="speech recogniser for real calls; 'none' = none")
    vad: str = "webrtc"
    vad_aggressiveness: int = Field(2, ge=0, le=3)

    # Endpointing and STT knobs, seed 002 D.1 ("try" values as defaults). The hangover is
    # silence after the end of speech (energy-refined, `audio/endpointing.py`); 260 keeps
    # clause pauses of 200-250 ms in one utterance. With speculative endpointing
    # (`VAD_HANGOVER_MS=120`: the reply starts at the seed's floor) the resume window
    # below keeps them whole instead; not the default yet: it costs an extra agent turn
    # per take-back, and at 100 calls it measured worse (docs/vad.md).
    vad_hangover_ms: int = Field(260, ge=20, le=3000)
    min_utt_sec: float = Field(0.20, ge=0.0, le=5.0)
    # Speculative endpointing (docs/vad.md): the reply starts at the hangover; speech
    # that starts again within this many ms of the end of speech continues the utterance
    # (Deepgram Flux's "TurnResumed" after an "EagerEndOfTurn"), and the early reply is
    # taken back. 260 = the silence that keeps today's split rate as a hangover (0 of 39
    # corpus phrases, 1 of 18 fixtures). At or below the hangover (the default 260):
    # off; on with e.g. VAD_HANGOVER_MS=120.
    turn_resume_window_ms: int = Field(260, ge=0, le=3000)
    stt_partial_debounce_ms: int = Field(40, ge=0, le=2000)
    stt_timeout_ms: int = Field(240, ge=10, le=10000)
    # End of turn: extra silence to wait when the partial transcript so far is plainly
    # unfinished ("יש לכם מקום ב..."; `voicectl.hebrew.endofturn`). 0 = off.
    end_of_turn_extra_ms: int = Field(600, ge=0, le=3000)

    # Barge-in: voiced speech over the bot for this long stops the bot (DESIGN lessons).
    barge_in_min_ms: int = Field(120, ge=20, le=2000)

    # Outbound pacing: ~20 ms frames at real time, this far ahead of playback (seed 002 E.1).
    playback_lead_ms: int = Field(100, ge=0, le=2000)
    send_queue_max_frames: int = Field(50, ge=2, le=30000)

    # Silence handling: nudge after this long with nothing said, while listening.
    silence_timeout_ms: int = Field(8000, ge=1000, le=120000)
    dtmf_timeout_ms: int = Field(15000, ge=1000, le=120000)
    # Keys stopped mid-number for this long: buffer cleared, one re-prompt (issue 7).
    dtmf_interdigit_timeout_ms: int = Field(6000, ge=1000, le=60000)
    # How the phone number is typed: on the media stream (Twilio `dtmf` events) or, as
    # seed 000's path B fallback, in a TwiML <Gather> the live call is moved to by REST.
    dtmf_mode: Literal["stream", "gather"] = "stream"

    # Business routing and storage.
    business: str = "demo-spa"
    policies_file: str | None = None
    database: str = "voicectl.db"

    # Twilio.
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    # Twilio REST API (hang-up, Gather). None = https://api.twilio.com; tests and the
    # simulator point the real `twilio` client at a loopback fake of the API.
    twilio_api_base_url: str | None = None
    twilio_rest_timeout_sec: float = Field(5.0, gt=0, le=60)
    public_url: str | None = Field(None, description="https://host as Twilio sees it")
    #: Bearer token for `GET /calls/{CallSid}`; unset = that route is off (404) unless
    #: `accept_sim_params` (deny by default: it returns transcripts and phone numbers).
    admin_token: str | None = None
    #: Honour the simulator's `voicectl.*` stream parameters (business, clock, policy,
    #: transcript script). Only for simulation: `serve --accept-sim-params`.
    accept_sim_params: bool = False
    #: Refuse to start without `TWILIO_AUTH_TOKEN` (production: `serve --require-signatures`).
    require_signatures: bool = False
    #: Key material for stream tokens when `twilio_auth_token` is unset: every process
    #: that may take another's streams (N boxes) needs the same. Unset: random per `serve`.
    stream_secret: str | None = None

    # Limits: no input from the network may grow memory or hold a socket forever.
    max_concurrent_calls: int = Field(50, ge=1, le=100000)
    max_connections: int = Field(1000, ge=16, le=1000000)
    http_header_timeout_sec: float = Field(10.0, gt=0, le=600)
    stream_start_timeout_sec: float = Field(10.0, gt=0, le=600)
    # A stream token (the signed <Parameter>s of /voice's <Connect><Stream>) is valid this
    # long; an unused one counts towards max_concurrent_calls until then.
    stream_token_ttl_sec: float = Field(120.0, gt=0, le=3600)
    record_wait_sec: float = Field(5.0, gt=0, le=120)

    # OpenAI (agent: openai). Key and endpoint as the openai library reads them.
    openai_api_key: str | None = None
    openai_base_url: str | None = Field(
        None, description="any OpenAI-compatible server (vLLM, Ollama, llama.cpp server)"
    )
    openai_model: str = "gpt-4o-mini"
    # Inside the AI budget (DESIGN.md: AI <= 1500 ms): past it the offline agent answers.
    openai_timeout_ms: int = Field(1300, ge=100, le=60000)
    openai_history_messages: int = Field(10, ge=8, le=12)

    # Google Cloud (stt: google, tts: google). Credentials: Application Default
    # Credentials (GOOGLE_APPLICATION_CREDENTIALS). A loopback endpoint (an emulator or a
    # test fake) is reached over an insecure channel without credentials.
    google_api_endpoint: str | None = None
    google_stt_model: str = "default"
    google_stt_language: str = "he-IL"
    google_stt_rotate_sec: float = Field(280.0, ge=1.0, le=290.0)
    google_tts_voice: str = "he-IL-Wavenet-A"
    google_tts_speaking_rate: float = Field(1.0, ge=0.25, le=4.0)
    google_timeout_ms: int = Field(3000, ge=100, le=60000)
    tts_keepwarm_sec: float = Field(450.0, ge=0.0, le=3600.0)
    tts_cache_mb: float = Field(
        16.0, ge=0.0, le=4096.0, description="phrase audio kept per process (0: off)"
    )

    # Flows after the call (voicectl/flows): rules file, messenger, and its settings.
    flows_rules: str | None = Field(None, description="flow rules YAML (default: shipped)")
    flows_worker: bool = Field(True, description="run the flows dispatcher inside serve")
    messenger: str = Field("outbox", description="outbox, twilio_whatsapp or http_bridge")
    whatsapp_bridge_timeout_sec: float = Field(10.0, gt=0, le=120)
    summarizer: str = Field("auto", description="auto (openai if agent is), offline, openai")
    whatsapp_from: str | None = Field(None, description="Twilio WhatsApp sender, E.164")
    whatsapp_bridge_url: str | None = None
    whatsapp_bridge_token: str | None = None

    log_level: str = "INFO"

    @property
    def min_utt_ms(self) -> int:
        """`MIN_UTT_SEC` in milliseconds."""
        return int(round(self.min_utt_sec * 1000))

    @property
    def unfinished_hangover_ms(self) -> int:
        """The hangover (ms) while the partial transcript looks unfinished: the longer of
        the hangover and the resume window, plus `end_of_turn_extra_ms` - no reply is
        started early on words plainly cut short, and the wait is what it was before
        speculative endpointing (260 + 600 ms: docs/vad.md)."""
        if not self.end_of_turn_extra_ms:
            return self.vad_hangover_ms
        base = max(self.vad_hangover_ms, self.turn_resume_window_ms)
        return base + self.end_of_turn_extra_ms


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    return _SPEC_ENV.get(field, f"VOICECTL_{field.upper()}")


def load_settings(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build the settings: defaults < YAML file < environment < explicit `overrides`.

    Args:
        path: a YAML file; None means `./voicectl.yaml` when it exists.
        overrides: values from the command line (None values are ignored).
        environ: the environment (defaults to `os.environ`).

    Raises:
        ConfigError: unreadable file, unknown key, or a value of the wrong type; the
            message names the file or variable and the field.
    """
    environ = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    source = "defaults"
    if path is None and Path("voicectl.yaml").is_file():
        path = "voicectl.yaml"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read configuration: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the configuration must be a mapping of settings")
        data.update({str(k).lower(): v for k, v in loaded.items()})
    for field in Settings.model_fields:
        name = env_name(field)
        if name in environ and environ[name] != "":
            data[field] = environ[name]
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Settings(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{source} / {env_name(field)}: {field}: {err['msg']}") from exc
