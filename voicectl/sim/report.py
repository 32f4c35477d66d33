"""What `voicectl simulate` prints: the conversation, the per-turn latency table with a
GO / WARN / NO-GO per mark, the checks, the call's server log, and one verdict line."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from voicectl.call.marks import CALLER_MARKS, SERVER_MARKS
from voicectl.sim.budgets import Budget
from voicectl.sim.runner import SimResult

_STYLE = {"GO": "green", "WARN": "yellow", "NO-GO": "bold red", "info": "dim"}
_KIND_LABEL = {
    "greeting": "greeting",
    "speech": "caller",
    "dtmf_phone": "DTMF",
    "dtmf_invalid": "DTMF",
    "silence": "silence",
}


def _budget_text(b: Budget | None) -> str:
    """``go/no_go`` (``go`` alone when there is no WARN band), or ``info`` - short enough
    for an 80-column log."""
    if b is None:
        return "info"
    if b.go_max == b.nogo_above:
        return f"{b.go_max:g}"
    return f"{b.go_max:g}/{b.nogo_above:g}"


def fit_columns(fixed: list[int], varying: list[int], width: int) -> list[list[int]]:
    """Split `varying` columns into groups so each table fits `width` terminal columns.

    Args:
        fixed: content widths (characters) of the columns every table repeats.
        varying: content widths of the columns to spread over tables, in order.
        width: the console width (characters).

    Returns:
        Lists of indexes into `varying`, each group as many as fit (at least one). A rich
        table with a box costs 3 characters per column (padding, border) plus 1.
    """
    base = sum(w + 3 for w in fixed) + 1
    groups: list[list[int]] = [[]]
    used = base
    for i, w in enumerate(varying):
        if groups[-1] and used + w + 3 > width:
            groups.append([])
            used = base
        groups[-1].append(i)
        used += w + 3
    return groups


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.1f}"


def print_conversation(console: Console, result: SimResult) -> None:
    """The call as a transcript: caller words, bot replies, and each turn's tool calls."""
    console.print("[bold]Conversation[/bold]")
    tools = list(result.record.get("tool_calls", []))
    for t in result.turns:
        kind = t.get("kind", "")
        if kind == "speech":
            console.print(Text(f"  T{t['index']} caller: {t['user_text']}", style="cyan"))
        elif kind in ("dtmf_phone", "dtmf_invalid"):
            console.print(Text(f"  T{t['index']} caller typed: {t['user_text']}", style="cyan"))
        elif kind == "silence":
            console.print(Text(f"  T{t['index']} (caller silent)", style="cyan"))
        for name in t.get("tools", []):
            console.print(Text(f"       tool {name}", style="magenta"))
        flag = " [barged in]" if t.get("barged_in") else ""
        console.print(Text(f"  T{t['index']} bot:    {t.get('bot_text', '')}{flag}", style="white"))
    if tools and not any(t.get("tools") for t in result.turns):
        calls = ", ".join(
            f"{c['name']}({'ok' if c['ok'] else 'error=' + str(c.get('error'))})" for c in tools
        )
        console.print(Text(f"  tool calls: {calls}", style="magenta"))


