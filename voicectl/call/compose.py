"""Per-call composition: everything one call needs, put together in one place.

The Twilio bridge (a new stream, or a stream resumed after a `<Gather>`), the simulator
and a future microphone transport all open a call the same way: `open_call(rt, spec,
transport, control)` loads the business policy once, restores the conversation a
previous stream of the same call left in the database (keyed by CallSid), builds the VAD,
STT stream, `CallSession`, `BookingTools`, `Conversation` and `CallRunner`, records the
call's start, and - when the stream ends - saves its record and conversation and, unless
the call goes on in a `<Gather>`, writes `call.ended` exactly once; then it releases the
call's live-stream row (`store/streams.py`), which a resumed stream waits for. Database
work runs off the event loop: reads in worker threads, call-record writes (at the start,
after every turn, at the end) on the process's `RecordWriter` thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from voicectl import executors
from voicectl.agent.base import Conversation
from voicectl.booking.phone import normalize_phone
from voicectl.call.commit import CommitGate
from voicectl.call.runner import BusinessClock, CallControl, CallRunner, Ending, Transport
from voicectl.call.session import CallSession
from voicectl.clock import MonotonicClock
from voicectl.logs import clip, get_logger
from voicectl.speech.stt.hints import service_hints
from voicectl.store import records
from voicectl.store.call_end import write_call_ended_in
from voicectl.store.call_state import SavedCall, save_call_state_in, take_call_state
from voicectl.store.streams import release_stream_in

_log = get_logger("call")


@dataclass
class CallSpec:
    """What the transport knows about a call when its stream starts.

    Attributes:
        call_sid, stream_sid: Twilio's ids (any unique strings for other transports).
        business_id: the business the call is for.
        caller_number: caller id in E.164, or None when withheld.
        from_number: the raw `From` (kept on the call row).
        now: start of the business clock (None = the real time in the business's zone).
        script: the simulator's transcripts (None = the configured recogniser).
        policy_overrides: `{field: value}` over the stored policy (scenarios).
        settings_overrides: per-call settings (e.g. `dtmf_mode` from a scenario).
    """

    call_sid: str
    stream_sid: str
    business_id: str
    caller_number: str | None = None
    from_number: str | None = None
    now: datetime | None = None
    script: list[Any] | None = None
    policy_overrides: dict[str, Any] = field(default_factory=dict)
    settings_overrides: dict[str, Any] = field(default_factory=dict)


def _load(rt: Any, spec: CallSpec) -> tuple[Any, SavedCall | None]:
    from voicectl.booking.policy import PolicyError, get_business_policy

    try:
        policy = get_business_policy(spec.business_id, db=rt.db)
    except ValueError as exc:
        fallback = rt.settings.business
        _log.warning(
            "unknown business %r for %s (%s); using %s", clip(spec.business_id, 64),
            spec.call_sid, clip(exc), fallback,
        )  # fmt: skip
        spec.business_id = fallback
        policy = get_business_policy(fallback, db=rt.db)
    # Overrides apply field by field: one that does not (an unknown field, a bad value)
    # is logged and ignored, never the end of the stream (issue 6 item 8).
    applied: dict[str, Any] = {}
    for key, value in spec.policy_overrides.items():
        try:
            policy = policy.with_overrides({key: value})
        except (PolicyError, TypeError, ValueError) as exc:
            _log.warning(
                "call %s: policy override %r ignored: %s", spec.call_sid, clip(key, 64), clip(exc)
            )
            continue
        applied[key] = value
    spec.policy_overrides = applied
    return policy, take_call_state(rt.db, spec.call_sid)


async def open_call(
    rt: Any, spec: CallSpec, transport: Transport, control: CallControl | None = None
) -> CallRunner:
    """Compose and start one call's stream; returns its running `CallRunner`.

    Args:
        rt: the process `Runtime` (db, agent, tts, STT factory, settings).
        spec: what the transport knows about the call.
        transport: where outbound audio, marks and clears go.
        control: hang-up / `<Gather>` through the telephony provider (None: none).
    """
    from voicectl.booking.tools import BookingTools

    policy, saved = await executors.run("db", _load, rt, spec)
    settings = rt.settings
    if spec.settings_overrides:
        settings = settings.model_copy(update=spec.settings_overrides)
    clock = MonotonicClock()
    business_now = BusinessClock(spec.now or datetime.now(policy.tz), clock)
    log_lines: list[tuple[str, str]] = []
    vad = rt.providers.new_vad()
    session = CallSession(
        clock=clock,
        settings=settings,
        vad=vad,
        open_stt=lambda cb: rt.open_stt(spec.script, cb, hints=service_hints(policy)),
        normalize_phone=normalize_phone,
        call_sid=spec.call_sid,
        stream_sid=spec.stream_sid,
        business_id=spec.business_id,
        caller_number=(saved.caller_number if saved else None) or spec.caller_number,
        log=lambda level, msg: log_lines.append((level, msg)),
        first_turn=saved.next_turn if saved else 0,
    )
    gate = CommitGate()
    trace_rows = records.TraceRows(rt.db)  # stored with the record, not one by one
    tools = BookingTools(
        rt.db,
        spec.business_id,
        business_now,
        call_sid=spec.call_sid,
        policy=policy,
        session=session,
        confirms_bookings=rt.flows.rules.confirms_bookings(spec.business_id),
        commit_gate=gate,
        store_trace=trace_rows.append,
    )
    conversation = Conversation(
        call_sid=spec.call_sid,
        business_id=spec.business_id,
        now=business_now(),
        caller=session,
        history=saved.history if saved else [],
        state=saved.agent_state if saved else {},
    )
    # The record is written as the call goes - at the start, after every turn, at the
    # end - by the process's one writer thread, never on the event loop (issue 6).
    rt.records.submit(
        records.snapshot(
            session, log_lines, owner=rt.owner, from_number=spec.from_number, started=True
        )
    )

    def on_turn(_r: CallRunner, _index: int) -> None:
        rt.records.submit(records.snapshot(session, log_lines, traces=trace_rows.take()))

    async def on_end(r: CallRunner, ending: Ending) -> None:
        status = "gather" if ending.ended_by is None else ending.outcome
        history, state = list(conversation.history), dict(conversation.state)
        next_turn = session.next_turn

        def after_record(s: Session) -> None:
            # In the final snapshot's transaction: the end of a call is one write.
            save_call_state_in(s, spec.call_sid, history, state, next_turn)
            if ending.ended_by is not None:
                write_call_ended_in(
                    s, spec.call_sid, outcome=ending.outcome, ended_by=ending.ended_by
                )
            # With it: a stream resumed after a <Gather> (in any process) waits for this.
            release_stream_in(s, spec.call_sid, spec.stream_sid)

        try:
            done = rt.records.submit(
                records.snapshot(
                    session,
                    log_lines,
                    ended=True,
                    end_status=status,
                    traces=trace_rows.close(),
                ),
                then=after_record,
            )
            await rt.records.wait(done, rt.settings.record_wait_sec)
        finally:
            if rt.active.get(spec.call_sid) is r:
                del rt.active[spec.call_sid]

    runner = CallRunner(
        session=session,
        transport=transport,
        agent=rt.agent,
        tts=rt.tts,
        tools=tools,
        conversation=conversation,
        business_now=business_now,
        send_queue_max_frames=settings.send_queue_max_frames,
        control=control,
        on_end=on_end,
        on_turn=on_turn,
        commit_gate=gate,
    )
    rt.active[spec.call_sid] = runner
    runner.start(session.begin(resume=saved.resume if saved else None))
    return runner
