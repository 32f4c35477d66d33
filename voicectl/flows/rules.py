"""Flow rules from YAML: which handlers run for which event and business, the Hebrew
message templates, on/off per business, and the dispatcher's retry timing.

The shipped file is `voicectl/data/flows.yaml`; `flows_rules` in the settings (or
`VOICECTL_FLOWS_RULES`) names another. Shape::

    delivery: {max_age_s: 86400, backoff_base_s: 2, backoff_max_s: 300, lease_s: 60,
               poll_s: 0.5, batch: 50}
    defaults:                       # every business starts from these
      enabled: true
      handlers: {appointment.created: [whatsapp_confirmation], ...}
      templates: {confirmation: "...", summary: "..."}
      summary_to: null              # E.164 that gets each call summary by WhatsApp
    businesses:
      demo-clinic: {enabled: false}     # merged over defaults (handlers per event type,
                                        # templates per key)

Templates are `str.format` strings. `confirmation` gets `{date}` (date words, e.g.
"יום שבת, 21 בנובמבר"), `{hh:mm}` (24-hour `HH:MM`, zero-padded), `{business}`,
`{service}`, `{name}`; `summary` gets `{business}` and `{summary}`.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from voicectl.booking.phone import normalize_phone

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "data" / "flows.yaml"

HANDLERS = ("whatsapp_confirmation", "call_summary")
"""Every handler name a rule may list (see `voicectl.flows.handlers`)."""

TEMPLATE_FIELDS = {
    "confirmation": {"date", "hh:mm", "business", "service", "name"},
    "summary": {"business", "summary"},
}


def render(template: str, values: dict[str, str]) -> str:
    """Fill a template; `{hh:mm}` is one placeholder (not `{hh}` with format `mm`).

    Raises:
        KeyError: a placeholder with no value; ValueError: a malformed template.
    """
    return template.replace("{hh:mm}", "{hh_mm}").format_map(
        {k.replace(":", "_"): v for k, v in values.items()}
    )


class RulesError(ValueError):
    """The rules file is unreadable or invalid; the message names the file and field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Delivery(_Model):
    """Dispatcher timing, in seconds.

    Attributes:
        max_age_s: an event older than this is marked failed instead of retried.
        backoff_base_s: the first retry waits about this long; each next one doubles.
        backoff_max_s: no wait is longer than this.
        lease_s: how long a claim holds before another dispatcher may take the delivery
            over (a dispatcher that died mid-delivery); keep it above the send timeout.
        poll_s: how often an idle dispatcher looks for work.
        batch: deliveries claimed per round.
    """

    max_age_s: float = Field(86400.0, gt=0)
    backoff_base_s: float = Field(2.0, gt=0)
    backoff_max_s: float = Field(300.0, gt=0)
    lease_s: float = Field(60.0, gt=0)
    poll_s: float = Field(0.5, gt=0, le=60)
    batch: int = Field(50, ge=1, le=1000)


