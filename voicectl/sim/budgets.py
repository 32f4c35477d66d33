"""Latency budgets: a GO / WARN / NO-GO verdict per latency mark (DESIGN.md, "Latency marks").

A `Budget` has two lines: ``value <= go_max`` is GO, ``go_max < value <= nogo_above`` is WARN,
``value > nogo_above`` (or NaN, i.e. a broken measurement) is NO-GO.

Sources of the default figures (DESIGN.md "Default budgets", from the spec's GO/NO-GO list in
seed 002, and seed 001 section 3):

===================== ======== ============ ==================================================
mark                  GO <=    NO-GO above  source / choice
===================== ======== ============ ==================================================
STT_FIRST_PARTIAL_MS  600      900          spec: partial <= 0.6 s; NO-GO at 1.5x GO (ours)
STT_FINAL_MS          900      1350         spec: final <= 0.9 s; NO-GO at 1.5x GO (ours)
AI_LATENCY_MS         1500     1800         spec: both figures given
TTS_READY_MS          400      600          spec: <= 400; NO-GO at 1.5x GO (ours)
TTS_SEND_OVERRUN_MS   1000     1500         spec: both figures given
TURN_LATENCY_MS       1200     2500         seed 001: EOU -> TTS start <= 1.2 s; seed 002
                                            goal: turn latency ~2-2.5 s, so above 2.5 s fails
SEND_QUEUE_FULL       0        0            spec: = 0 (a count; any full-queue event fails)
V2V_MS                1500     2500         ours: caller-side = turn latency + network and
                                            playback buffering (~300 ms); 2.5 s is the seed 002
                                            ceiling a caller tolerates
BARGE_IN_STOP_MS      300      600          ours: within ~300 ms the talk-over is heard as a
                                            natural overlap; past ~600 ms callers repeat
                                            themselves (one VAD decision + one 20 ms frame
                                            tick + Twilio clearing the buffer fits in 300 ms)
===================== ======== ============ ==================================================

Marks with no budget (`INFO_MARKS`: TOOL_*_MS, TTS_SEND_MS, TOTAL_MS, QUEUE_MAX_DEPTH) are
reported as ``"info"``. ``budgets/default.yaml`` holds the same figures as a file.

`simulate` judges every turn's value; `bench` judges one statistic of each mark over all
turns of a run (``stat``: p95 by default, ``max`` for counters). A budget file also holds
the bench's functional gate (`gates.expectation_pass_rate`) and the capacity gates of
``bench --load`` (`LoadBudgets`); `load_budget_file` reads all of it.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

__all__ = [
    "BUDGETED_MARKS",
    "DEFAULT_BUDGETS",
    "INFO_MARKS",
    "STATISTICS",
    "Budget",
    "BudgetError",
    "BudgetFile",
    "LoadBudgets",
    "Verdict",
    "classify",
    "is_known_mark",
    "load_budget_file",
    "load_budgets",
    "verdict",
    "worst",
]

Verdict = Literal["GO", "WARN", "NO-GO"]
#: Statistics a budget may judge over a bench run's turns (see `voicectl.bench.stats`).
STATISTICS = ("p50", "p90", "p95", "p99", "max", "mean")
_RANK: dict[str, int] = {"info": 0, "GO": 1, "WARN": 2, "NO-GO": 3}


class BudgetError(ValueError):
    """A budget file cannot be used; `str(err)` is one line naming the file and field."""


@dataclass(frozen=True, slots=True)
class Budget:
    """The GO / NO-GO lines of one mark.

    Attributes:
        mark: Mark name, e.g. ``AI_LATENCY_MS``.
        go_max: Largest value that is GO (inclusive).
        nogo_above: Values strictly above this are NO-GO; between the two is WARN.
        unit: ``ms`` for times, ``count``/``frames`` for counters.
        stat: The statistic `bench` judges over a run's turns (one of `STATISTICS`).

    Raises:
        ValueError: `nogo_above` < `go_max`, a line is not a finite number, or `stat` is
            not one of `STATISTICS`.
    """

    mark: str
    go_max: float
    nogo_above: float
    unit: str = "ms"
    stat: str = "p95"

    def __post_init__(self) -> None:
        for name in ("go_max", "nogo_above"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{self.mark}: {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{self.mark}: {name} must be finite, got {value!r}")
        if self.stat not in STATISTICS:
            raise ValueError(f"{self.mark}: stat {self.stat!r} is not one of {STATISTICS}")
        if self.nogo_above < self.go_max:
            raise ValueError(
                f"{self.mark}: nogo ({self.nogo_above:g}) is below go ({self.go_max:g})"
            )


def _b(
    mark: str, go: float, nogo: float, unit: str = "ms", stat: str = "p95"
) -> tuple[str, Budget]:
    return mark, Budget(mark, go, nogo, unit, stat)


#: Defaults; see the module docstring for the source of each figure.
DEFAULT_BUDGETS: Mapping[str, Budget] = MappingProxyType(
    dict(
        [
            _b("STT_FIRST_PARTIAL_MS", 600, 900),
            _b("STT_FINAL_MS", 900, 1350),
            _b("AI_LATENCY_MS", 1500, 1800),
            _b("TTS_READY_MS", 400, 600),
            _b("TTS_SEND_OVERRUN_MS", 1000, 1500),
            _b("TURN_LATENCY_MS", 1200, 2500),
            _b("SEND_QUEUE_FULL", 0, 0, "count", "max"),
            _b("V2V_MS", 1500, 2500),
            _b("BARGE_IN_STOP_MS", 300, 600),
        ]
    )
)

BUDGETED_MARKS: frozenset[str] = frozenset(DEFAULT_BUDGETS)

#: Marks reported without a verdict unless a budget file gives them one.
INFO_MARKS: frozenset[str] = frozenset(
    {
        "TOOL_FIND_SLOTS_MS",
        "TOOL_CREATE_APPOINTMENT_MS",
        "TTS_SEND_MS",
        "TOTAL_MS",
        "QUEUE_MAX_DEPTH",
    }
)

_TOOL_MARK_RE = re.compile(r"^TOOL_[A-Z0-9_]+_MS$")


def is_known_mark(mark: str) -> bool:
    """True for a DESIGN.md mark name or any ``TOOL_<NAME>_MS`` tool mark."""
    return mark in BUDGETED_MARKS or mark in INFO_MARKS or bool(_TOOL_MARK_RE.match(mark))


def verdict(budget: Budget, value: float) -> Verdict:
    """Judge one measured value.

    Args:
        budget: The mark's budget.
        value: Measured value in the budget's unit (ms or count).

    Returns:
        ``GO`` if ``value <= go_max``; ``WARN`` if ``go_max < value <= nogo_above``;
        otherwise (including NaN) ``NO-GO``.
    """
    if value <= budget.go_max:
        return "GO"
    if value <= budget.nogo_above:
        return "WARN"
    return "NO-GO"


def classify(
    mark: str, value: float, budgets: Mapping[str, Budget] | None = None
) -> Literal["GO", "WARN", "NO-GO", "info"]:
    """Verdict for `mark`, or ``info`` when `budgets` (default: the defaults) has none."""
    table = DEFAULT_BUDGETS if budgets is None else budgets
    budget = table.get(mark)
    return "info" if budget is None else verdict(budget, value)


def worst(verdicts: Iterable[str]) -> Verdict:
    """The most severe verdict: NO-GO > WARN > GO. ``info`` entries are ignored.

    Args:
        verdicts: Items of ``GO``, ``WARN``, ``NO-GO`` or ``info``.

    Returns:
        The worst one; ``GO`` when there is nothing to judge.

    Raises:
        ValueError: An item is not one of the four words.
    """
    result: Verdict = "GO"
    for v in verdicts:
        if v not in _RANK:
            raise ValueError(f"not a verdict: {v!r} (expected GO, WARN, NO-GO or info)")
        if _RANK[v] > _RANK[result]:
            result = v  # type: ignore[assignment]
    return result


def _number(value: Any, file: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BudgetError(f"{file}: {field}: expected a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise BudgetError(f"{file}: {field}: expected a finite number >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class LoadBudgets:
    """The gates of `bench --load` (budget file section ``load:``).

    Attributes:
        failed_turns: most caller turns allowed without reply audio within 3 s (count).
        audio_gaps: most audio gaps allowed (count; see `voicectl.sim.playback`).
        v2v: the `V2V_MS` budget under load (its `stat`, default p95, is judged).
        generator_lateness_p99_ms: above this the load generator itself fell behind and
            the run cannot judge the server (ms).
    """

    failed_turns: float = 0
    audio_gaps: float = 0
    v2v: Budget = Budget("V2V_MS", 1500, 2500)
    generator_lateness_p99_ms: float = 5.0


@dataclass(frozen=True, slots=True)
class BudgetFile:
    """Everything a budget file sets.

    Attributes:
        path: the file (None = the built-in defaults).
        marks: mark name -> `Budget`.
        expectation_pass_rate: the fraction (0..1) of bench scenario runs whose
            expectations must all hold (default 1.0: every run).
        load: the `bench --load` gates.
    """

    path: str | None
    marks: dict[str, Budget]
    expectation_pass_rate: float = 1.0
    load: LoadBudgets = LoadBudgets()


def _mapping(value: Any, file: str, field: str, keys: Iterable[str]) -> dict[str, Any]:
    """`value` as a mapping whose keys are all in `keys` (else BudgetError with a hint)."""
    allowed = list(keys)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BudgetError(f"{file}: {field}: expected a mapping with keys {', '.join(allowed)}")
    for key in value:
        if str(key) not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            prefix = f"{field}." if field else ""
            raise BudgetError(
                f"{file}: {prefix}{key}: unknown key (expected {', '.join(allowed)}){hint}"
            )
    return value


def _budget(name: str, spec: Any, base: Budget | None, file: str, field: str) -> Budget:
    """One mark's budget from ``{go, no_go, stat, unit}`` over its default `base`."""
    if not isinstance(spec, dict):
        raise BudgetError(f"{file}: {field}: expected {{go: <n>, no_go: <n>}}, got {spec!r}")
    _mapping(spec, file, field, ("go", "no_go", "stat", "unit"))
    if base is None and "go" not in spec:
        raise BudgetError(f"{file}: {field}: a mark without a default budget needs 'go'")
    go = _number(spec["go"], file, f"{field}.go") if "go" in spec else None
    nogo = _number(spec["no_go"], file, f"{field}.no_go") if "no_go" in spec else None
    if base is not None:
        go = base.go_max if go is None else go
        nogo = base.nogo_above if nogo is None else nogo
    assert go is not None
    nogo = go if nogo is None else nogo  # no NO-GO line given: no WARN band
    unit = spec.get("unit", base.unit if base is not None else "ms")
    if not isinstance(unit, str) or not unit:
        raise BudgetError(f"{file}: {field}.unit: expected a unit name, got {unit!r}")
    stat = spec.get("stat", base.stat if base is not None else "p95")
    if stat not in STATISTICS:
        raise BudgetError(
            f"{file}: {field}.stat: {stat!r} is not a statistic (expected one of "
            f"{', '.join(STATISTICS)})"
        )
    if nogo < go:
        raise BudgetError(
            f"{file}: {field}: no_go ({nogo:g}) is below go ({go:g}); "
            "NO-GO must be at or above the GO line"
        )
    return Budget(name, go, nogo, unit, stat)


