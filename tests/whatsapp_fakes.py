"""Loopback fakes of the two WhatsApp back ends the flows speak to, written from their
public wire formats:

- `FakeTwilioREST`: Twilio's Messages API - `POST /2010-04-01/Accounts/{AccountSid}/
  Messages.json`, form-encoded `From`, `To`, `Body`, HTTP basic auth `AccountSid:AuthToken`;
  answers 201 with a Message resource (`sid` "SM...", `status` "queued"), or Twilio's error
  JSON (`code`, `message`, `more_info`, `status`).
- `FakeBridge`: a Baileys-style HTTP bridge - `POST /send` JSON, `Authorization: Bearer`,
  de-duplicates by the `Idempotency-Key` header (a repeated key is answered 200 with the
  first message's id and not delivered again).

Both run a `ThreadingHTTPServer` on 127.0.0.1 (port 0) in a daemon thread.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class _Server:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = owner.handle(self.path, dict(self.headers.items()), body)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        raise NotImplementedError

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeTwilioREST(_Server):
    """Twilio's Messages API. `fail_with = [(http_status, twilio_code), ...]` answers the
    first requests with those errors; `messages` holds every accepted message."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.fail_with: list[tuple[int, int]] = []
        self.messages: list[dict[str, str]] = []

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        auth = headers.get("Authorization", "")
        with self.lock:
            self.requests.append({"path": path, "auth": auth, "form": form})
            expected = (
                "Basic "
                + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
            )
            if auth != expected:
                return 401, _twilio_error(20003, "Authenticate", 401)
            if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
                return 404, _twilio_error(20404, "The requested resource was not found", 404)
            if self.fail_with:
                status, code = self.fail_with.pop(0)
                return status, _twilio_error(code, "fake failure", status)
            for field in ("To", "From", "Body"):
                if not form.get(field):
                    return 400, _twilio_error(21604, f"A '{field}' parameter is required.", 400)
            sid = "SM" + uuid.uuid4().hex
            self.messages.append(form)
            return 201, {
                "sid": sid,
                "account_sid": self.account_sid,
                "from": form["From"],
                "to": form["To"],
                "body": form["Body"],
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            }


def _twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeBridge(_Server):
    """A WhatsApp HTTP bridge. `fail_first` requests get HTTP `fail_status`;
    `hold` (an Event) makes the bridge accept a message but not answer until it is set;
    `delivered` holds each message delivered (once per idempotency key)."""

    def __init__(self, token: str = "bridge-token") -> None:
        super().__init__()
        self.token = token
        self.fail_first = 0
        self.fail_status = 503
        self.hold: threading.Event | None = None
        self.received = threading.Event()
        self.delivered: list[dict[str, Any]] = []
        self._by_key: dict[str, str] = {}

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        with self.lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            if headers.get("Authorization") != f"Bearer {self.token}":
                return 401, {"error": "unauthorized"}
            if self.fail_first > 0:
                self.fail_first -= 1
                return self.fail_status, {"error": "bridge not connected to WhatsApp"}
            try:
                msg = json.loads(body)
            except ValueError:
                return 400, {"error": "not JSON"}
            key = headers.get("Idempotency-Key") or ""
            if key and key in self._by_key:
                return 200, {"id": self._by_key[key], "duplicate": True}
            mid = f"wa-{len(self.delivered) + 1}"
            self.delivered.append(msg)
            if key:
                self._by_key[key] = mid
            hold = self.hold
        self.received.set()
        if hold is not None:
            hold.wait(30)
        return 200, {"id": mid}
