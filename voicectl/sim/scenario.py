"""Scenario files: the simulator's script for one call (DESIGN.md, "Scenario file (contract)").

A scenario is a YAML mapping::

    name: book-tomorrow-noon-no-phone
    description: ...
    now: "2026-11-20T10:00:00+02:00"       # aware ISO 8601; naive times are rejected
    business: demo-spa
    policy: {require_phone_before_booking: false}
    caller: {number: anonymous}            # E.164, "anonymous", or absent (= withheld)
    steps:
      - expect_bot: {text_contains: [], timeout_ms: 15000}
      - say: "..."                          # + optional audio, while_bot_speaking_after_ms
      - dtmf: "0501234567#"                 # + optional gap_ms
      - silence_ms: 1500
      - hangup: {}
    expect: {tool_calls: [...], appointment: {...} | null, caller_number: ..., events: [...],
             log_contains: [...], no_errors: true}
    budgets: budgets/default.yaml

Every mapping forbids unknown keys, so typos fail at load time. `load_scenario` turns every
problem (missing file, bad YAML, schema violation) into one `ScenarioError` whose `str` is a
single line ``<file>[:<line>]: <field path>: <problem>``, e.g.
``scenarios/x.yaml:14: steps[3].dtmf: bad digit 'a' at position 5; allowed: 0-9 * #``.

YAML 1.1 pitfalls handled on load: plain scalars that YAML would read as numbers, booleans or
timestamps are kept as text where the schema wants text (so ``dtmf: 0501234567`` is not read
as an octal integer and ``number: +972501234567`` keeps its ``+``); duplicate keys in one
mapping are an error instead of "last one wins".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeInt,
    PositiveInt,
    PrivateAttr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
)

__all__ = [
    "ACTION_KEYS",
    "Caller",
    "DtmfStep",
    "Expect",
    "ExpectBotOptions",
    "ExpectBotStep",
    "ExpectedAppointment",
    "HangupOptions",
    "HangupStep",
    "SayStep",
    "Scenario",
    "ScenarioError",
    "SilenceStep",
    "Step",
    "StepKind",
    "load_scenario",
    "validate_scenario",
    "parse_aware_datetime",
]

StepKind = Literal["expect_bot", "say", "dtmf", "silence", "hangup"]

#: Action key in a step mapping -> the step's `kind`.
ACTION_KEYS: dict[str, StepKind] = {
    "expect_bot": "expect_bot",
    "say": "say",
    "dtmf": "dtmf",
    "silence_ms": "silence",
    "hangup": "hangup",
}

_E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DTMF_ALLOWED = frozenset("0123456789*#")


class ScenarioError(ValueError):
    """A scenario file cannot be used; `str(err)` is one line naming file, field and problem.

    Attributes:
        file: The scenario file as given (or ``<scenario>`` when validated from a dict).
        field: Dotted field path such as ``steps[3].dtmf``; empty for whole-file problems.
        problem: What is wrong, in words.
        line: 1-based line in the file where the field is, when known.
        more: How many further problems were found and not shown.
    """

    def __init__(
        self, file: str, field: str, problem: str, line: int | None = None, more: int = 0
    ) -> None:
        self.file = file
        self.field = field
        self.problem = problem
        self.line = line
        self.more = more
        where = f"{file}:{line}" if line is not None else file
        text = f"{where}: {field}: {problem}" if field else f"{where}: {problem}"
        if more:
            text += f" (+{more} more problem{'s' if more > 1 else ''})"
        super().__init__(" ".join(text.split("\n")))


def parse_aware_datetime(value: Any) -> datetime:
    """Parse an ISO 8601 date-time that carries a UTC offset (``Z`` accepted).

    Args:
        value: A string such as ``2026-11-20T10:00:00+02:00`` or an aware `datetime`.

    Returns:
        An aware `datetime`.

    Raises:
        ValueError: Not ISO 8601, or naive (no offset): an instant needs an offset.
    """
    if isinstance(value, datetime):
        parsed = value
        shown = value.isoformat()
    elif isinstance(value, str):
        shown = value.strip()
        try:
            parsed = datetime.fromisoformat(shown)
        except ValueError:
            raise ValueError(
                f"not an ISO 8601 date-time: {shown!r} (expected e.g. 2026-11-20T10:00:00+02:00)"
            ) from None
    else:
        raise ValueError(
            f"expected an ISO 8601 date-time string, got {type(value).__name__} {value!r}"
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(
            f"naive date-time {shown!r} has no UTC offset; add one, e.g. {shown}+02:00"
        )
    return parsed


def _resolve_existing(raw: str | Path, info: ValidationInfo, what: str) -> Path:
    """Resolve `raw` against the scenario's folder first, then the current directory.

    Raises:
        ValueError: The file exists in neither place.
    """
    path = Path(raw).expanduser()
    candidates: list[Path] = []
    if path.is_absolute():
        candidates.append(path)
    else:
        ctx = info.context if isinstance(info.context, Mapping) else {}
        base = ctx.get("base_dir")
        if base is not None:
            candidates.append(Path(base) / path)
        candidates.append(Path.cwd() / path)
    for cand in candidates:
        if cand.is_file():
            return cand.resolve()
    looked = " and ".join(str(c) for c in dict.fromkeys(candidates))
    raise ValueError(f"{what} not found: {str(raw)!r} (looked in {looked})")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# --------------------------------------------------------------------------- steps


class ExpectBotOptions(_Model):
    """Options of an ``expect_bot`` step.

    Attributes:
        text_contains: Substrings the bot's reply must contain (case-insensitive,
            whitespace-normalised; see `voicectl.sim.checks.check_bot_texts`). A single
            string is accepted as a one-item list.
        timeout_ms: How long to wait for the reply's mark to be echoed, in ms.
    """

    text_contains: Annotated[list[str], BeforeValidator(_listify)] = Field(default_factory=list)
    timeout_ms: PositiveInt = 15000


class ExpectBotStep(_Model):
    """Wait until the bot's next reply has finished playing (its `mark` was echoed)."""

    kind: ClassVar[StepKind] = "expect_bot"
    expect_bot: ExpectBotOptions = Field(default_factory=ExpectBotOptions)

    @property
    def text_contains(self) -> list[str]:
        """Substrings the reply must contain."""
        return self.expect_bot.text_contains

    @property
    def timeout_ms(self) -> int:
        """Wait limit in ms."""
        return self.expect_bot.timeout_ms


