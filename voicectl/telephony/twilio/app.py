"""The ASGI app of `voicectl serve` (DESIGN.md "Server contract").

Routes: `POST /voice` (incoming call -> `<Connect><Stream>`), `WS /media` (Media Streams),
`POST /webhook/dtmf_done` (`<Gather>` fallback), `POST /webhook/status` (call status),
`GET /healthz`, `GET /metrics` (Prometheus text), `GET /calls/{CallSid}` (the call's
record: turns, marks, tool calls, appointment, log).

Deny by default (issue 6): `/calls/{CallSid}` needs the bearer `admin_token`, and with none
configured it does not exist (404) unless the server runs for simulation
(`accept_sim_params`). The webhooks that change a call (`status`, `dtmf_done`) act only on
a call this server knows, and - like `/voice` and `/media` - only when signed once
`TWILIO_AUTH_TOKEN` is set; without it the server warns at start-up, and
`require_signatures` refuses to start. Webhook bodies are capped (`MAX_FORM_BYTES`,
`MAX_FORM_FIELDS`) and the fields kept are length-checked, so no request grows memory.
Beyond `max_concurrent_calls` (per box: this host's live streams and unused stream tokens
in the database, whichever process holds them), `/voice` answers a short Hebrew apology
and hangs up.

Any process may serve any request of a call (`voicectl serve --workers N`, N boxes on one
database): `/voice` hands what it learned to the stream in signed `<Parameter>`s, and
the `<Gather>` action and status callbacks find the call in the database
(`store/streams.py`, `store/call_state.py`, `store/call_end.py`). Every
`HOUSEKEEPING_S` each process renews its lease (`store/leases.py`), closes the calls of
processes on any box whose lease lapsed, releases live-stream rows it no longer
holds, and deletes expired booking holds (`store/holds.py`).

`create_app` is the only place the app is built, and it logs `APP_START {build, ts}`
exactly once per process (seed 002 H.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from voicectl import __version__, executors, memory
from voicectl.booking.phone import normalize_phone, usable_phone
from voicectl.config import Settings
from voicectl.flows.dispatcher import Dispatcher, FlowWorker
from voicectl.flows.messages import call_flows
from voicectl.logs import clip, get_logger, mask_phone
from voicectl.loop_lag import LoopLagMonitor
from voicectl.providers import metrics_lines as provider_metrics
from voicectl.runtime import Runtime
from voicectl.speech.tts.cache import PhraseCache
from voicectl.store import call_state, leases, records, streams
from voicectl.store import holds as booking_holds
from voicectl.store.call_end import ended_calls, write_call_ended
from voicectl.telephony.twilio import twiml
from voicectl.telephony.twilio.bridge import media_stream
from voicectl.telephony.twilio.security import grant_for, public_url, valid_signature

_log = get_logger("app")
#: Call statuses that end a call (TWILIO.md: status callback).
FINAL_STATUSES = ("completed", "busy", "failed", "no-answer", "canceled")
_app_started = False

#: Largest webhook body read (bytes). Twilio's form posts are well under 4 KB.
MAX_FORM_BYTES = 64 * 1024
#: Most form fields parsed from one webhook.
MAX_FORM_FIELDS = 200
#: Longest value kept of each field the server uses (characters).
FIELD_LIMITS = {
    "CallSid": 64,
    "From": 256,
    "To": 256,
    "Digits": 64,
    "CallStatus": 32,
    "AccountSid": 64,
}
_SID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: How often a process asks the database whether another process ended one of its live
#: calls (s). Twilio's final status callback follows the call's end, and its `stop`
#: usually reaches the stream first: this only bounds a lost `stop`.
ENDING_POLL_S = 2.0
#: Live calls asked about per poll (one `IN (...)` list).
ENDING_POLL_MAX = 500
#: How often a process does its database housekeeping (s): it renews its lease
#: (`store/leases.py`; this is its renewal period), closes the calls of processes whose
#: lease lapsed, and releases live-stream rows it no longer holds (a record write given
#: up), which then stop counting as live calls, and expired booking holds (`store/holds.py`).
HOUSEKEEPING_S = leases.LEASE_RENEW_S


class WebhookError(Exception):
    """A webhook request refused before it reaches its handler (status + text)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text

    def response(self) -> Response:
        # The body may be unread: close the connection rather than parse its rest as the
        # next request on a kept-alive connection.
        headers = {"Connection": "close"} if self.status == 413 else None
        return PlainTextResponse(self.text, status_code=self.status, headers=headers)


