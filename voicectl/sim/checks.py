"""Outcome checks: a scenario's ``expect`` block against the server's call record.

The call record is the JSON-able dict the server keeps per call::

    {"call_sid": "CA...", "business_id": "demo-spa", "caller_number": "+9725..." | None,
     "turns": [{"index": 1, "kind": "speech", "user_text": ..., "bot_text": ...,
                "marks": {...}, "barged_in": False}],
     "tool_calls": [{"name": "find_slots", "args": {...}, "ok": True, "error": None,
                     "latency_ms": 1.2}],
     "appointments": [{"appointment_id": 1, "start_iso": "2026-11-21T12:00:00+02:00",
                       "end_iso": ..., "service": "swedish", "customer_name": "דני",
                       "customer_phone": None}],
     "events": [{"type": "appointment.created", "payload": {...}}],
     "messages": [{"id": 1, "event": "appointment.created", "handler":
                   "whatsapp_confirmation", "to": "+9725...", "text": ..., "status": "sent",
                   "attempts": 1, ...}],   # voicectl.flows.messages.message_dict
     "log": ["INFO voicectl.call: ...", ...], "errors": ["..."]}

Missing keys are read as empty. Each check gives a `Check` whose `detail` says what was
expected and what happened, so a failing scenario can be understood without the log.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voicectl.sim.scenario import Expect, ExpectedAppointment, ExpectedMessage

__all__ = ["Check", "check_bot_texts", "check_expectations", "normalise_text"]

_SHOW_ERRORS = 3
_ERROR_LEVELS = ("ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class Check:
    """One checked expectation.

    Attributes:
        name: What was checked, e.g. ``tool_calls``, ``appointment``, ``log_contains[0]``,
            ``expect_bot turn 2``.
        ok: Whether it held.
        detail: Expected vs actual, one line.
    """

    name: str
    ok: bool
    detail: str


def normalise_text(text: str | None) -> str:
    """NFC, case-folded, whitespace runs collapsed to one space, stripped."""
    return " ".join(unicodedata.normalize("NFC", text or "").casefold().split())


def _clip(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _items(record: Mapping[str, Any], key: str) -> list[Any]:
    value = record.get(key)
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def _subsequence(expected: Sequence[str], actual: Sequence[str]) -> int | None:
    """Index of the first expected item not matched in order, or None if all matched."""
    pos = 0
    for i, want in enumerate(expected):
        while pos < len(actual) and actual[pos] != want:
            pos += 1
        if pos == len(actual):
            return i
        pos += 1
    return None


def _order_detail(
    what: str, expected: Sequence[str], names: Sequence[str], shown: Sequence[str]
) -> tuple[bool, str]:
    """Check an ordered subsequence and word the outcome."""
    want = " -> ".join(expected) or "(nothing)"
    got = " -> ".join(shown) or f"no {what}"
    miss = _subsequence(expected, names)
    if miss is None:
        return True, f"expected {want} (in order); got {got}"
    name = expected[miss]
    if name not in names:
        why = f"{name!r} never happened"
    elif miss > 0:
        why = f"{name!r} did not happen after {expected[miss - 1]!r}"
    else:
        why = f"{name!r} not matched"
    return False, f"expected {want} (in order); got {got}; {why}"


def _tool_label(call: Any) -> str:
    if not isinstance(call, Mapping):
        return repr(call)
    name = str(call.get("name", "?"))
    error = call.get("error")
    if call.get("ok", error is None) and error is None:
        return f"{name}(ok)"
    return f"{name}(error={error})" if error else f"{name}(failed)"


def _parse_instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _phone(value: Any) -> str | None:
    return None if value is None else "".join(str(value).split())


def _name(value: Any) -> str | None:
    return None if value is None else unicodedata.normalize("NFC", str(value)).strip()


def _appointment_label(appt: Mapping[str, Any]) -> str:
    start = appt.get("start_iso", appt.get("start"))
    return (
        f"#{appt.get('appointment_id', '?')} {appt.get('service')} at {start} "
        f"for {appt.get('customer_name')!r} phone={appt.get('customer_phone')!r}"
    )


def _expected_value(expected: ExpectedAppointment, field: str) -> Any:
    value = getattr(expected, field)
    return value.isoformat() if isinstance(value, datetime) else value


def _check_appointment(expected: ExpectedAppointment | None, record: Mapping[str, Any]) -> Check:
    appts = [a for a in _items(record, "appointments") if isinstance(a, Mapping)]
    if expected is None:
        if not appts:
            return Check("appointment", True, "expected no booking; none was made")
        shown = "; ".join(_appointment_label(a) for a in appts[:_SHOW_ERRORS])
        return Check("appointment", False, f"expected no booking; got {len(appts)}: {shown}")
    fields = expected.checked_fields
    want = ", ".join(f"{f}={_expected_value(expected, f)!r}" for f in fields) or "any booking"
    if not appts:
        failed = [_tool_label(c) for c in _items(record, "tool_calls") if not _ok_call(c)]
        hint = f"; failed tool calls: {', '.join(failed)}" if failed else ""
        return Check("appointment", False, f"expected a booking ({want}); none was made{hint}")
    last = appts[-1]
    which = f"last of {len(appts)}" if len(appts) > 1 else "booked"
    diffs: list[str] = []
    for f in fields:
        want_v = getattr(expected, f)
        if f == "start":
            raw = last.get("start_iso", last.get("start"))
            got_t = _parse_instant(raw)
            same = (
                got_t == want_v
                if (want_v is not None and got_t is not None)
                else (want_v is None and raw is None)
            )
            if not same:
                shown = _expected_value(expected, "start")
                diffs.append(f"start: expected {shown!r}, got {raw!r}")
        elif f == "customer_phone":
            got = last.get(f)
            if _phone(got) != _phone(want_v):
                diffs.append(f"customer_phone: expected {want_v!r}, got {got!r}")
        elif f == "customer_name":
            got = last.get(f)
            if _name(got) != _name(want_v):
                diffs.append(f"customer_name: expected {want_v!r}, got {got!r}")
        else:
            got = last.get(f)
            if got != want_v:
                diffs.append(f"{f}: expected {want_v!r}, got {got!r}")
    label = _appointment_label(last)
    if diffs:
        return Check("appointment", False, f"{'; '.join(diffs)} ({which}: {label})")
    return Check("appointment", True, f"{which} {label} matches ({want})")


def _ok_call(call: Any) -> bool:
    return isinstance(call, Mapping) and bool(call.get("ok", True)) and call.get("error") is None


def _first(items: Sequence[str]) -> str:
    shown = " | ".join(_clip(e) for e in items[:_SHOW_ERRORS])
    extra = len(items) - _SHOW_ERRORS
    return shown + (f" (+{extra} more)" if extra > 0 else "")


def _log_level(line: str) -> str:
    head = line.split(None, 1)
    return head[0].rstrip(":").upper() if head else ""


def _message_label(m: Mapping[str, Any]) -> str:
    return f"{m.get('handler')}->{m.get('to')} [{m.get('status')}] {_clip(str(m.get('text')), 50)}"


def _message_problem(want: ExpectedMessage, got: Mapping[str, Any]) -> str | None:
    to = str(got.get("to") or "").removeprefix("whatsapp:").replace(" ", "")
    if want.to is not None and to != want.to:
        return f"to {to or None!r}, expected {want.to!r}"
    for field in ("handler", "event", "status"):
        value = getattr(want, field)
        if value is not None and got.get(field) != value:
            return f"{field} {got.get(field)!r}, expected {value!r}"
    text = normalise_text(str(got.get("text") or ""))
    for needle in want.text_contains:
        if normalise_text(needle) not in text:
            return f"text lacks {needle!r}"
    return None


def _check_messages(expected: Sequence[ExpectedMessage], record: Mapping[str, Any]) -> Check:
    messages = [m for m in _items(record, "messages") if isinstance(m, Mapping) and m.get("text")]
    shown = "; ".join(_message_label(m) for m in messages) or "none"
    if len(messages) != len(expected):
        return Check(
            "messages", False, f"expected {len(expected)} message(s); got {len(messages)}: {shown}"
        )
    for i, (want, got) in enumerate(zip(expected, messages, strict=True)):
        problem = _message_problem(want, got)
        if problem is not None:
            return Check("messages", False, f"message {i + 1}: {problem}; got {shown}")
    return Check("messages", True, f"{len(messages)} message(s) as expected: {shown}")


def check_expectations(expect: Expect, record: Mapping[str, Any]) -> list[Check]:
    """Check a scenario's ``expect`` block against the call record.

    Only what the scenario wrote is checked (absent keys give no `Check`); ``no_errors``
    defaults to true and so is checked unless set to false.

    Rules:
        * ``tool_calls``: the names occur in this order in ``record["tool_calls"]`` (other
          calls may come between); detail lists the actual calls with ok/error.
        * ``appointment``: compared with the call's LAST appointment; ``start`` as an
          instant (``+02:00`` and ``Z`` forms of the same time match), ``customer_phone``
          with spaces removed, ``customer_name`` NFC and stripped, others equal; a field
          written as null must be None. ``appointment: null``: no appointment at all.
        * ``caller_number``: equals ``record["caller_number"]`` (null = None).
        * ``events``: the types occur in this order in ``record["events"]``.
        * ``messages``: the call's messages (``record["messages"]`` entries with a text)
          match the expected entries one to one, in order: ``to`` (``whatsapp:`` prefix
          and spaces ignored), every ``text_contains`` substring (NFC, case-folded),
          ``handler``, ``event`` and ``status`` (default ``sent``).
        * ``log_contains``: one `Check` per substring (``log_contains[i]``), found in some
          log line (case-sensitive).
        * ``no_errors``: ``record["errors"]`` is empty and no log line is at ERROR or
          CRITICAL level (DESIGN.md: no exception, no error-level log, no dropped turn).

    Args:
        expect: The scenario's `Expect`.
        record: The server's call record (see the module docstring).

    Returns:
        The checks in the order above.
    """
    checks: list[Check] = []

    if expect.tool_calls is not None:
        calls = _items(record, "tool_calls")
        names = [str(c.get("name")) if isinstance(c, Mapping) else str(c) for c in calls]
        ok, detail = _order_detail(
            "tool calls", expect.tool_calls, names, [_tool_label(c) for c in calls]
        )
        checks.append(Check("tool_calls", ok, detail))

    if expect.checks_appointment:
        checks.append(_check_appointment(expect.appointment, record))

    if expect.checks_caller_number:
        got = record.get("caller_number")
        want = expect.caller_number
        ok = _phone(got) == want
        checks.append(Check("caller_number", ok, f"expected {want!r}; got {got!r}"))

    if expect.events is not None:
        events = _items(record, "events")
        types = [str(e.get("type")) if isinstance(e, Mapping) else str(e) for e in events]
        ok, detail = _order_detail("events", expect.events, types, types)
        checks.append(Check("events", ok, detail))

    if expect.messages is not None:
        checks.append(_check_messages(expect.messages, record))

    log = [str(line) for line in _items(record, "log")]
    for i, needle in enumerate(expect.log_contains):
        hit = next((n for n, line in enumerate(log, start=1) if needle in line), None)
        if hit is None:
            detail = f"{needle!r} not in any of {len(log)} log lines"
            ok = False
        else:
            detail = f"{needle!r} found in log line {hit}: {_clip(log[hit - 1])}"
            ok = True
        checks.append(Check(f"log_contains[{i}]", ok, detail))

    if expect.no_errors:
        errors = [str(e) for e in _items(record, "errors")]
        error_lines = [line for line in log if _log_level(line) in _ERROR_LEVELS]
        if not errors and not error_lines:
            checks.append(Check("no_errors", True, "no errors and no error-level log lines"))
        else:
            parts = []
            if errors:
                parts.append(f"{len(errors)} error(s): {_first(errors)}")
            if error_lines:
                parts.append(f"{len(error_lines)} error-level log line(s): {_first(error_lines)}")
            checks.append(Check("no_errors", False, "expected none; " + "; ".join(parts)))

    return checks


def check_bot_texts(
    step_expectations: Sequence[tuple[int, Sequence[str]]], record: Mapping[str, Any]
) -> list[Check]:
    """Check ``expect_bot: {text_contains: [...]}`` against the bot's replies.

    Matching is case-insensitive and whitespace-normalised (`normalise_text`); every
    substring must appear in the turn's ``bot_text``.

    Args:
        step_expectations: ``(turn_index, substrings)`` pairs, turn_index as in
            ``record["turns"][*]["index"]``.
        record: The server's call record.

    Returns:
        One `Check` per pair, named ``expect_bot turn <index>``; a missing turn fails.
    """
    turns: dict[int, Mapping[str, Any]] = {}
    for turn in _items(record, "turns"):
        if isinstance(turn, Mapping) and isinstance(turn.get("index"), int):
            turns.setdefault(turn["index"], turn)
    checks: list[Check] = []
    for index, substrings in step_expectations:
        name = f"expect_bot turn {index}"
        want = ", ".join(repr(s) for s in substrings) or "(any reply)"
        turn = turns.get(index)
        if turn is None:
            have = ", ".join(str(i) for i in sorted(turns)) or "none"
            checks.append(
                Check(
                    name,
                    False,
                    f"expected a reply containing {want}; no turn {index} (turns recorded: {have})",
                )
            )
            continue
        text = str(turn.get("bot_text") or "")
        hay = normalise_text(text)
        missing = [s for s in substrings if normalise_text(s) not in hay]
        if missing:
            detail = f"missing {', '.join(repr(s) for s in missing)} in bot reply {_clip(text)!r}"
            checks.append(Check(name, False, detail))
        else:
            checks.append(Check(name, True, f"reply contains {want}: {_clip(text)!r}"))
    return checks
