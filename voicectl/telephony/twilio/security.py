"""Request authentication: `X-Twilio-Signature` and the signed stream parameters.

Signatures are checked with the `twilio` library's `RequestValidator` (the algorithm and
test vector are in TWILIO.md). Behind a TLS-terminating proxy the URL the app sees is not
the one Twilio signed, so it is rebuilt from the configured public base URL.

The stream token is the second gate on `/media` (TWILIO.md: "a per-call token passed as
a `<Parameter>`"). Everything `/voice` (or the `<Gather>` action that returns a caller
to the stream) learned about the call travels to the stream's `start` as
`<Parameter>`s - caller, raw `From`, business, expiry, nonce - with `token`, an
HMAC-SHA256 over the CallSid and those fields, so any process holding the server's
stream key can take the stream (`voicectl serve --workers N`, N boxes). The nonce is
accepted once, by the database (`store/streams.py`; issue 6 item 7: no replay).

Stream key: derived from `TWILIO_AUTH_TOKEN` when set, else `VOICECTL_STREAM_SECRET`,
else a random one per `serve` (its workers inherit it). Twilio caps the `<Parameter>`s
of a `<Stream>` at about 500 characters of names and values in all (its `<Stream>`
TwiML reference); ours stay under `MAX_PARAM_CHARS`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
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


#: Characters of `<Parameter>` names and values we send at most (Twilio: ~500 in all).
MAX_PARAM_CHARS = 400
#: Longest value of each signed parameter (characters); longer ones are cut (`From`)
#: or refused (the rest: they are ours).
PARAM_LIMITS = {"caller": 32, "from": 64, "business": 64, "expires": 12, "nonce": 32}
TOKEN_CHARS = 64  # hex SHA-256


def stream_key(auth_token: str | None, stream_secret: str | None) -> bytes:
    """The key stream tokens are signed with: HMAC-SHA256("voicectl stream token", the
    Twilio auth token, else the configured stream secret); None of both -> a random key
    (one process, or one `serve` and its workers, which get it through the environment).
    """
    base = auth_token or stream_secret
    if not base:
        return secrets.token_bytes(32)
    return hmac.new(base.encode(), b"voicectl stream token v1", hashlib.sha256).digest()


def new_nonce() -> str:
    """A fresh token nonce: 32 hex characters."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class StreamGrant:
    """What `/voice` learned about a call, as its stream's `start` carries it back."""

    call_sid: str
    caller: str  # E.164 or "" (withheld)
    from_number: str  # the raw `From`, cut to PARAM_LIMITS["from"]
    business: str
    expires: int  # Unix time (s)
    nonce: str

    def _message(self) -> bytes:
        fields = [self.call_sid, self.caller, self.from_number, self.business]
        return json.dumps([*fields, self.expires, self.nonce]).encode()

    def sign(self, key: bytes) -> str:
        """The `token` parameter: hex HMAC-SHA256 of the CallSid and the fields."""
        return hmac.new(key, self._message(), hashlib.sha256).hexdigest()

    def parameters(self, key: bytes) -> dict[str, str]:
        """The `<Parameter>`s of the stream (name -> value), `token` included."""
        return {
            "caller": self.caller,
            "from": self.from_number,
            "business": self.business,
            "expires": str(self.expires),
            "nonce": self.nonce,
            TOKEN_PARAM: self.sign(key),
        }


def grant_for(
    call_sid: str, caller: str | None, from_number: str | None, business: str, ttl_s: float
) -> StreamGrant:
    """A new grant for `call_sid`, valid for `ttl_s` seconds (fresh nonce)."""
    return StreamGrant(
        call_sid=call_sid,
        caller=caller or "",
        from_number=(from_number or "")[: PARAM_LIMITS["from"]],
        business=business,
        expires=int(time.time() + ttl_s) + 1,
        nonce=new_nonce(),
    )


def verify_grant(
    key: bytes, call_sid: str, params: dict[str, str], now: float | None = None
) -> StreamGrant | None:
    """The grant a `start`'s `customParameters` carry for `call_sid`, if its `token`
    is our signature over them and it has not expired; None otherwise (any missing,
    oversized or malformed field, another call's token, a bad signature, expired)."""
    values = {}
    for name, limit in PARAM_LIMITS.items():
        value = params.get(name)
        if not isinstance(value, str) or len(value) > limit:
            return None
        values[name] = value
    token = params.get(TOKEN_PARAM)
    if not isinstance(token, str) or len(token) != TOKEN_CHARS or not values["expires"].isdigit():
        return None
    grant = StreamGrant(
        call_sid=call_sid,
        caller=values["caller"],
        from_number=values["from"],
        business=values["business"],
        expires=int(values["expires"]),
        nonce=values["nonce"],
    )
    if not hmac.compare_digest(grant.sign(key), token):
        return None
    if grant.expires <= (time.time() if now is None else now):
        return None
    return grant