class BusinessRules(_Model):
    """The rules of one business (all optional; unset = the defaults')."""

    enabled: bool | None = None
    handlers: dict[str, list[str]] | None = None
    templates: dict[str, str] | None = None
    summary_to: str | None = None

    @field_validator("handlers")
    @classmethod
    def _handlers(cls, v: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for event, names in (v or {}).items():
            for name in names:
                if name not in HANDLERS:
                    raise ValueError(
                        f"{event}: unknown handler {name!r} (known: {', '.join(HANDLERS)})"
                    )
        return v

    @field_validator("templates")
    @classmethod
    def _templates(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for key, text in (v or {}).items():
            if key not in TEMPLATE_FIELDS:
                raise ValueError(f"unknown template {key!r} (known: {', '.join(TEMPLATE_FIELDS)})")
            try:
                parsed = string.Formatter().parse(text.replace("{hh:mm}", "{hh_mm}"))
                used = {f.replace("hh_mm", "hh:mm") for _, f, _, _ in parsed if f is not None}
            except ValueError as exc:
                raise ValueError(f"{key}: not a valid template: {exc}") from None
            unknown = used - TEMPLATE_FIELDS[key] - {""}
            if unknown or "" in used:
                bad = ", ".join(sorted(unknown)) or "{}"
                raise ValueError(
                    f"{key}: unknown placeholder(s) {bad} "
                    f"(known: {', '.join(sorted(TEMPLATE_FIELDS[key]))})"
                )
        return v

    @field_validator("summary_to")
    @classmethod
    def _summary_to(cls, v: str | None) -> str | None:
        if v is None:
            return None
        number = normalize_phone(v)
        if number is None:
            raise ValueError(f"{v!r} is not a phone number")
        return number


class RulesFile(_Model):
    delivery: Delivery = Field(default_factory=Delivery)
    defaults: BusinessRules = Field(default_factory=BusinessRules)
    businesses: dict[str, BusinessRules] = Field(default_factory=dict)


class EffectiveRules(BaseModel):
    """One business's rules after merging its entry over the defaults."""

    enabled: bool
    handlers: dict[str, list[str]]
    templates: dict[str, str]
    summary_to: str | None


class FlowRules:
    """Loaded rules; ask `for_business` or `handlers_for`.

    Args:
        data: the parsed file (see the module docstring).
        source: where it came from (for messages).
    """

    def __init__(self, data: RulesFile, source: str = "<rules>") -> None:
        self.source = source
        self.delivery = data.delivery
        self._data = data

    def for_business(self, business_id: str | None) -> EffectiveRules:
        """The merged rules of `business_id` (the defaults for an unknown or None id)."""
        d = self._data.defaults
        b = self._data.businesses.get(business_id or "") or BusinessRules()
        handlers = dict(d.handlers or {})
        handlers.update(b.handlers or {})
        templates = dict(d.templates or {})
        templates.update(b.templates or {})
        return EffectiveRules(
            enabled=b.enabled if b.enabled is not None else (d.enabled is not False),
            handlers=handlers,
            templates=templates,
            summary_to=b.summary_to if "summary_to" in b.model_fields_set else d.summary_to,
        )

    def handlers_for(self, event_type: str, business_id: str | None) -> list[str]:
        """Handler names that run for this event, in order; [] when flows are off."""
        rules = self.for_business(business_id)
        if not rules.enabled:
            return []
        return list(dict.fromkeys(rules.handlers.get(event_type, [])))

    def confirms_bookings(self, business_id: str | None) -> bool:
        """Whether a booking of this business gets a WhatsApp confirmation - what the agent
        may promise the caller."""
        return "whatsapp_confirmation" in self.handlers_for("appointment.created", business_id)


def parse_rules(data: Any, source: str = "<rules>") -> FlowRules:
    """Validate a rules mapping.

    Raises:
        RulesError: naming `source`, the field path and the problem.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesError(f"{source}: the rules must be a mapping")
    try:
        parsed = RulesFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise RulesError(f"{source}: {loc}: {msg}") from None
    for key in TEMPLATE_FIELDS:
        if key not in (parsed.defaults.templates or {}):
            raise RulesError(f"{source}: defaults.templates.{key}: required template is missing")
    return FlowRules(parsed, source)


def load_rules(path: str | Path | None = None) -> FlowRules:
    """Read the rules file (`None` = the shipped `voicectl/data/flows.yaml`).

    A file's `defaults` are merged over the shipped ones (handlers per event type,
    templates per key), so a business's own file only needs what it changes.

    Raises:
        RulesError: unreadable, not YAML, or invalid (names the file and field).
    """
    shipped = _read(DEFAULT_RULES)
    if path is None:
        return parse_rules(shipped, str(DEFAULT_RULES))
    data = _read(Path(path))
    if data is None:
        data = {}
    if isinstance(data, dict) and isinstance(data.get("defaults") or {}, dict):
        base, own = shipped["defaults"], data.get("defaults") or {}
        merged = {**base, **own}
        for key in ("handlers", "templates"):
            if isinstance(own.get(key) or {}, dict):
                merged[key] = {**base[key], **(own.get(key) or {})}
        data["defaults"] = merged
    return parse_rules(data, str(path))


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"{path}: cannot read flow rules: {exc}") from None