def latency_tables(result: SimResult, width: int = 80) -> list[Table]:
    """Rows = marks, columns = turns; each cell `value verdict`.

    When the turns do not fit `width` columns (e.g. an 80-column CI log), they are split
    over several tables, each repeating the mark, budget and worst columns, so a mark name
    is never cut.
    """
    present = {m for t in result.turns for m in t["marks"]}
    order = [m for m in SERVER_MARKS + CALLER_MARKS if m in present]
    order += sorted(present - set(order))
    cells: dict[str, list[Text]] = {}
    worst_of: dict[str, str] = {}
    for mark in order:
        row: list[Text] = []
        verdicts: list[str] = []
        for t in result.turns:
            if mark in t["marks"]:
                v = t["verdicts"][mark]
                verdicts.append(v)
                label = "" if v == "info" else f" {v}"
                row.append(Text(f"{_fmt(t['marks'][mark])}{label}", style=_STYLE[v]))
            else:
                row.append(Text("-", style="dim"))
        cells[mark] = row
        judged = [v for v in verdicts if v != "info"]
        worst_of[mark] = max(judged, key=["GO", "WARN", "NO-GO"].index) if judged else "info"
    heads = [f"T{t['index']} {_KIND_LABEL.get(t.get('kind', ''), '')}" for t in result.turns]
    budgets = {m: _budget_text(result.budgets.get(m)) for m in order}
    fixed = [
        max([len("mark"), *map(len, order)]),
        max([len("GO/NO-GO"), *map(len, budgets.values())]),
        len("worst"),
    ]
    varying = [max([len(h), *(len(cells[m][i].plain) for m in order)]) for i, h in enumerate(heads)]
    groups = fit_columns(fixed, varying, width)
    tables = []
    for n, group in enumerate(groups):
        title = "Latency per turn (ms)"
        if len(groups) > 1:
            title += f", part {n + 1} of {len(groups)}"
        table = Table(title=title, title_justify="left", show_lines=False)
        table.add_column("mark", style="bold", no_wrap=True)
        table.add_column("GO/NO-GO", style="dim", no_wrap=True)
        for i in group:
            table.add_column(heads[i], justify="right", no_wrap=True)
        table.add_column("worst", justify="center", no_wrap=True)
        for mark in order:
            worst_v = worst_of[mark]
            table.add_row(
                mark,
                budgets[mark],
                *(cells[mark][i] for i in group),
                Text(worst_v, style=_STYLE[worst_v]),
            )
        tables.append(table)
    return tables


def print_flows(console: Console, result: SimResult) -> None:
    """The messages the after-call flows produced for the call, and its stored summary."""
    from voicectl.flows.cli import messages_table

    messages = result.record.get("messages") or []
    if messages:
        console.print(messages_table(messages, title="Flows: messages for this call"))
    elif "messages" in result.record:
        console.print("[bold]Flows:[/bold] no messages for this call")
    if result.record.get("summary"):
        console.print(Text(f"Call summary: {result.record['summary']}"))


def print_result(console: Console, result: SimResult, show_log: bool = True) -> None:
    """Print the whole report for one simulated call."""
    sc = result.scenario
    console.rule(f"[bold]{sc.name}[/bold]")
    if sc.description:
        console.print(sc.description)
    console.print(
        f"business={sc.business} now={sc.now.isoformat()} caller={sc.caller.number or 'anonymous'}"
        f" server={result.server} call={result.record.get('call_sid')}"
    )
    served = result.record.get("providers") or {}
    if served:
        console.print("providers: " + " ".join(f"{k}={v}" for k, v in served.items()))
    console.print()
    print_conversation(console, result)
    console.print()
    for table in latency_tables(result, console.width):
        console.print(table)
    mtable = Table(title="Call", title_justify="left")
    mtable.add_column("metric", style="bold")
    mtable.add_column("GO/NO-GO", style="dim")
    mtable.add_column("value", justify="right")
    for name, (value, v) in result.metrics.items():
        label = "" if v == "info" else f" {v}"
        mtable.add_row(
            name, _budget_text(result.budgets.get(name)), Text(f"{value:g}{label}", style=_STYLE[v])
        )
    console.print(mtable)
    if show_log and result.record.get("log"):
        console.print("[bold]Server log for this call[/bold]")
        for line in result.record["log"]:
            console.print(Text(f"  {line}", style="dim"))
    print_flows(console, result)
    console.print("[bold]Checks[/bold]")
    for c in result.checks:
        mark = Text("  ✓ ", style="green") if c.ok else Text("  ✗ ", style="bold red")
        console.print(mark + Text(f"{c.name}: {c.detail}"))
    console.print(verdict_line(result))


def verdict_line(result: SimResult) -> Text:
    """`VERDICT: GO | WARN | NO-GO - expectations met | N failed` (the exit code follows it)."""
    failed = [c.name for c in result.checks if not c.ok]
    lat = result.latency_verdict
    exp = (
        "expectations met" if not failed else f"{len(failed)} check(s) failed: {', '.join(failed)}"
    )
    final = "PASS" if result.exit_code == 0 else "FAIL"
    style = "bold green" if final == "PASS" else "bold red"
    return Text(f"VERDICT {final}: latency {lat}, {exp} ({result.wall_s:.1f} s)", style=style)
