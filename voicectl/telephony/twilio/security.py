"""Request authentication: `X-Twilio-Signature` and the per-call stream token.

Signatures are checked with the `twilio` library's `RequestValidator` (the algorithm and
test vector are in TWILIO.md). Behind a TLS-terminating proxy the URL the app sees is not
the one Twilio signed, so it is rebuilt from the configured public base URL. The stream
token is the second gate on `/media`: a random value handed out in the TwiML of `/voice`
(or of a `<Gather>` action that returns the caller to the stream) as a `<Parameter>`,
kept with the pending call, and accepted once, by the `start` of that call's next stream
(TWILIO.md: "a per-call token passed as a `<Parameter>`"; issue 6 item 7: no replay).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit, urlunsplit

from twilio.request_validator import RequestValidator

TOKEN_PARAM = "token"


def public_url(request_url: str, public_base: str | None, websocket: bool = False) -> str:
    """The URL Twilio used: `request_url` with scheme and host taken from `public_base`.

    Args:
        request_url: the URL as the app received it.
        public_base: e.g. `https://voice.example.com` (None = trust `request_url`).
        websocket: map http(s) to ws(s) for the Media Streams upgrade request.
    """
    parts = urlsplit(request_url)
    if public_base:
        base = urlsplit(public_base)
        parts = parts._replace(scheme=base.scheme, netloc=base.netloc)
    if websocket:
        parts = parts._replace(
            scheme={"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
        )
    return urlunsplit(parts)


def valid_signature(
    auth_token: str, url: str, params: dict[str, str], signature: str | None
) -> bool:
    """True if `signature` is Twilio's HMAC-SHA1 of `url` + sorted `params`."""
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def stream_token() -> str:
    """A fresh stream token for `<Parameter name="token">`: 32 hex characters."""
    return secrets.token_hex(16)


def valid_stream_token(expected: str | None, token: str | None) -> bool:
    """Constant-time check of the token a `start` carries against the one issued."""
    return bool(expected) and bool(token) and hmac.compare_digest(expected or "", token or "")
