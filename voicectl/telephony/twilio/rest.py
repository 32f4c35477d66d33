"""Twilio REST `Calls` through the `twilio` library: hang up, move a live call to TwiML.

TWILIO.md: hanging up from the server is `Calls(CallSid).update(status="completed")`, and a
404 with code 20404 means the call already ended - not an error (DESIGN lessons, Pipecat
#728: closing the WebSocket alone does not end a call whose TwiML goes on). Moving a live
call from its stream to a `<Gather>` is `Calls(CallSid).update(twiml=…)`.

The client is created once per process (seed 002 A) and every request runs in a worker
thread with a bounded timeout, so a stalled Twilio never stops a call's audio. Tests and
the simulator point the real client at a loopback fake of the API with
`twilio_api_base_url` (the library joins each request path onto `client.api.base_url`).
"""

from __future__ import annotations

import asyncio

from voicectl import executors
from voicectl.config import Settings
from voicectl.logs import get_logger

_log = get_logger("twilio")

#: Twilio error code "The requested resource was not found" (the call is already over).
NOT_FOUND = 20404


class TwilioRest:
    """The process's Twilio REST client (credentials from the settings).

    Args:
        settings: `twilio_account_sid`, `twilio_auth_token`, `twilio_api_base_url`,
            `twilio_rest_timeout_sec`.

    `configured` is False without an account SID and auth token; every call then returns
    False at once (and says why in the log).
    """

    def __init__(self, settings: Settings) -> None:
        self.timeout_s = settings.twilio_rest_timeout_sec
        self.configured = bool(settings.twilio_account_sid and settings.twilio_auth_token)
        self._client = None
        if self.configured:
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client

            self._client = Client(
                settings.twilio_account_sid,
                settings.twilio_auth_token,
                http_client=TwilioHttpClient(timeout=self.timeout_s),
            )
            if settings.twilio_api_base_url:
                self._client.api.base_url = settings.twilio_api_base_url.rstrip("/")

    async def hang_up(self, call_sid: str) -> bool:
        """`Calls(call_sid).update(status="completed")`. True when the call is over
        (including 20404: it already was); False on any failure (logged)."""
        return await self._update(call_sid, "hang-up", status="completed")

    async def redirect(self, call_sid: str, twiml: str) -> bool:
        """`Calls(call_sid).update(twiml=twiml)`: replace what the call is executing (its
        stream ends). True on success; False on any failure, 20404 included (logged)."""
        return await self._update(call_sid, "TwiML update", twiml=twiml)

    async def _update(self, call_sid: str, what: str, **fields: str) -> bool:
        if self._client is None:
            _log.warning("REST %s of %s skipped: no Twilio credentials", what, call_sid)
            return False
        client = self._client

        def update() -> object:
            return client.calls(call_sid).update(**fields)

        try:
            await asyncio.wait_for(executors.run("control", update), self.timeout_s + 1)
        except Exception as exc:
            from twilio.base.exceptions import TwilioRestException

            if isinstance(exc, TwilioRestException) and exc.code == NOT_FOUND:
                if "status" in fields:
                    _log.info("REST hang-up of %s: already completed (20404)", call_sid)
                    return True
            _log.warning("REST %s of %s failed: %s", what, call_sid, _describe(exc))
            return False
        _log.info("REST %s of %s done", what, call_sid)
        return True


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", None)
    if code or status:
        return f"HTTP {status} code {code}: {str(getattr(exc, 'msg', exc))[:200]}"
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"