class SayStep(_Model):
    """The caller speaks.

    Attributes:
        say: The caller's words (the transcript the simulated STT returns).
        audio: μ-law/PCM WAV to stream, resolved to an absolute path at load time (relative
            paths: scenario folder first, then the current directory); None = synthesize.
        while_bot_speaking_after_ms: Barge-in: start speaking this many ms after the bot's
            next reply starts playing, instead of right away.
    """

    kind: ClassVar[StepKind] = "say"
    say: str
    audio: Path | None = None
    while_bot_speaking_after_ms: NonNegativeInt | None = None

    @field_validator("say")
    @classmethod
    def _say_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("empty text; write the caller's words")
        return v.strip()

    @field_validator("audio", mode="before")
    @classmethod
    def _audio_exists(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return None
        if not isinstance(v, str | Path) or not str(v).strip():
            raise ValueError(f"expected a path to a WAV file, got {v!r}")
        path = _resolve_existing(str(v).strip(), info, "audio file")
        with path.open("rb") as fh:
            head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError(f"audio file {str(v)!r} is not a WAV file (no RIFF/WAVE header)")
        return path


class DtmfStep(_Model):
    """The caller presses keys: one Twilio ``dtmf`` event per key.

    Attributes:
        dtmf: Keys, each of ``0-9 * #``.
        gap_ms: Pause between keys in ms.
    """

    kind: ClassVar[StepKind] = "dtmf"
    dtmf: str
    gap_ms: NonNegativeInt = 150

    @field_validator("dtmf")
    @classmethod
    def _digits(cls, v: str) -> str:
        if not v:
            raise ValueError('no keys; write e.g. "0501234567#"')
        for pos, ch in enumerate(v, start=1):
            if ch not in _DTMF_ALLOWED:
                raise ValueError(f"bad digit {ch!r} at position {pos} of {v!r}; allowed: 0-9 * #")
        return v


class SilenceStep(_Model):
    """The caller sends silence frames for `silence_ms` ms."""

    kind: ClassVar[StepKind] = "silence"
    silence_ms: PositiveInt


class HangupOptions(_Model):
    """``hangup`` takes no options (``hangup: {}``)."""


class HangupStep(_Model):
    """The caller hangs up (Twilio ``stop``)."""

    kind: ClassVar[StepKind] = "hangup"
    hangup: HangupOptions = Field(default_factory=HangupOptions)


_STEP_MODELS: dict[StepKind, type[_Model]] = {
    "expect_bot": ExpectBotStep,
    "say": SayStep,
    "dtmf": DtmfStep,
    "silence": SilenceStep,
    "hangup": HangupStep,
}


def _check_step_shape(value: Any) -> Any:
    """Require a mapping with exactly one action key; `expect_bot:`/`hangup:` may be empty."""
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(
            f"a step must be a mapping with one action key ({', '.join(ACTION_KEYS)}), "
            f"got {type(value).__name__} {value!r}"
        )
    actions = [k for k in value if k in ACTION_KEYS]
    if len(actions) > 1:
        raise ValueError(
            f"{len(actions)} action keys in one step ({', '.join(actions)}); "
            "write one step per action"
        )
    if not actions:
        unknown = [str(k) for k in value]
        hint = ""
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(ACTION_KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(repr(k) for k in unknown) or "none"
        raise ValueError(
            f"unknown step key {shown} (expected one of: {', '.join(ACTION_KEYS)}){hint}"
        )
    out = dict(value)
    for key in ("expect_bot", "hangup"):
        if key in out and out[key] is None:
            out[key] = {}
    return out


def _step_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return getattr(value, "kind", None)
    if isinstance(value, Mapping):
        for key in value:
            if key in ACTION_KEYS:
                return ACTION_KEYS[key]
    return None


Step = Annotated[
    Annotated[
        Annotated[ExpectBotStep, Tag("expect_bot")]
        | Annotated[SayStep, Tag("say")]
        | Annotated[DtmfStep, Tag("dtmf")]
        | Annotated[SilenceStep, Tag("silence")]
        | Annotated[HangupStep, Tag("hangup")],
        Discriminator(_step_tag),
    ],
    BeforeValidator(_check_step_shape),
]
"""One scenario step; every variant has a `kind` (`StepKind`)."""


# --------------------------------------------------------------------------- the rest


def _check_e164(v: str) -> str:
    v = v.strip()
    if not _E164_RE.match(v):
        raise ValueError(f"{v!r} is not an E.164 number (expected e.g. +972501234567)")
    return v


class Caller(_Model):
    """The calling party.

    Attributes:
        number: E.164 caller id, or None when withheld (``anonymous`` or absent).
    """

    number: str | None = None

    @field_validator("number")
    @classmethod
    def _number(cls, v: str | None) -> str | None:
        if v is None or v.strip().lower() == "anonymous":
            return None
        return _check_e164(v)

    @property
    def is_anonymous(self) -> bool:
        """True when the caller id is withheld."""
        return self.number is None

    @property
    def twilio_from(self) -> str:
        """The ``From`` value Twilio would send: the number, or ``anonymous``."""
        return self.number or "anonymous"


class ExpectedAppointment(_Model):
    """Expected fields of the call's last appointment; only fields present are checked.

    A field written as ``null`` is checked too (the booked value must be None); a field left
    out is not checked. Use `checked_fields` to tell them apart.

    Attributes:
        start: Start instant (aware); compared as an instant, so offsets may differ.
        service: Service id, e.g. ``swedish``.
        customer_name: Name as booked.
        customer_phone: Phone as booked (spaces ignored); null = booked without a phone.
    """

    start: datetime | None = None
    service: str | None = None
    customer_name: str | None = None
    customer_phone: str | None = None

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v: Any) -> Any:
        return None if v is None else parse_aware_datetime(v)

    @property
    def checked_fields(self) -> list[str]:
        """Names of the fields the scenario wrote (null included), in declaration order."""
        return [f for f in type(self).model_fields if f in self.model_fields_set]


class ExpectedMessage(_Model):
    """One after-call message the flows must have produced for the call (``expect:
    messages:``); only fields present are checked.

    Attributes:
        to: Recipient, E.164 (spaces and a ``whatsapp:`` prefix ignored).
        text_contains: Substrings the message text must each contain.
        handler: e.g. ``whatsapp_confirmation``, ``call_summary``.
        event: e.g. ``appointment.created``, ``appointment.phone_attached``, ``call.ended``.
        status: Delivery status; default ``sent``.
    """

    to: str | None = None
    text_contains: Annotated[list[str], BeforeValidator(_listify)] = Field(default_factory=list)
    handler: str | None = None
    event: str | None = None
    status: Literal["sent", "pending", "failed"] = "sent"

    @field_validator("to")
    @classmethod
    def _to(cls, v: str | None) -> str | None:
        return None if v is None else _check_e164(v.removeprefix("whatsapp:"))


class Expect(_Model):
    """What must be true after the call. Absent keys are not checked.

    Attributes:
        tool_calls: Tool names that must occur in this order (a subsequence).
        appointment: Expected last appointment; None (``appointment: null``) = no booking.
            Whether the key was written at all: `checks_appointment`.
        caller_number: Expected stored caller number (E.164) or None; see
            `checks_caller_number`.
        events: Event types that must occur in this order (a subsequence).
        messages: The call's outbox messages (deliveries with a text), one entry per
            message in order - the count must match (``[]`` = no message at all).
        log_contains: Substrings that must each appear in some log line.
        no_errors: No exception, no error-level log line, no dropped turn.
    """

    tool_calls: list[str] | None = None
    appointment: ExpectedAppointment | None = None
    caller_number: str | None = None
    events: list[str] | None = None
    messages: list[ExpectedMessage] | None = None
    log_contains: Annotated[list[str], BeforeValidator(_listify)] = Field(default_factory=list)
    no_errors: bool = True

    @field_validator("caller_number")
    @classmethod
    def _caller_number(cls, v: str | None) -> str | None:
        return None if v is None else _check_e164(v)

    @property
    def checks_appointment(self) -> bool:
        """True when the scenario wrote ``appointment`` (a mapping or null)."""
        return "appointment" in self.model_fields_set

    @property
    def checks_caller_number(self) -> bool:
        """True when the scenario wrote ``caller_number`` (a number or null)."""
        return "caller_number" in self.model_fields_set


class Scenario(_Model):
    """One simulated call. Build with `load_scenario` (resolves relative paths).

    Attributes:
        name: Unique id (letters, digits, ``.``, ``_``, ``-``); used in reports and file names.
        description: Free text.
        now: The business clock at call start (aware).
        business: Business id from the policy file, e.g. ``demo-spa``.
        policy: Per-call policy overrides (validated by the booking layer, not here).
        caller: The calling party.
        steps: The caller's script, in order.
        expect: Outcome checks.
        budgets: Budget file (absolute after `load_scenario`), or None for the defaults.
        dtmf_mode: How this call types its phone number: ``stream`` (Twilio ``dtmf``
            events on the media stream) or ``gather`` (the server moves the call to a TwiML
            ``<Gather>`` and every ``dtmf`` step is typed there); None = the server's
            setting.
    """

    name: str
    description: str = ""
    now: datetime
    business: str
    policy: dict[str, Any] = Field(default_factory=dict)
    caller: Caller = Field(default_factory=Caller)
    steps: list[Step] = Field(min_length=1)
    expect: Expect = Field(default_factory=Expect)
    budgets: Path | None = None
    dtmf_mode: Literal["stream", "gather"] | None = None

    _source: Path | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(
                f"{v!r} is not a valid id; use letters, digits, '.', '_' or '-' "
                "(e.g. book-tomorrow-noon)"
            )
        return v

    @field_validator("business")
    @classmethod
    def _business(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("empty business id")
        return v.strip()

    @field_validator("now", mode="before")
    @classmethod
    def _now(cls, v: Any) -> datetime:
        return parse_aware_datetime(v)

    @field_validator("policy", mode="before")
    @classmethod
    def _policy(cls, v: Any) -> Any:
        return {} if v is None else v

    @field_validator("caller", "expect", mode="before")
    @classmethod
    def _empty_mapping(cls, v: Any) -> Any:
        return {} if v is None else v

    @field_validator("budgets", mode="before")
    @classmethod
    def _budgets(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return None
        if not isinstance(v, str | Path) or not str(v).strip():
            raise ValueError(f"expected a path to a budget file, got {v!r}")
        return _resolve_existing(str(v).strip(), info, "budget file")

    @property
    def source(self) -> Path | None:
        """The file this scenario was loaded from, if any."""
        return self._source


# --------------------------------------------------------------------------- loading

_STR = "tag:yaml.org,2002:str"
_COERCED_TAGS = frozenset("tag:yaml.org,2002:" + t for t in ("int", "float", "bool", "timestamp"))
# Paths whose plain scalars are text even when YAML 1.1 would read a number/bool/date.
_TEXT_PATHS = frozenset(
    {
        ("name",),
        ("description",),
        ("business",),
        ("now",),
        ("budgets",),
        ("caller", "number"),
        ("steps", "*", "say"),
        ("steps", "*", "audio"),
        ("steps", "*", "dtmf"),
        ("steps", "*", "expect_bot", "text_contains"),
        ("steps", "*", "expect_bot", "text_contains", "*"),
        ("expect", "tool_calls", "*"),
        ("expect", "events", "*"),
        ("expect", "messages", "*", "to"),
        ("expect", "messages", "*", "text_contains"),
        ("expect", "messages", "*", "text_contains", "*"),
        ("expect", "messages", "*", "handler"),
        ("expect", "messages", "*", "event"),
        ("expect", "messages", "*", "status"),
        ("expect", "log_contains"),
        ("expect", "log_contains", "*"),
        ("expect", "caller_number"),
        ("expect", "appointment", "start"),
        ("expect", "appointment", "service"),
        ("expect", "appointment", "customer_name"),
        ("expect", "appointment", "customer_phone"),
    }
)


def _fmt_loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Prep:
    """Walks the YAML node tree: text coercion, duplicate keys, field -> line map."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[tuple[str | int, ...], int] = {}
        self._open: set[int] = set()  # collection nodes being walked (guards alias cycles)

    def walk(self, node: yaml.Node, loc: tuple[str | int, ...]) -> None:
        if loc:
            self.lines.setdefault(loc, node.start_mark.line + 1)
        if id(node) in self._open:
            raise ScenarioError(
                self.file, _fmt_loc(loc), "recursive YAML alias", node.start_mark.line + 1
            )
        if isinstance(node, yaml.CollectionNode):
            self._open.add(id(node))
            try:
                self._walk_collection(node, loc)
            finally:
                self._open.discard(id(node))
            return
        pattern = tuple("*" if isinstance(p, int) else p for p in loc)
        if (
            isinstance(node, yaml.ScalarNode)
            and node.style is None
            and node.tag in _COERCED_TAGS
            and pattern in _TEXT_PATHS
        ):
            node.tag = _STR

    def _walk_collection(self, node: yaml.CollectionNode, loc: tuple[str | int, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise ScenarioError(
                        self.file,
                        _fmt_loc(loc),
                        "mapping keys must be plain names",
                        key_node.start_mark.line + 1,
                    )
                key = key_node.value
                if key == "<<":
                    continue
                if key in seen:
                    raise ScenarioError(
                        self.file,
                        _fmt_loc(loc + (key,)),
                        "duplicate key (YAML would silently keep only the last one)",
                        key_node.start_mark.line + 1,
                    )
                seen.add(key)
                self.lines[loc + (key,)] = key_node.start_mark.line + 1
                self.walk(value_node, loc + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, loc + (i,))

    def line_for(self, loc: tuple[str | int, ...]) -> int | None:
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None


def _read_yaml(path: Path, file: str) -> tuple[Any, _Prep]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(file, "", "file not found") from None
    except IsADirectoryError:
        raise ScenarioError(file, "", "is a directory, not a scenario file") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(file, "", f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ScenarioError(file, "", f"cannot read: {exc.strerror or exc}") from None
    prep = _Prep(file)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError(file, "", "file is empty; expected a scenario mapping")
        prep.walk(node, ())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "syntax error"
        notes = [f"column {mark.column + 1}"] if mark is not None else []
        if exc.context and exc.problem:
            notes.append(exc.context)
        if notes:
            what += f" ({', '.join(notes)})"
        raise ScenarioError(file, "", f"malformed YAML: {what}", line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, "", f"malformed YAML: {exc}") from None
    except ScenarioError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp like 2026-13-45
        raise ScenarioError(file, "", f"malformed YAML value: {exc}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ScenarioError(
            file, "", f"expected a mapping of scenario fields, got {type(data).__name__}", 1
        )
    return data, prep


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str] | None:
    """Keys allowed in the mapping at `loc` (the parent of an unknown key); None if unknown."""
    model: type[BaseModel] | None = Scenario
    i = 0
    while model is not None and i < len(loc):
        part = loc[i]
        if part == "steps" and model is Scenario:
            if i + 2 < len(loc) and loc[i + 2] in _STEP_MODELS:
                model = _STEP_MODELS[loc[i + 2]]  # type: ignore[index]
                i += 3
                continue
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        nested = [
            t
            for t in (ann, *getattr(ann, "__args__", ()))
            if isinstance(t, type) and issubclass(t, BaseModel)
        ]
        model = nested[0] if nested else None
        i += 1
    return list(model.model_fields) if model is not None else None


def _translate(err: Any) -> tuple[tuple[str | int, ...], str]:
    """Turn one pydantic error into (location without union tags, problem text)."""
    loc = tuple(err["loc"])
    # Tagged-union steps carry the tag after the index: steps.3.dtmf.dtmf -> steps[3].dtmf
    if len(loc) >= 3 and loc[0] == "steps" and isinstance(loc[1], int) and loc[2] in _STEP_MODELS:
        shown = loc[:2] + loc[3:]
    else:
        shown = loc
    kind = err["type"]
    msg = str(err["msg"])
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(key, allowed or [], n=1)
        top = "top-level " if len(shown) == 1 else ""
        problem = f"unknown {top}key {key!r}"
        if close:
            problem += f"; did you mean {close[0]!r}?"
        elif allowed:
            problem += f" (allowed: {', '.join(allowed)})"
        elif allowed is not None:
            problem += " (this mapping takes no keys; write {})"
        return shown, problem
    if kind == "missing":
        return shown, "required field is missing"
    if kind in ("value_error", "assertion_error"):
        return shown, msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return shown, f"{msg} (got {_short(err.get('input'))})"


def _from_validation_error(exc: ValidationError, file: str, prep: _Prep | None) -> ScenarioError:
    errors = exc.errors(include_url=False)
    loc, problem = _translate(errors[0])
    line = prep.line_for(loc) if prep is not None else None
    return ScenarioError(file, _fmt_loc(loc), problem, line, more=len(errors) - 1)


def validate_scenario(
    data: Mapping[str, Any], *, base_dir: Path | None = None, file: str = "<scenario>"
) -> Scenario:
    """Validate an already-parsed scenario mapping.

    Args:
        data: The scenario as a mapping (as YAML would give it).
        base_dir: Folder for resolving relative ``audio``/``budgets`` paths before the
            current directory.
        file: Name used in error messages.

    Returns:
        The validated `Scenario`.

    Raises:
        ScenarioError: One line naming `file`, the field path and the problem.
    """
    try:
        return Scenario.model_validate(dict(data), context={"base_dir": base_dir})
    except ValidationError as exc:
        raise _from_validation_error(exc, file, None) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Relative ``audio`` and ``budgets`` paths are resolved against the scenario file's folder
    first, then the current directory, and stored as absolute paths; they must exist.

    Args:
        path: The scenario file.

    Returns:
        The validated `Scenario` (its `source` is the resolved file path).

    Raises:
        ScenarioError: Missing/unreadable file, malformed YAML (with line), duplicate key,
            or any schema violation; one line ``<file>[:<line>]: <field>: <problem>``.
    """
    path = Path(path)
    file = str(path)
    data, prep = _read_yaml(path, file)
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise _from_validation_error(exc, file, prep) from None
    scenario._source = path.resolve()
    return scenario
