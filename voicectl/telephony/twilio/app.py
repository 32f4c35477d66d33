"""The ASGI app of `voicectl serve` (DESIGN.md "Server contract").

Routes: `POST /voice` (incoming call -> `<Connect><Stream>`), `WS /media` (Media Streams),
`POST /webhook/dtmf_done` (`<Gather>` fallback), `POST /webhook/status` (call status),
`GET /healthz`, `GET /metrics` (Prometheus text), `GET /calls/{CallSid}` (the call's
record: turns, marks, tool calls, appointment, log; bearer `admin_token` when set).

`create_app` is the only place the app is built, and it logs `APP_START {build, ts}`
exactly once per process (seed 002 H.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from voicectl import __version__
from voicectl.booking.phone import normalize_phone, usable_phone
from voicectl.config import Settings
from voicectl.flows.dispatcher import Dispatcher, FlowWorker
from voicectl.flows.messages import call_flows
from voicectl.logs import get_logger, mask_phone
from voicectl.providers import metrics_lines as provider_metrics
from voicectl.runtime import PendingCall, Runtime
from voicectl.store import records
from voicectl.telephony.twilio import twiml
from voicectl.telephony.twilio.bridge import media_stream
from voicectl.telephony.twilio.security import (
    TOKEN_PARAM,
    public_url,
    stream_token,
    valid_signature,
)

_log = get_logger("app")
_app_started = False


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
    """
    global _app_started
    rt = runtime or Runtime(settings, purpose=purpose)
    started_ts = time.time()

    async def forbidden_unless_signed(request: Request) -> tuple[dict[str, str], Response | None]:
        form = {k: str(v) for k, v in (await request.form()).items()}
        token = settings.twilio_auth_token
        if token:
            url = public_url(str(request.url), settings.public_url)
            if not valid_signature(token, url, form, request.headers.get("x-twilio-signature")):
                _log.warning("%s rejected: bad X-Twilio-Signature", request.url.path)
                return form, PlainTextResponse("invalid signature", status_code=403)
        return form, None

    async def _business_for(to: str | None) -> str:
        """The business a called number routes to (database first), else the default."""
        from voicectl.booking.policy import business_for_number

        if not to:
            return settings.business
        found = await asyncio.to_thread(business_for_number, to, db=rt.db)
        return found or settings.business

    def stream_twiml(request: Request, call_sid: str, caller: str | None) -> str:
        media = public_url(str(request.url_for("media")), settings.public_url, websocket=True)
        params = {TOKEN_PARAM: stream_token(rt.secret, call_sid), "caller": caller or ""}
        return twiml.connect_stream(media, params)

    async def voice(request: Request) -> Response:
        form, denied = await forbidden_unless_signed(request)
        if denied:
            return denied
        call_sid = form.get("CallSid", "")
        if not call_sid:
            return PlainTextResponse("CallSid is required", status_code=400)
        to = form.get("To")
        business = await _business_for(to)
        caller = usable_phone(form.get("From"))
        rt.remember(
            PendingCall(
                call_sid=call_sid,
                from_number=form.get("From"),
                to_number=to,
                caller_number=caller,
                business_id=business,
            )
        )
        _log.info(
            "incoming call %s from %s to business %s",
            call_sid,
            mask_phone(caller) or "withheld",
            business,
        )
        return Response(stream_twiml(request, call_sid, caller), media_type="application/xml")

    async def dtmf_done(request: Request) -> Response:
        form, denied = await forbidden_unless_signed(request)
        if denied:
            return denied
        call_sid = form.get("CallSid", "")
        number = normalize_phone(form.get("Digits", ""))
        runner = rt.active.get(call_sid)
        if number:
            if runner is not None:
                runner.session.caller_number = number
            pending = rt.pending.get(call_sid)
            if pending is not None:
                pending.caller_number = number
            else:
                rt.remember(
                    PendingCall(
                        call_sid,
                        form.get("From"),
                        form.get("To"),
                        number,
                        await _business_for(form.get("To")),
                        gather_digits=form.get("Digits"),
                    )
                )
            _log.info("DTMF phone captured: %s, waiting_for_dtmf=false (Gather)", number)
        else:
            _log.info("Gather for %s returned no usable number", call_sid)
        caller = number or usable_phone(form.get("From"))
        return Response(stream_twiml(request, call_sid, caller), media_type="application/xml")

    async def status(request: Request) -> Response:
        form, denied = await forbidden_unless_signed(request)
        if denied:
            return denied
        call_sid, call_status = form.get("CallSid", ""), form.get("CallStatus", "")
        runner = rt.active.get(call_sid)
        if runner is not None and call_status in ("completed", "canceled", "failed"):
            await runner.finish(f"call {call_status}")
        await asyncio.to_thread(records.mark_status, rt.db, call_sid, call_status)
        return Response(status_code=204)

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
            *provider_metrics(),
        ]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    async def call_record(request: Request) -> Response:
        if settings.admin_token and request.headers.get("authorization") != (
            f"Bearer {settings.admin_token}"
        ):
            return PlainTextResponse("unauthorized", status_code=401)
        call_sid = request.path_params["call_sid"]
        rec = await asyncio.to_thread(records.load_record, rt.db, call_sid)
        if rec is None:
            return JSONResponse({"error": f"no call {call_sid}"}, status_code=404)
        rec["active"] = call_sid in rt.active
        rec["providers"] = dict(rt.providers.names)  # this process's: they served the call
        rec.update(await asyncio.to_thread(call_flows, rt.db, call_sid))
        return JSONResponse(rec)

    async def media(ws: WebSocket) -> None:
        await media_stream(ws, rt)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        rt.log_providers()
        await asyncio.to_thread(rt.warmup)
        flows = FlowWorker(Dispatcher(rt.flows)) if settings.flows_worker else None
        if flows is not None:
            flows.start()  # after-call flows: its DB work runs in threads, off the audio path
        yield
        for runner in list(rt.active.values()):
            await runner.finish("server shutting down")
        if flows is not None:
            await flows.stop()

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
    return app
