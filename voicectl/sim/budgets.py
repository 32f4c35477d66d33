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
    "Budget",
    "BudgetError",
    "Verdict",
    "classify",
    "is_known_mark",
    "load_budgets",
    "verdict",
    "worst",
]

Verdict = Literal["GO", "WARN", "NO-GO"]
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

    Raises:
        ValueError: `nogo_above` < `go_max`, or a line is not a finite number.
    """

    mark: str
    go_max: float
    nogo_above: float
    unit: str = "ms"

    def __post_init__(self) -> None:
        for name in ("go_max", "nogo_above"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{self.mark}: {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{self.mark}: {name} must be finite, got {value!r}")
        if self.nogo_above < self.go_max:
            raise ValueError(
                f"{self.mark}: nogo ({self.nogo_above:g}) is below go ({self.go_max:g})"
            )


def _b(mark: str, go: float, nogo: float, unit: str = "ms") -> tuple[str, Budget]:
    return mark, Budget(mark, go, nogo, unit)


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
            _b("SEND_QUEUE_FULL", 0, 0, "count"),
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


def load_budgets(path: str | Path | None) -> dict[str, Budget]:
    """Load a budget file over the defaults.

    File shape (YAML)::

        marks:
          AI_LATENCY_MS: {go: 1500, nogo: 1800}   # nogo = "NO-GO above"
          TOTAL_MS: {go: 4000, nogo: 6000}        # gives an info mark a verdict
          SEND_QUEUE_FULL: {go: 0, nogo: 0, unit: count}

    Each mark in the file replaces that mark's default; for a mark that has a default,
    ``go`` or ``nogo`` alone may be given and the other line is kept. Marks not in the file
    keep their defaults.

    Args:
        path: The budget file, or None for `DEFAULT_BUDGETS` only.

    Returns:
        A new dict, mark name -> `Budget`.

    Raises:
        BudgetError: Missing file, malformed YAML, unknown key or mark name, a line that is
            not a number >= 0, or ``nogo`` below ``go``; one line naming file and field.
    """
    budgets = dict(DEFAULT_BUDGETS)
    if path is None:
        return budgets
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
        return budgets
    if not isinstance(data, dict):
        raise BudgetError(f"{file}: expected a mapping with a 'marks' key")
    for key in data:
        if key != "marks":
            raise BudgetError(f"{file}: {key}: unknown top-level key (expected 'marks')")
    marks = data.get("marks") or {}
    if not isinstance(marks, dict):
        raise BudgetError(f"{file}: marks: expected a mapping of mark name -> {{go, nogo}}")
    for name, spec in marks.items():
        field = f"marks.{name}"
        name = str(name)
        if not is_known_mark(name):
            known = sorted(BUDGETED_MARKS | INFO_MARKS)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (see DESIGN.md latency marks)"
            raise BudgetError(f"{file}: {field}: unknown mark {name!r}{hint}")
        if not isinstance(spec, dict):
            raise BudgetError(f"{file}: {field}: expected {{go: <n>, nogo: <n>}}, got {spec!r}")
        for key in spec:
            if key not in ("go", "nogo", "unit"):
                raise BudgetError(f"{file}: {field}.{key}: unknown key (expected go, nogo, unit)")
        base = budgets.get(name)
        if base is None and not ("go" in spec and "nogo" in spec):
            raise BudgetError(f"{file}: {field}: a new mark needs both 'go' and 'nogo'")
        go = _number(spec["go"], file, f"{field}.go") if "go" in spec else None
        nogo = _number(spec["nogo"], file, f"{field}.nogo") if "nogo" in spec else None
        if base is not None:
            go = base.go_max if go is None else go
            nogo = base.nogo_above if nogo is None else nogo
        assert go is not None and nogo is not None
        unit = spec.get("unit", base.unit if base is not None else "ms")
        if not isinstance(unit, str) or not unit:
            raise BudgetError(f"{file}: {field}.unit: expected a unit name, got {unit!r}")
        if nogo < go:
            raise BudgetError(
                f"{file}: {field}: nogo ({nogo:g}) is below go ({go:g}); "
                "NO-GO must be at or above the GO line"
            )
        budgets[name] = Budget(name, go, nogo, unit)
    return budgets
