"""Messengers: where a flow's WhatsApp message goes (`messenger:` setting).

- `outbox` (default, offline): records the message in `outbox_messages` - nothing leaves
  the machine; `voicectl flows list` shows it.
- `twilio_whatsapp`: Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`,
  `From`/`To` as `whatsapp:+E.164`, `Body`) through the `twilio` library, HTTP basic auth
  with the account SID and auth token. `twilio_api_base_url` redirects the library's
  requests (a proxy, or a loopback fake in tests), as for the REST calls of a live call.
- `http_bridge`: `POST` JSON `{channel, to, text, idempotency_key, business_id}` to
  `whatsapp_bridge_url` (e.g. a Baileys-style WhatsApp bridge) with
  `Authorization: Bearer <whatsapp_bridge_token>` and an `Idempotency-Key` header; connect
  and read timeouts bounded.

Every messenger gets the delivery's idempotency key with each attempt. The outbox and a
bridge that honours `Idempotency-Key` never deliver one key twice; Twilio's Messages API
takes no such key, so a process killed while Twilio is answering can send once more when
the lease runs out (documented in the README).

Errors: `send` raises `RetryableSendError` (timeouts, connection errors, HTTP 408/425/429
and 5xx - try again later) or `PermanentSendError` (any other rejection: bad number,
bad credentials - retrying cannot help).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from voicectl.store.flows import OutboxMessageRow

if TYPE_CHECKING:
    from voicectl.config import Settings
    from voicectl.store.db import Database

MESSENGERS = ("outbox", "twilio_whatsapp", "http_bridge")
_MAX_RESPONSE_BYTES = 64 * 1024
_RETRYABLE_HTTP = frozenset({408, 425, 429})


class SendError(Exception):
    """A message was not delivered."""


class RetryableSendError(SendError):
    """Delivery failed for a reason that may pass (timeout, 5xx, 429): retry later."""


class PermanentSendError(SendError):
    """The provider rejected the message for good (e.g. invalid number): do not retry."""


@dataclass(frozen=True)
class OutgoingMessage:
    """One WhatsApp message.

    Attributes:
        to: the recipient, E.164 (`+972501234567`).
        text: the body (UTF-8 Hebrew).
        idempotency_key: the delivery's key (`"<event id>:<handler>"`), same on every try.
        business_id: the business it is sent for.
    """

    to: str
    text: str
    idempotency_key: str
    business_id: str | None = None


class Messenger(Protocol):
    """Sends one message; returns the provider's id for it."""

    name: str

    def send(self, message: OutgoingMessage) -> str:
        """Deliver `message`.

        Raises:
            RetryableSendError, PermanentSendError.
        """
        ...


class OutboxMessenger:
    """Offline: write the message to `outbox_messages` (one row per idempotency key)."""

    name = "outbox"

    def __init__(self, db: Database) -> None:
        self._db = db

    def send(self, message: OutgoingMessage) -> str:
        """Record `message`; a key seen before returns the first row's id (no second row)."""
        try:
            with self._db.session() as s:
                row = OutboxMessageRow(
                    idempotency_key=message.idempotency_key,
                    channel="whatsapp",
                    to_addr=message.to,
                    text=message.text,
                )
                s.add(row)
                s.flush()
                return f"outbox-{row.id}"
        except IntegrityError:
            with self._db.session() as s:
                existing = s.scalar(
                    select(OutboxMessageRow.id).where(
                        OutboxMessageRow.idempotency_key == message.idempotency_key
                    )
                )
            if existing is None:
                raise
            return f"outbox-{existing}"


def whatsapp_address(number: str) -> str:
    """`+972501234567` -> `whatsapp:+972501234567` (Twilio's WhatsApp address form)."""
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


