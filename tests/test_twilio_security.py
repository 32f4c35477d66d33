"""Signatures (Twilio's public test vector) and per-call stream tokens."""

from __future__ import annotations

from voicectl.telephony.twilio.security import (
    MAX_PARAM_CHARS,
    grant_for,
    public_url,
    stream_key,
    valid_signature,
    verify_grant,
)

VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"


def test_twilio_test_vector() -> None:
    assert valid_signature("12345", VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not valid_signature("12345", VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8X")
    assert not valid_signature("54321", VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not valid_signature("12345", VECTOR_URL, VECTOR_PARAMS, None)


def test_public_url_rebuilds_what_twilio_signed_behind_a_proxy() -> None:
    seen = "http://10.0.0.5:8080/voice?x=1"
    assert public_url(seen, "https://voice.example.com") == "https://voice.example.com/voice?x=1"
    assert public_url("http://h:1/media", None, websocket=True) == "ws://h:1/media"
    assert (
        public_url("http://h/media", "https://v.example", websocket=True) == "wss://v.example/media"
    )


def test_stream_parameters_are_signed_for_one_call_and_expire() -> None:
    key = stream_key(None, "shared-secret")
    grant = grant_for("CA1", "+972501234567", "+972501234567", "demo-spa", ttl_s=60)
    params = grant.parameters(key)
    assert grant_for("CA1", None, None, "demo-spa", 60).nonce != grant.nonce
    # Any process with the same key verifies it (workers, boxes sharing the secret).
    assert verify_grant(stream_key(None, "shared-secret"), "CA1", params) == grant
    assert verify_grant(stream_key(None, "other"), "CA1", params) is None
    assert verify_grant(stream_key(None, None), "CA1", params) is None  # a random key
    assert verify_grant(key, "CA2", params) is None  # another call's token
    for name, value in (("caller", "+972509999999"), ("business", "demo-clinic"),
                        ("expires", str(grant.expires + 999)), ("nonce", "0" * 32)):  # fmt: skip
        assert verify_grant(key, "CA1", {**params, name: value}) is None, name
    assert verify_grant(key, "CA1", {**params, "from": "x" * 1000}) is None  # oversized
    assert verify_grant(key, "CA1", {k: v for k, v in params.items() if k != "token"}) is None
    assert verify_grant(key, "CA1", params, now=grant.expires) is None  # expired
    # The Twilio auth token, when set, is what the key derives from.
    assert stream_key("tw", "shared-secret") == stream_key("tw", None) != key
    assert sum(len(k) + len(v) for k, v in params.items()) <= MAX_PARAM_CHARS
