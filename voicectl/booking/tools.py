"""The agent's booking tools for one call, with a trace per tool call
(SEEDS.md seed 001 items 1 and 7, seed 002 C and H.3).

`BookingTools` binds a database, a business policy (resolved once, at construction), the
call's business clock, its `call_sid` and its session (for the caller number). Every tool
method returns a dict and never raises (seed 001 item 1). Every tool call is recorded
once as a `ToolTrace` - tool name, argument snapshot with phone numbers masked
(`+97250****567`), ok, error, latency in ms (`time.perf_counter`) and its latency mark
(`TOOL_FIND_SLOTS_MS`, `TOOL_CREATE_APPOINTMENT_MS`, `TOOL_ATTACH_PHONE_MS`) - in the
`tool_traces` table and through the `on_trace` callback.

With a `CommitGate` (speculative endpointing, docs/vad.md) `create_appointment` of a
speculative turn writes a *hold* at once (`store/holds.py`) and answers as a booking, so
the reply with the booked time is spoken at the floor; the runner has the hold confirmed
(`confirm_holds`) or released (`release_holds`) when the session decides the turn.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voicectl.booking import appointments as _appointments
from voicectl.booking import slots as _slots
from voicectl.booking.phone import normalize_phone
from voicectl.booking.policy import BusinessPolicy, get_business_policy
from voicectl.call import commit as _commit
from voicectl.logs import get_logger, mask_phone, mask_phones_in
from voicectl.store import holds as _holds
from voicectl.store.booking import insert_traces
from voicectl.store.db import Database

log = get_logger("booking")

_MAX_STR = 200
_REFUSED = {
    "ok": False,
    "error": "taken_back",
    "message": "the caller went on speaking; nothing was written",
}
_TIME_KEYS = frozenset({"after", "date", "start", "end", "time", "now"})


@dataclass(frozen=True)
class ToolTrace:
    """One tool call (seed 002 H.3).

    Attributes:
        tool: `find_slots`, `create_appointment` or `attach_phone`.
        args: the arguments, phone numbers masked, long strings cut to 200 chars.
        ok: the result's `ok`.
        error: the result's `error` code, or None.
        latency_ms: wall time of the tool in milliseconds (`time.perf_counter`).
        mark: the latency mark name, `TOOL_<NAME>_MS` (e.g. `TOOL_FIND_SLOTS_MS`).
    """

    tool: str
    args: dict
    ok: bool
    error: str | None
    latency_ms: float
    mark: str


def mark_for(tool: str) -> str:
    """`find_slots` -> `TOOL_FIND_SLOTS_MS`."""
    return f"TOOL_{tool.upper()}_MS"


def mask_args(value: Any, key: str = "") -> Any:
    """A JSON-safe snapshot of tool arguments with phone numbers masked.

    Values under a key containing `phone` or `number` go through `mask_phone` (normalised
    first when possible: `+97250****567`); date/time values (`*_iso`, `after`) are kept;
    every other string has phone-looking runs masked (`mask_phones_in`). Strings are cut
    to 200 chars.
    """
    k = key.lower()
    if isinstance(value, Mapping):
        return {str(kk): mask_args(v, str(kk)) for kk, v in list(value.items())[:50]}
    if isinstance(value, list | tuple | set):
        return [mask_args(v, key) for v in list(value)[:50]]
    if value is None or isinstance(value, bool | int | float):
        is_phone_key = "phone" in k or "number" in k
        if is_phone_key and isinstance(value, int) and not isinstance(value, bool):
            return mask_phone(str(value))
        return value
    s = (value if isinstance(value, str) else repr(value))[:_MAX_STR]
    if "phone" in k or "number" in k:
        return mask_phone(normalize_phone(s) or s)
    if k.endswith("iso") or k in _TIME_KEYS:
        return s
    return mask_phones_in(s)


class BookingTools:
    """The booking tools of one call.

    Args:
        db: the database.
        business_id: e.g. `demo-spa`.
        now: the business clock; returns an aware datetime (seed 001 item 6: dates are
            resolved against it).
        call_sid: the Twilio call id, recorded on appointments, events and traces.
        policy_overrides: `{field: value}` applied over the stored policy (scenarios).
        business_prompt: free text whose recognised overrides apply (see
            `voicectl.booking.policy.prompt_overrides`).
        session: the call session (object or dict with `caller_number`), read at each
            `create_appointment` for the third phone choice.
        on_trace: called with every `ToolTrace` (exceptions in it are logged, not raised).
        store_trace: where each `tool_traces` row (a dict of its columns) goes. None: it
            is inserted at once, in a transaction of its own. A call passes its
            `records.TraceRows`, so the rows are stored with the call's next record
            snapshot: a write transaction fewer per tool call on the turn's path (issue 12:
            under load, SQLite's write lock made a 1 ms trace insert take 80 ms at p95).
        policy: the call's effective policy, already loaded (then `policy_overrides` and
            `business_prompt` are not applied again).
        confirms_bookings: whether the after-call flows send this business's bookings a
            WhatsApp confirmation (`FlowRules.confirms_bookings`); successful
            `create_appointment` / `attach_phone` results say so in `confirmation`
            (`"whatsapp"` or None), so the agent promises only what will happen.
        write_gate: asked with the tool's name before a side-effecting tool
            (`create_appointment`, `attach_phone`) writes; it may block (a speculative
            turn waits for its commit point: `voicectl.call.commit.CommitGate.may_write`)
            and returns False to refuse the write, which then answers
            `{ok: false, error: "taken_back"}` and changes nothing. None = always write.
            Ignored when `commit_gate` is given.
        commit_gate: the call's `CommitGate`: `create_appointment` of a speculative turn
            holds (`CommitGate.open_write(..., may_hold=True)`), `attach_phone` waits for
            the commit point (`CommitGate.may_write`).

    Raises:
        UnknownBusinessError: the business does not exist (construction only).
        PolicyError: an override is malformed (construction only).
    """

    def __init__(
        self,
        db: Database,
        business_id: str,
        now: Callable[[], datetime],
        *,
        call_sid: str | None = None,
        policy_overrides: dict | None = None,
        business_prompt: str | None = None,
        session: object | None = None,
        on_trace: Callable[[ToolTrace], None] | None = None,
        store_trace: Callable[[dict[str, Any]], None] | None = None,
        policy: BusinessPolicy | None = None,
        confirms_bookings: bool = True,
        write_gate: Callable[[str], bool] | None = None,
        commit_gate: _commit.CommitGate | None = None,
    ) -> None:
        self.db = db
        self.commit_gate = commit_gate
        self.write_gate = commit_gate.may_write if commit_gate is not None else write_gate
        self.confirmation = "whatsapp" if confirms_bookings else None
        self.business_id = business_id
        self.now = now
        self.call_sid = call_sid
        self.session = session
        self.on_trace = on_trace
        self.store_trace = store_trace
        self.policy: BusinessPolicy = policy or get_business_policy(
            business_id, business_prompt, db=db, overrides=policy_overrides
        )
        self.traces: list[ToolTrace] = []
        self._hold_tokens: dict[int, str] = {}  # hold id -> its hold_token, until settled

    # -- tools ---------------------------------------------------------------------------

    def find_slots(
        self, date_iso: str, service: str | None = None, after: str | None = None
    ) -> dict:
        """Free slots of a local day; see `voicectl.booking.slots.find_slots`.

        With a `commit_gate` it first waits for the holds of earlier turns to be settled
        (`CommitGate.wait_settled`): a re-run must not see its taken-back turn's hold."""
        args = {"date_iso": date_iso, "service": service, "after": after}
        if self.commit_gate is not None:
            self.commit_gate.wait_settled()
        return self._run(
            "find_slots",
            args,
            lambda: _slots.find_slots(self.db, self.policy, self.now, date_iso, service, after),
        )

    def create_appointment(
        self,
        start_iso: str,
        service: str,
        customer_name: str,
        customer_phone: str | None = None,
        context: dict | None = None,
    ) -> dict:
        """Book; see `voicectl.booking.appointments.create_appointment` (errors, shapes).

        The third phone choice is `self.session`'s caller number; the call's `call_sid`
        is recorded on the appointment and its `appointment.created` event.

        In a speculative turn (`commit_gate`) the booking is written as a hold and the
        answer is the booking's; the `appointment.created` event and the lead follow when
        the turn commits (`confirm_holds`). If the turn was taken back while the hold was
        written, the hold is released here and the answer is `taken_back`; if it was
        committed meanwhile, the hold is confirmed here, and a confirmation that failed is
        the answer (`{ok: false, error: "hold_lost" | "confirm_failed"}`), not the booking.
        """
        args = {
            "start_iso": start_iso,
            "service": service,
            "customer_name": customer_name,
            "customer_phone": customer_phone,
            "context": context,
        }

        def book(hold: bool = False) -> dict:
            return _appointments.create_appointment(
                self.db,
                self.policy,
                self.now,
                start_iso,
                service,
                customer_name,
                customer_phone,
                context,
                self.session,
                call_sid=self.call_sid,
                hold=hold,
            )

        gate = self.commit_gate
        if gate is None:
            return self._write("create_appointment", args, book)
        ticket = gate.open_write("create_appointment", may_hold=True)
        if ticket.mode == _commit.REFUSE:
            return self._run("create_appointment", args, lambda: dict(_REFUSED))
        if ticket.mode == _commit.WRITE:
            return self._run("create_appointment", args, book)
        result: dict = {}
        hold_id = None
        try:
            result = self._run("create_appointment", args, lambda: book(hold=True))
            token = result.pop("hold_token", None)  # the agent never sees it
            if result.get("ok") and isinstance(token, str):
                hold_id = result["appointment_id"]
                self._hold_tokens[hold_id] = token
        finally:
            then = gate.held(ticket, hold_id)
        if then == _commit.CONFIRM:
            [confirmed] = self._confirm_holds([hold_id], in_turn=True)
            if not confirmed.get("ok"):
                return confirmed  # the agent must not tell the caller it is booked
        elif then == _commit.RELEASE:
            self.release_holds([hold_id])
            return dict(_REFUSED)
        return result

    def attach_phone(self, appointment_id: int | str, customer_phone: str) -> dict:
        """Add a phone to a booking; see `voicectl.booking.appointments.attach_phone`.

        It does not hold: in a speculative turn it waits for the commit point (and for the
        turn's own holds to be confirmed: the phone goes on a booking, never on a hold).
        Nothing is gained by holding it: the phone comes by DTMF (`dtmf_phone` turns are
        never speculative: a `#` is final) or right after a booking in the same reply,
        where the reply's time is already spent on the booking; and a phone written early
        would be an outbox event (`appointment.phone_attached`, a WhatsApp confirmation)
        that a take-back could not unsend.
        """
        args = {"appointment_id": appointment_id, "customer_phone": customer_phone}
        return self._write(
            "attach_phone",
            args,
            lambda: _appointments.attach_phone(
                self.db, self.policy, appointment_id, customer_phone, call_sid=self.call_sid
            ),
        )

    # -- holds (not traced: the hold's write was) -----------------------------------------

    def confirm_holds(self, hold_ids: list[int]) -> list[dict]:
        """Confirm holds of a committed turn (`appointments.confirm_hold`, which tries a
        failed confirmation again for up to `appointments.CONFIRM_RETRY_S`); blocking, and
        it tells the `commit_gate` they are settled. Never raises; one result per id.

        The caller was already told about each of these bookings, so one that is not
        confirmed (`error` in `appointments.CONFIRM_ERRORS`: `hold_lost`,
        `confirm_failed`) is recorded as a failed `create_appointment` trace of the call
        (`tool_traces`, args `{appointment_id, confirm: true}`; not in `self.traces`,
        which are the current turn's tool calls): the call's record and its summary
        (`flows.summary`) show it, so a person calls the customer back.
        """
        return self._confirm_holds(hold_ids, in_turn=False)

    def _confirm_holds(self, hold_ids: list[int], *, in_turn: bool) -> list[dict]:
        out = []
        try:
            for hold_id in hold_ids:
                token = self._hold_tokens.pop(hold_id, "")
                t0 = time.perf_counter()
                res = _appointments.confirm_hold(self.db, self.policy, hold_id, token)
                if not res.get("ok"):
                    log.error("call %s: hold %s not confirmed: %s", self.call_sid, hold_id, res)
                    ms = (time.perf_counter() - t0) * 1000.0
                    args = {"appointment_id": hold_id, "confirm": True}
                    self._trace("create_appointment", args, res, ms, in_turn=in_turn)
                out.append(res)
        finally:
            if self.commit_gate is not None:
                self.commit_gate.settled(hold_ids)
        return out

    def release_holds(self, hold_ids: list[int]) -> None:
        """Release holds of a taken-back turn (`store.holds.release`); blocking, and it
        tells the `commit_gate` they are settled. Never raises: a release that fails is
        logged and left to the hold's expiry (`store.holds.HOLD_TTL_S`)."""
        try:
            for hold_id in hold_ids:
                try:
                    _holds.release(self.db, hold_id, self._hold_tokens.pop(hold_id, ""))
                except Exception:  # noqa: BLE001 - the expiry frees it
                    log.warning(
                        "call %s: hold %s not released", self.call_sid, hold_id, exc_info=True
                    )
        finally:
            if self.commit_gate is not None:
                self.commit_gate.settled(hold_ids)

    # -- records (not traced) ------------------------------------------------------------

    def find_appointment(self, appointment_id: int | str) -> dict | None:
        """One appointment of this business as a dict, or None. Never raises."""
        try:
            return _appointments.find_appointment(self.db, appointment_id, self.policy.business_id)
        except Exception:  # noqa: BLE001
            log.warning("find_appointment failed", exc_info=True)
            return None

    def list_appointments(self, call_sid: str | None = None) -> list[dict]:
        """This business's appointments (of one call when `call_sid` is given), by start."""
        try:
            return _appointments.list_appointments(self.db, self.policy.business_id, call_sid)
        except Exception:  # noqa: BLE001
            log.warning("list_appointments failed", exc_info=True)
            return []

    # -- tracing -------------------------------------------------------------------------

    def _write(self, tool: str, args: dict, fn: Callable[[], dict]) -> dict:
        """`_run` for a side-effecting tool: first the `write_gate` (its wait is not the
        tool's latency)."""
        if self.write_gate is not None and not self.write_gate(tool):
            return self._run(tool, args, lambda: dict(_REFUSED))
        return self._run(tool, args, fn)

    def _run(self, tool: str, args: dict, fn: Callable[[], dict]) -> dict:
        t0 = time.perf_counter()
        try:
            result = fn()
            if not isinstance(result, dict):
                raise TypeError(f"{tool} returned {type(result).__name__}")
        except Exception as exc:  # noqa: BLE001 - tools never raise (seed 001 item 1)
            result = {
                "ok": False,
                "error": "validation_error",
                "message": (str(exc) or type(exc).__name__)[:120],
            }
        latency_ms = (time.perf_counter() - t0) * 1000.0
        if result.get("ok") and tool in ("create_appointment", "attach_phone"):
            result["confirmation"] = self.confirmation
        self._trace(tool, args, result, latency_ms)
        return result

    def _trace(
        self, tool: str, args: dict, result: dict, latency_ms: float, *, in_turn: bool = True
    ) -> None:
        """Record one tool call: `tool_traces`, `on_trace`, and (`in_turn`: made by the
        current turn's agent) `self.traces`."""
        try:
            snapshot = mask_args(args)
        except Exception:  # noqa: BLE001
            snapshot = {"unprintable": True}
        ok = bool(result.get("ok"))
        err = result.get("error")
        trace = ToolTrace(
            tool=tool,
            args=snapshot,
            ok=ok,
            error=str(err)[:64] if err is not None else None,
            latency_ms=round(latency_ms, 3),
            mark=mark_for(tool),
        )
        if in_turn:
            self.traces.append(trace)
        row = {
            "call_sid": self.call_sid,
            "business_id": self.policy.business_id,
            "tool": tool,
            "args_json": json.dumps(snapshot, ensure_ascii=False, default=str),
            "ok": ok,
            "error": trace.error,
            "latency_ms": trace.latency_ms,
        }
        try:
            if self.store_trace is not None:
                self.store_trace(row)  # stored with the call's record, off the turn
            else:
                with self.db.session() as s:
                    insert_traces(s, [row])
        except Exception:  # noqa: BLE001 - a trace must never break a tool call
            log.warning("could not store the %s trace", tool, exc_info=True)
        if self.on_trace is not None:
            try:
                self.on_trace(trace)
            except Exception:  # noqa: BLE001
                log.warning("on_trace callback failed for %s", tool, exc_info=True)
