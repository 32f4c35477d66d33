"""Signatures (Twilio's public test vector) and per-call stream tokens."""

from __future__ import annotations

from voicectl.telephony.twilio.security import (
    public_url,
    stream_token,
    valid_signature,
    valid_stream_token,
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


def test_stream_tokens_are_fresh_and_checked_exactly() -> None:
    token = stream_token()
    assert len(token) == 32 and token != stream_token()
    assert valid_stream_token(token, token)
    assert not valid_stream_token(token, stream_token())
    assert not valid_stream_token(token, None)
    assert not valid_stream_token(None, token)