async def read_form(request: Request) -> FormData:
    """The webhook's form fields, read within `MAX_FORM_BYTES` / `MAX_FORM_FIELDS`.

    Raises:
        WebhookError: 413 body too large, 415 not form-encoded, 400 malformed or a used
            field (`FIELD_LIMITS`) too long or a CallSid that is not a Twilio SID.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", ""):
        raise WebhookError(415, "expected application/x-www-form-urlencoded")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise WebhookError(413, f"body larger than {MAX_FORM_BYTES} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise WebhookError(413, f"body larger than {MAX_FORM_BYTES} bytes")
    except ClientDisconnect:
        raise WebhookError(400, "client disconnected") from None
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"),
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:
        raise WebhookError(400, f"more than {MAX_FORM_FIELDS} form fields") from None
    form = FormData(pairs)
    for name, limit in FIELD_LIMITS.items():
        if any(len(v) > limit for v in form.getlist(name)):
            raise WebhookError(400, f"{name} longer than {limit} characters")
    sid = form.get("CallSid")
    if sid is not None and not _SID_RE.match(str(sid)):
        raise WebhookError(400, "CallSid is not a Twilio SID")
    return form


def check_startable(settings: Settings) -> None:
    """Refuse settings a server must not start with.

    Raises:
        ValueError: `require_signatures` without `twilio_auth_token`.
    """
    if settings.require_signatures and not settings.twilio_auth_token:
        raise ValueError(
            "require_signatures is set but TWILIO_AUTH_TOKEN is not: refusing to start "
            "a server that cannot authenticate Twilio's requests"
        )


def create_app(
    settings: Settings, runtime: Runtime | None = None, purpose: str = "serve"
) -> Starlette:
    """Build the app (once per process) around a `Runtime`.

    Args:
        settings: loaded settings.
        runtime: an existing runtime (tests, the in-process simulator); else one is built.
        purpose: "serve" or "simulate" (the in-process simulator's server).

    Raises:
        ProviderError: a configured provider is unknown or its extra is not installed.
        ValueError: `require_signatures` without `twilio_auth_token`.
    """
    global _app_started
    check_startable(settings)
    rt = runtime or Runtime(settings, purpose=purpose)
    started_ts = time.time()
    loop_lag = LoopLagMonitor()  # event-loop lag histogram in /metrics (bench --load)

    async def forbidden_unless_signed(request: Request) -> tuple[dict[str, str], Response | None]:
        """The request's form (last value per name) and None, or a refusal: see
        `read_form` (size and field limits), 403 for a missing or bad
        X-Twilio-Signature when an auth token is configured."""
        try:
            form = await read_form(request)
        except WebhookError as exc:
            return {}, exc.response()
        token = settings.twilio_auth_token
        if token:
            url = public_url(str(request.url), settings.public_url)
            if not valid_signature(token, url, form, request.headers.get("x-twilio-signature")):
                _log.warning("%s rejected: bad X-Twilio-Signature", request.url.path)
                return {}, PlainTextResponse("invalid signature", status_code=403)
        return {k: str(v) for k, v in form.items()}, None

    async def known_call(call_sid: str) -> bool:
        """Whether this server (any of its processes) answered `call_sid`: a call record,
        an issued stream token or a live stream in the database."""
        if call_sid in rt.active:
            return True
        return await executors.run("db", _known, call_sid)

    def _known(call_sid: str) -> bool:
        return records.call_exists(rt.db, call_sid) or bool(streams.token_business(rt.db, call_sid))

    async def _business_for(to: str | None) -> str:
        """The business a called number routes to (database first), else the default."""
        from voicectl.booking.policy import business_for_number

        if not to:
            return settings.business
        found = await executors.run("db", business_for_number, to, db=rt.db)
        return found or settings.business

    async def stream_twiml(
        request: Request,
        call_sid: str,
        *,
        caller: str | None,
        from_number: str | None,
        business: str,
        say: str | None = None,
        capped: bool = True,
    ) -> str | None:
        """`<Connect><Stream>` whose signed `<Parameter>`s carry what this request learned
        (`security.StreamGrant`), its token recorded as issued; None when the box is at
        `max_concurrent_calls` (`capped`) and this call is not already in flight."""
        grant = grant_for(call_sid, caller, from_number, business, settings.stream_token_ttl_sec)
        try:
            issued = await executors.run(
                "db",
                streams.issue_token,
                rt.db,
                nonce=grant.nonce,
                call_sid=call_sid,
                business_id=business,
                host=rt.host,
                ttl_s=settings.stream_token_ttl_sec,
                max_in_flight=settings.max_concurrent_calls if capped else None,
            )
        except SQLAlchemyError as exc:  # the token must be recorded to be usable
            _log.error("call %s: stream token not recorded: %s", call_sid, clip(exc))
            return None
        if not issued:
            _log.warning(
                "incoming call %s turned away: this box is at max_concurrent_calls (%d)",
                call_sid,
                settings.max_concurrent_calls,
            )
            return None
        media = public_url(str(request.url_for("media")), settings.public_url, websocket=True)
        return twiml.connect_stream(media, grant.parameters(rt.stream_key), say=say)

    async def call_webhook(request: Request) -> tuple[dict[str, str], str, Response | None]:
        """A Twilio webhook about one call: its form, its CallSid and None, or a refusal
        (`forbidden_unless_signed`'s, or 400 without a CallSid)."""
        form, denied = await forbidden_unless_signed(request)
        if denied:
            return {}, "", denied
        call_sid = form.get("CallSid", "")
        if not call_sid:
            return {}, "", PlainTextResponse("CallSid is required", status_code=400)
        return form, call_sid, None

    async def voice(request: Request) -> Response:
        form, call_sid, denied = await call_webhook(request)
        if denied:
            return denied
        to = form.get("To")
        business = await _business_for(to)
        caller = usable_phone(form.get("From"))
        answer = await stream_twiml(
            request, call_sid, caller=caller, from_number=form.get("From"), business=business
        )
        if answer is None:  # at the cap (or no database): a polite apology, not silence
            return Response(twiml.say_and_hang_up(twiml.BUSY_HE), media_type="application/xml")
        _log.info(
            "incoming call %s from %s to business %s",
            call_sid,
            mask_phone(caller) or "withheld",
            business,
        )
        return Response(answer, media_type="application/xml")

    async def dtmf_done(request: Request) -> Response:
        """`<Gather>` action: store the typed number on the call (in the database, keyed
        by CallSid) and send the caller back to a fresh stream of the same conversation
        (a new token; whichever process takes it waits for the old stream's save)."""
        form, call_sid, denied = await call_webhook(request)
        if denied:
            return denied
        digits = "".join(ch for ch in form.get("Digits", "") if ch.isdigit())[:32]
        number = normalize_phone(digits) if digits else None
        known = await executors.run(
            "db", call_state.gather_returned, rt.db, call_sid, digits, number
        )
        if not known:
            _log.warning("Gather result for unknown call %s ignored", call_sid)
            return PlainTextResponse("unknown call", status_code=404)
        if number:
            _log.info(
                "DTMF phone captured: %s, waiting_for_dtmf=false (Gather)", mask_phone(number)
            )
        elif digits:
            _log.info("Gather for %s: %d digits that are not a phone number", call_sid, len(digits))
        else:
            _log.info("Gather for %s: no input received", call_sid)
        business = await executors.run("db", records.call_business, rt.db, call_sid)
        answer = await stream_twiml(
            request,
            call_sid,
            caller=number or usable_phone(form.get("From")),
            from_number=form.get("From"),
            business=business or await _business_for(form.get("To")),
            say=None if digits else twiml.GATHER_NO_INPUT_HE,
            capped=False,  # the call is already counted: it is coming back
        )
        if answer is None:  # the database failed (logged); Twilio's fallback URL may act
            return PlainTextResponse("stream token not recorded", status_code=503)
        return Response(answer, media_type="application/xml")

    async def status(request: Request) -> Response:
        """Call status callback: a final status ends the call once. A stream live in this
        process is closed here; one live in another process (or box) learns of the
        ending from the database (`watch_endings`) and closes within a poll."""
        form, call_sid, denied = await call_webhook(request)
        if denied:
            return denied
        call_status = form.get("CallStatus", "")
        if not await known_call(call_sid):
            return PlainTextResponse(f"no call {call_sid}", status_code=404)
        if call_status in FINAL_STATUSES:
            runner = rt.active.get(call_sid)
            if runner is not None:
                await runner.finish(
                    f"call {call_status} (status callback)",
                    ended_by="status_callback",
                    outcome=call_status,
                )
            else:
                business = await executors.run("db", streams.token_business, rt.db, call_sid)
                await executors.run(
                    "db",
                    write_call_ended,
                    rt.db,
                    call_sid,
                    outcome=call_status,
                    ended_by="status_callback",
                    business_id=business,
                )
        else:
            await executors.run("db", records.mark_status, rt.db, call_sid, call_status)
        return Response(status_code=204)

    async def watch_endings() -> None:
        """Close this process's streams of calls another process ended (a status
        callback it took): one indexed query per `ENDING_POLL_S` while calls are live."""
        while True:
            await asyncio.sleep(ENDING_POLL_S)
            if not rt.active:
                continue
            sids = list(rt.active)[:ENDING_POLL_MAX]
            try:
                ended = await executors.run("db", ended_calls, rt.db, sids)
            except Exception as exc:  # noqa: BLE001 - a failed poll is retried next time
                _log.warning("ended-call poll failed: %r", exc)
                continue
            for sid, outcome in ended.items():
                runner = rt.active.get(sid)
                if runner is not None and not runner.finished:
                    await runner.finish(
                        f"call {outcome} (status callback to another process)",
                        ended_by="status_callback",
                        outcome=outcome,
                    )

    async def housekeeping() -> None:
        """Every `HOUSEKEEPING_S`: renew this process's lease; close the calls of
        processes (any box) whose lease lapsed; release this process's live-stream rows
        of calls it no longer holds (their record writer gave up the last write); delete
        expired booking holds (any process's: `store/holds.py`)."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            try:
                await executors.run("db", leases.renew, rt.db, rt.owner, rt.host)
                await executors.run("db", records.close_lost_owners, rt.db, rt.owner)
                freed = await executors.run(
                    "db", streams.release_orphans, rt.db, rt.owner, rt.holds
                )
                await executors.run("db", booking_holds.sweep_expired, rt.db)
            except Exception as exc:  # noqa: BLE001 - a failed sweep is retried next time
                _log.warning("housekeeping failed (retried in %.0f s): %r", HOUSEKEEPING_S, exc)
                continue
            for call_sid in freed:
                _log.warning(
                    "call %s: live-stream row released by the sweep (its last record write "
                    "was given up)",
                    call_sid,
                )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "build": __version__, "active_calls": len(rt.active)})

    async def metrics(_: Request) -> Response:
        lines = [
            "# HELP voicectl_active_calls Calls with an open media stream.",
            "# TYPE voicectl_active_calls gauge",
            f"voicectl_active_calls {len(rt.active)}",
            "# HELP voicectl_start_time_seconds Process start (APP_START), Unix time.",
            "# TYPE voicectl_start_time_seconds gauge",
            f"voicectl_start_time_seconds {started_ts:.3f}",
            "# HELP voicectl_process_pid The process that answered (serve --workers: each "
            "worker has its own metrics).",
            "# TYPE voicectl_process_pid gauge",
            f"voicectl_process_pid {os.getpid()}",
            *provider_metrics(),
            *loop_lag.prometheus_lines(),
            *memory.GcPauses.install().prometheus_lines(),
            *(rt.tts.prometheus_lines() if isinstance(rt.tts, PhraseCache) else ()),
        ]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    def admin_allowed(request: Request) -> bool | None:
        """True/False for a good/bad bearer; None when the route is off."""
        if settings.admin_token:
            given = request.headers.get("authorization", "")
            return hmac.compare_digest(given.encode(), f"Bearer {settings.admin_token}".encode())
        return True if settings.accept_sim_params else None

    async def call_record(request: Request) -> Response:
        allowed = admin_allowed(request)
        if allowed is None:
            return PlainTextResponse("Not Found", status_code=404)
        if not allowed:
            return PlainTextResponse("unauthorized", status_code=401)
        call_sid = request.path_params["call_sid"]
        if not _SID_RE.match(call_sid):
            return JSONResponse({"error": "not a CallSid"}, status_code=404)
        rec = await executors.run("db", records.load_record, rt.db, call_sid)
        if rec is None:
            return JSONResponse({"error": f"no call {call_sid}"}, status_code=404)
        rec["active"] = call_sid in rt.active or await executors.run(
            "db", streams.stream_is_live, rt.db, call_sid
        )
        rec["providers"] = dict(rt.providers.names)  # this process's: they served the call
        rec.update(await executors.run("db", call_flows, rt.db, call_sid))
        return JSONResponse(rec)

    async def media(ws: WebSocket) -> None:
        await media_stream(ws, rt)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        memory.limit_arenas()  # before the role pools start their threads
        rt.log_providers()
        await executors.run("tts", rt.warmup)
        lag_task = asyncio.create_task(loop_lag.run())
        endings_task = asyncio.create_task(watch_endings())
        try:  # the lease exists while this process serves (renewed by housekeeping)
            await executors.run("db", leases.renew, rt.db, rt.owner, rt.host)
        except Exception as exc:  # noqa: BLE001 - retried by housekeeping
            _log.warning("lease not taken (retried in %.0f s): %r", HOUSEKEEPING_S, exc)
        housekeeping_task = asyncio.create_task(housekeeping())
        trim_task = asyncio.create_task(memory.Trimmer().run())
        flows = FlowWorker(Dispatcher(rt.flows)) if settings.flows_worker else None
        if flows is not None:
            flows.start()  # after-call flows: its DB work runs in threads, off the audio path
        memory.GcPauses.install()  # full-collection pauses, in /metrics
        frozen = memory.freeze_startup_heap()  # last: full collections skip start-up state
        _log.info("start-up heap frozen: %d objects skipped by the garbage collector", frozen)
        yield
        lag_task.cancel()
        endings_task.cancel()
        housekeeping_task.cancel()
        trim_task.cancel()
        for runner in list(rt.active.values()):
            await runner.finish(
                "server shutting down", ended_by="disconnect", outcome="interrupted"
            )
        if flows is not None:
            await flows.stop()
        await executors.run("db", rt.records.close, settings.record_wait_sec)
        with contextlib.suppress(Exception):  # a clean stop: nothing left to judge
            await executors.run("db", leases.release, rt.db, rt.owner)

    app = Starlette(
        routes=[
            Route("/voice", voice, methods=["POST"]),
            WebSocketRoute("/media", media, name="media"),
            Route("/webhook/dtmf_done", dtmf_done, methods=["POST"]),
            Route("/webhook/status", status, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/calls/{call_sid}", call_record, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = rt
    if not _app_started:
        _app_started = True
        _log.info(
            "APP_START %s",
            json.dumps({"build": __version__, "ts": datetime.now(UTC).isoformat()}),
        )
    if purpose == "serve":  # the simulator's own loopback server is open on purpose
        for warning in security_warnings(settings):
            _log.warning(warning)
    return app


def security_warnings(settings: Settings) -> list[str]:
    """The start-up warnings about settings that leave the server open (issue 6)."""
    out = []
    if not settings.twilio_auth_token:
        out.append(
            "TWILIO_AUTH_TOKEN is not set: requests are NOT authenticated - anyone who can "
            "reach this server can place calls and change them (set it, and use "
            "--require-signatures in production)"
        )
    if settings.accept_sim_params:
        out.append(
            "accept_sim_params is on: callers' streams may set the business, clock and "
            "policy, and /calls/{CallSid} is open without VOICECTL_ADMIN_TOKEN - for "
            "simulation only"
        )
    return out
