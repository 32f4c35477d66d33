"""Shared plumbing of the Google Cloud providers (`stt: google`, `tts: google`, extra `google`).

One gRPC channel per client, created once per process by the provider that owns it
(SEEDS.md seed 002 A/F). Credentials are Application Default Credentials
(`GOOGLE_APPLICATION_CREDENTIALS` or the metadata server). `google_api_endpoint` points a
client elsewhere (a regional endpoint such as `eu-speech.googleapis.com`); a loopback
endpoint (`127.0.0.1:port`, `localhost:port` - an emulator or a test fake) is reached over
an insecure channel without credentials, the convention of Google's own emulators.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(endpoint: str | None) -> bool:
    """True for `127.0.0.1:port`, `localhost:port` or `[::1]:port`."""
    if not endpoint:
        return False
    host = urlsplit(f"//{endpoint}").hostname or ""
    return host in LOOPBACK_HOSTS or host == "::1"


def make_client(client_cls: type, transport_cls: type, endpoint: str | None) -> Any:
    """Build a Google API client: the default endpoint with ADC, `endpoint` with ADC, or a
    loopback endpoint over an insecure gRPC channel.

    Raises:
        google.auth.exceptions.DefaultCredentialsError: no credentials (non-loopback).
    """
    if is_loopback(endpoint):
        import grpc

        channel = grpc.insecure_channel(endpoint)
        return client_cls(transport=transport_cls(channel=channel))
    options = {"api_endpoint": endpoint} if endpoint else None
    return client_cls(client_options=options)
