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
    if b is None:
        return "info"
    unit = "" if b.unit == "ms" else f" {b.unit}"
    if b.go_max == b.nogo_above:
        return f"≤ {b.go_max:g}{unit}"
    return f"≤ {b.go_max:g} / NO-GO > {b.nogo_above:g}{unit}"


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


def latency_table(result: SimResult) -> Table:
    """Rows = marks, columns = turns; each cell `value verdict`."""
    table = Table(title="Latency per turn (ms)", title_justify="left", show_lines=False)
    table.add_column("mark", style="bold")
    table.add_column("budget", style="dim")
    for t in result.turns:
        table.add_column(f"T{t['index']} {_KIND_LABEL.get(t.get('kind', ''), '')}", justify="right")
    table.add_column("worst", justify="center")
    present = {m for t in result.turns for m in t["marks"]}
    order = [m for m in SERVER_MARKS + CALLER_MARKS if m in present]
    order += sorted(present - set(order))
    for mark in order:
        cells: list[Text] = []
        verdicts: list[str] = []
        for t in result.turns:
            if mark in t["marks"]:
                v = t["verdicts"][mark]
                verdicts.append(v)
                label = "" if v == "info" else f" {v}"
                cells.append(Text(f"{_fmt(t['marks'][mark])}{label}", style=_STYLE[v]))
            else:
                cells.append(Text("-", style="dim"))
        judged = [v for v in verdicts if v != "info"]
        worst_v = max(judged, key=["GO", "WARN", "NO-GO"].index) if judged else "info"
        table.add_row(
            mark,
            _budget_text(result.budgets.get(mark)),
            *cells,
            Text(worst_v, style=_STYLE[worst_v]),
        )
    return table


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
    console.print()
    print_conversation(console, result)
    console.print()
    console.print(latency_table(result))
    mtable = Table(title="Call", title_justify="left")
    mtable.add_column("metric", style="bold")
    mtable.add_column("budget", style="dim")
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