def load_budget_file(path: str | Path | None) -> BudgetFile:
    """Load a budget file over the defaults.

    File shape (YAML; every section and key optional)::

        gates:
          expectation_pass_rate: 1.0                  # bench: fraction of runs that pass
        marks:
          AI_LATENCY_MS: {go: 1500, no_go: 1800}      # no_go = "NO-GO above"
          TOTAL_MS: {go: 4000, no_go: 6000}           # gives an info mark a verdict
          V2V_MS: {go: 1500, no_go: 2500, stat: p99}  # bench judges p99 (default p95)
          SEND_QUEUE_FULL: {go: 0, unit: count, stat: max}
        load:                                         # bench --load
          failed_turns: 0
          audio_gaps: 0
          V2V_MS: {go: 1500, no_go: 2500}
          generator_lateness_p99_ms: 5

    Each mark in the file replaces that mark's default; for a mark that has a default,
    any key left out keeps the default's value. A mark without a default needs ``go``;
    without ``no_go`` it has no WARN band (above ``go`` is NO-GO).

    Args:
        path: The budget file, or None for the defaults only.

    Raises:
        BudgetError: Missing file, malformed YAML, unknown key or mark name, a line that is
            not a number >= 0, ``no_go`` below ``go``, an unknown statistic; one line
            naming file, key and problem.
    """
    budgets = dict(DEFAULT_BUDGETS)
    if path is None:
        return BudgetFile(None, budgets)
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BudgetError(f"{file}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BudgetError(f"{file}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        raise BudgetError(f"{where}: malformed YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise BudgetError(f"{file}: malformed YAML: {exc}") from None
    if data is None:
        return BudgetFile(file, budgets)
    if not isinstance(data, dict):
        raise BudgetError(f"{file}: expected a mapping with 'marks', 'gates' or 'load' keys")
    for key in data:
        if key not in ("marks", "gates", "load"):
            raise BudgetError(f"{file}: {key}: unknown top-level key (expected marks, gates, load)")
    marks = data.get("marks") or {}
    if not isinstance(marks, dict):
        raise BudgetError(f"{file}: marks: expected a mapping of mark name -> {{go, no_go}}")
    for name, spec in marks.items():
        field = f"marks.{name}"
        name = str(name)
        if not is_known_mark(name):
            known = sorted(BUDGETED_MARKS | INFO_MARKS)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (see DESIGN.md latency marks)"
            raise BudgetError(f"{file}: {field}: unknown mark {name!r}{hint}")
        budgets[name] = _budget(name, spec, budgets.get(name), file, field)
    gates = _mapping(data.get("gates"), file, "gates", ("expectation_pass_rate",))
    rate = 1.0
    if "expectation_pass_rate" in gates:
        rate = _number(gates["expectation_pass_rate"], file, "gates.expectation_pass_rate")
        if rate > 1:
            raise BudgetError(
                f"{file}: gates.expectation_pass_rate: a fraction from 0 to 1, got {rate:g}"
            )
    spec = _mapping(
        data.get("load"),
        file,
        "load",
        ("failed_turns", "audio_gaps", "V2V_MS", "generator_lateness_p99_ms"),
    )
    base = LoadBudgets(v2v=budgets["V2V_MS"])
    load = LoadBudgets(
        failed_turns=_number(spec["failed_turns"], file, "load.failed_turns")
        if "failed_turns" in spec
        else base.failed_turns,
        audio_gaps=_number(spec["audio_gaps"], file, "load.audio_gaps")
        if "audio_gaps" in spec
        else base.audio_gaps,
        v2v=_budget("V2V_MS", spec["V2V_MS"], base.v2v, file, "load.V2V_MS")
        if "V2V_MS" in spec
        else base.v2v,
        generator_lateness_p99_ms=_number(
            spec["generator_lateness_p99_ms"], file, "load.generator_lateness_p99_ms"
        )
        if "generator_lateness_p99_ms" in spec
        else base.generator_lateness_p99_ms,
    )
    return BudgetFile(file, budgets, rate, load)


def load_budgets(path: str | Path | None) -> dict[str, Budget]:
    """The per-mark budgets of a budget file over the defaults (see `load_budget_file`).

    Raises:
        BudgetError: as `load_budget_file`.
    """
    return load_budget_file(path).marks