class TwilioWhatsAppMessenger:
    """Twilio Messages API over WhatsApp, through `twilio.rest.Client` (created once).

    Args:
        account_sid: `AC...`.
        auth_token: the account's auth token (HTTP basic auth password).
        from_number: the WhatsApp sender, E.164 or `whatsapp:+...`.
        api_base: the API's base URL instead of `https://api.twilio.com` (None = Twilio).
        timeout_s: per-request timeout in seconds.
    """

    name = "twilio_whatsapp"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        api_base: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self._from = whatsapp_address(from_number)
        self._client = Client(
            account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout_s)
        )
        if api_base:  # the library joins each request path onto the domain's base URL
            self._client.api.base_url = api_base.rstrip("/")

    def send(self, message: OutgoingMessage) -> str:
        """Create the message; returns its `SM...` sid."""
        from requests import RequestException
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            created = self._client.messages.create(
                from_=self._from, to=whatsapp_address(message.to), body=message.text
            )
        except TwilioRestException as exc:
            detail = f"Twilio {exc.status} error {exc.code}: {str(exc.msg)[:200]}"
            if exc.status in _RETRYABLE_HTTP or exc.status >= 500:
                raise RetryableSendError(detail) from None
            raise PermanentSendError(detail) from None
        except (RequestException, OSError) as exc:
            raise RetryableSendError(f"Twilio unreachable: {type(exc).__name__}") from None
        except TwilioException as exc:
            raise RetryableSendError(f"Twilio client error: {str(exc)[:200]}") from None
        return str(created.sid)


class HttpBridgeMessenger:
    """POST each message as JSON to a WhatsApp bridge (one `httpx.Client`, created once).

    Args:
        url: the bridge's send endpoint, `http(s)://...`.
        token: sent as `Authorization: Bearer <token>` (None = no header).
        timeout_s: read/write timeout in seconds; connecting gets at most 5 s.
    """

    name = "http_bridge"

    def __init__(self, url: str, token: str | None = None, *, timeout_s: float = 10.0) -> None:
        import httpx

        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"whatsapp_bridge_url: {url!r} is not an http(s) URL")
        self._url = url
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)), headers=headers
        )

    def send(self, message: OutgoingMessage) -> str:
        """POST the message; returns the bridge's `id` (or the idempotency key)."""
        import httpx

        body = {
            "channel": "whatsapp",
            "to": message.to,
            "text": message.text,
            "idempotency_key": message.idempotency_key,
            "business_id": message.business_id,
        }
        try:
            with self._http.stream(
                "POST",
                self._url,
                content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                headers={"Idempotency-Key": message.idempotency_key},
            ) as r:
                raw = b""
                for chunk in r.iter_bytes():
                    raw += chunk
                    if len(raw) > _MAX_RESPONSE_BYTES:
                        break
                status = r.status_code
        except httpx.HTTPError as exc:
            raise RetryableSendError(f"bridge unreachable: {type(exc).__name__}") from None
        text = raw[:200].decode("utf-8", "replace")
        if 200 <= status < 300:
            try:
                answer = json.loads(raw) if raw and len(raw) <= _MAX_RESPONSE_BYTES else {}
            except ValueError:
                answer = {}
            found = answer.get("id") if isinstance(answer, dict) else None
            return str(found)[:128] if found is not None else message.idempotency_key
        if status in _RETRYABLE_HTTP or status >= 500:
            raise RetryableSendError(f"bridge answered HTTP {status}: {text}")
        raise PermanentSendError(f"bridge answered HTTP {status}: {text}")

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()


def make_messenger(settings: Settings, db: Database) -> Messenger:
    """The messenger `settings.messenger` names, configured from the settings.

    Raises:
        ValueError: unknown messenger, or one whose settings are missing (names them).
    """
    kind = settings.messenger
    if kind == "outbox":
        return OutboxMessenger(db)
    if kind == "twilio_whatsapp":
        missing = [
            n
            for n, v in (
                ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
                ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
                ("VOICECTL_WHATSAPP_FROM", settings.whatsapp_from),
            )
            if not v
        ]
        if missing:
            raise ValueError(f"messenger=twilio_whatsapp needs {', '.join(missing)}")
        return TwilioWhatsAppMessenger(
            settings.twilio_account_sid or "",
            settings.twilio_auth_token or "",
            settings.whatsapp_from or "",
            api_base=settings.twilio_api_base_url,
            timeout_s=settings.twilio_rest_timeout_sec,
        )
    if kind == "http_bridge":
        if not settings.whatsapp_bridge_url:
            raise ValueError("messenger=http_bridge needs VOICECTL_WHATSAPP_BRIDGE_URL")
        return HttpBridgeMessenger(
            settings.whatsapp_bridge_url,
            settings.whatsapp_bridge_token,
            timeout_s=settings.whatsapp_bridge_timeout_sec,
        )
    raise ValueError(f"messenger={kind!r}: unknown (known: {', '.join(MESSENGERS)})")
