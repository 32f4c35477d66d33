"""JUnit XML for CI: a test case per scenario run and per gate (marks, expectations, load).

Shape (the common Jenkins/Ant JUnit schema that GitHub Actions reporters read)::

    <testsuites name="voicectl bench" tests=.. failures=..>
      <testsuite name="voicectl.bench.runs">      one <testcase> per scenario run
      <testsuite name="voicectl.bench.gates">     one <testcase> per judged mark and gate

A failed run or gate carries ``<failure message=...>`` naming the mark and the numbers; a
WARN passes and says so in ``<system-out>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from voicectl.bench.gates import Gate, MarkGate

__all__ = ["write_junit"]


def _case(suite: ET.Element, classname: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(
        suite, "testcase", {"classname": classname, "name": name, "time": f"{seconds:.3f}"}
    )


def _fail(case: ET.Element, message: str, text: str = "") -> None:
    el = ET.SubElement(case, "failure", {"message": message[:500], "type": "AssertionError"})
    el.text = text or message


def mark_failure(g: MarkGate) -> str | None:
    """The failure text of a mark gate, or None when it passes."""
    assert g.budget is not None and g.value is not None
    parts = []
    if g.verdict == "NO-GO":
        parts.append(
            f"{g.mark} {g.budget.stat} = {g.value:.1f} {g.budget.unit} is NO-GO "
            f"(GO <= {g.budget.go_max:g}, NO-GO above {g.budget.nogo_above:g}; "
            f"{g.summary['n']:.0f} values)"
        )
    if g.regressed:
        parts.append(
            f"{g.mark} {g.budget.stat} regressed: baseline {g.baseline:.1f} -> now "
            f"{g.value:.1f} {g.budget.unit} ({g.change_pct:+.1f}%)"
        )
    return "; ".join(parts) or None


def write_junit(
    path: Path,
    runs: list[tuple[str, str, float, str | None]],
    marks: list[MarkGate],
    gates: list[Gate],
) -> None:
    """Write the JUnit file.

    Args:
        path: where to write.
        runs: per scenario run: (scenario name, test name, seconds, failure text or None).
        marks: the judged marks (info marks are skipped).
        gates: functional / load gates.
    """
    root = ET.Element("testsuites", {"name": "voicectl bench"})
    suite = ET.SubElement(root, "testsuite", {"name": "voicectl.bench.runs"})
    fails = 0
    for scenario, name, seconds, failure in runs:
        case = _case(suite, f"scenario.{scenario}", name, seconds)
        if failure:
            _fail(case, failure)
            fails += 1
    suite.set("tests", str(len(runs)))
    suite.set("failures", str(fails))
    gsuite = ET.SubElement(root, "testsuite", {"name": "voicectl.bench.gates"})
    gfails = 0
    n = 0
    for g in marks:
        if g.budget is None:
            continue
        n += 1
        case = _case(gsuite, "mark", g.mark)
        failure = mark_failure(g)
        if failure:
            _fail(case, failure)
            gfails += 1
        elif g.verdict == "WARN":
            out = ET.SubElement(case, "system-out")
            out.text = (
                f"WARN: {g.mark} {g.budget.stat} = {g.value:.1f} is above GO "
                f"({g.budget.go_max:g}) and within NO-GO ({g.budget.nogo_above:g})"
            )
    for gate in gates:
        n += 1
        case = _case(gsuite, "gate", gate.name)
        if not gate.ok:
            _fail(case, f"{gate.name}: {gate.detail}")
            gfails += 1
    gsuite.set("tests", str(n))
    gsuite.set("failures", str(gfails))
    root.set("tests", str(len(runs) + n))
    root.set("failures", str(fails + gfails))
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
