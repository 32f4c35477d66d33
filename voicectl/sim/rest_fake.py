"""A loopback fake of Twilio's REST API - the part a voice bridge uses: `Calls` (TWILIO.md).

The server's real `twilio` client is pointed at it (`twilio_api_base_url`), so what is
tested is the library's own request: `POST /2010-04-01/Accounts/{AccountSid}/Calls/
{CallSid}.json` with a form body (`Status=completed`, or `Twiml=<Response>…`), HTTP Basic
auth with the account SID and auth token, and `GET` of the same resource. Answers follow
Twilio's shapes: the call resource as JSON; `{"code": 20404, "status": 404, …}` for a call
the account does not have or that is already over; `{"code": 20003, "status": 401}` for
bad credentials.

Every request is recorded (`requests`), so tests and `voicectl simulate` can assert what
the library sent. An update of a live call is handed to the call's `on_update` callback
(the emulator: close the stream, play the `<Gather>`, or hang up) on the emulator's loop.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

#: Largest form body accepted (TwiML of a Gather is well under 4 KB; Twilio caps at 4000).
MAX_BODY = 64 * 1024


@dataclass
class RestRequest:
    """One request the fake received: method, path, form fields, whether its Basic auth
    matched, and its User-Agent (the twilio library names itself there)."""

    method: str
    path: str
    form: dict[str, str]
    authorized: bool
    user_agent: str
    status: int = 0


@dataclass
class FakeCall:
    """A call the fake knows: its account, status, and who handles updates."""

    account_sid: str
    status: str = "in-progress"
    on_update: Callable[[dict[str, str]], None] | None = None
    loop: asyncio.AbstractEventLoop | None = None


@dataclass
class TwilioRestFake:
    """The fake API on 127.0.0.1 in a background thread; use as a context manager.

    Args:
        auth_token: the token Basic auth must carry (None = any).
        port: where to listen (0 = any free port).
    """

    auth_token: str | None = None
    port: int = 0
    host: str = "127.0.0.1"
    requests: list[RestRequest] = field(default_factory=list)
    calls: dict[str, FakeCall] = field(default_factory=dict)
    base_url: str = ""
    _server: Any = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ calls
    def register(
        self,
        call_sid: str,
        account_sid: str,
        on_update: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        """Make `call_sid` a live call of `account_sid`; `on_update(form)` is called on
        the caller's running event loop for each accepted update."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self.calls[call_sid] = FakeCall(account_sid, on_update=on_update, loop=loop)

    def end(self, call_sid: str, status: str = "completed") -> None:
        """The call ended on Twilio's side (e.g. the caller hung up)."""
        with self._lock:
            if call_sid in self.calls:
                self.calls[call_sid].status = status

    def requests_for(self, call_sid: str) -> list[RestRequest]:
        """Requests whose path names `call_sid`."""
        return [r for r in self.requests if f"/Calls/{call_sid}" in r.path]

    # ------------------------------------------------------------------ HTTP
    def _authorized(self, request: Request, account_sid: str) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return False
        return user == account_sid and (self.auth_token is None or password == self.auth_token)

    async def _call(self, request: Request) -> Response:
        account_sid = request.path_params["account_sid"]
        call_sid = request.path_params["call_sid"]
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, 21617, "Request entity too large")
        form: dict[str, str] = {}
        if request.method == "POST":
            form = {k: str(v) for k, v in (await request.form()).items()}
        rec = RestRequest(
            request.method,
            request.url.path,
            form,
            self._authorized(request, account_sid),
            request.headers.get("user-agent", ""),
        )
        self.requests.append(rec)
        response = self._answer(rec, account_sid, call_sid)
        rec.status = response.status_code
        return response

    def _answer(self, rec: RestRequest, account_sid: str, call_sid: str) -> Response:
        if not rec.authorized:
            return _error(401, 20003, "Authenticate")
        with self._lock:
            call = self.calls.get(call_sid)
            if call is None or call.account_sid != account_sid:
                return _not_found(rec.path)
            if rec.method == "POST":
                if call.status != "in-progress":
                    return _not_found(rec.path)  # the call is already over
                if rec.form.get("Status") == "completed":
                    call.status = "completed"
                elif "Twiml" not in rec.form and "Url" not in rec.form:
                    return _error(400, 21218, "Invalid update: need Status, Twiml or Url")
                if call.on_update is not None and call.loop is not None:
                    call.loop.call_soon_threadsafe(call.on_update, dict(rec.form))
            status = call.status
        return JSONResponse(
            {
                "sid": call_sid,
                "account_sid": account_sid,
                "status": status,
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json",
            }
        )

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> TwilioRestFake:
        import uvicorn

        app = Starlette(
            routes=[
                Route(
                    "/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json",
                    self._call,
                    methods=["GET", "POST"],
                )
            ]
        )
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.base_url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="twilio-rest-fake",
            daemon=True,
        )  # fmt: skip
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Twilio REST fake did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)


def loopback_port(base_url: str | None) -> int | None:
    """The port of an `http://127.0.0.1:<port>` (or localhost) URL, else None."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost") and parts.port:
        return parts.port
    return None


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def _not_found(path: str) -> JSONResponse:
    return _error(404, 20404, f"The requested resource {path} was not found")
