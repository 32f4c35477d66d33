"""A bare Twilio stand-in for tests that need to send what the emulator never would:
`POST /voice`, then raw Media Streams messages over a real loopback WebSocket."""

from __future__ import annotations

import asyncio
import base64
import json
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import websockets

SILENCE = b"\xff" * 160  # one 20 ms frame of μ-law silence


def voice(base: str, call_sid: str, **extra: str) -> httpx.Response:
    """POST /voice like Twilio (unsigned)."""
    form = {"CallSid": call_sid, "From": "+972501234567", "To": "+97233000000", **extra}
    return httpx.post(f"{base}/voice", data=form)


def stream_of(twiml: str) -> tuple[str, dict[str, str]]:
    """The `<Stream url>` and its `<Parameter>`s from `<Connect><Stream>` TwiML."""
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None, twiml
    return stream.get("url", ""), {p.get("name", ""): p.get("value", "") for p in stream}


def start_msg(call_sid: str, stream_sid: str, params: dict[str, str]) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": stream_sid,
            "start": {
                "streamSid": stream_sid,
                "callSid": call_sid,
                "accountSid": "AC1",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": params,
            },
        }
    )


def media_msg(stream_sid: str, ts_ms: int, payload: bytes = SILENCE) -> str:
    return json.dumps(
        {
            "event": "media",
            "streamSid": stream_sid,
            "media": {
                "track": "inbound",
                "chunk": str(ts_ms // 20 + 1),
                "timestamp": str(ts_ms),
                "payload": base64.b64encode(payload).decode(),
            },
        }
    )


def stop_msg(call_sid: str, stream_sid: str) -> str:
    return json.dumps(
        {
            "event": "stop",
            "streamSid": stream_sid,
            "stop": {"accountSid": "AC1", "callSid": call_sid},
        }
    )


class RawCall:
    """One call: `/voice`, then a WebSocket that sends `start` and echoes marks.

    Args:
        base: the server's http://host:port.
        call_sid: the call's CallSid.
        params: extra customParameters to add to the ones `/voice` gave.
        stream_sid: the stream's streamSid (default "MZ" + the CallSid's rest).
    """

    def __init__(
        self,
        base: str,
        call_sid: str,
        params: dict[str, str] | None = None,
        stream_sid: str | None = None,
    ) -> None:
        self.base = base
        self.call_sid = call_sid
        self.stream_sid = stream_sid or "MZ" + call_sid[2:]
        r = voice(base, call_sid)
        assert r.status_code == 200, r.text
        self.url, self.params = stream_of(r.text)
        self.params.update(params or {})
        self.ws: Any = None
        self.received: list[dict[str, Any]] = []
        self.ts = 0

    async def __aenter__(self) -> RawCall:
        self.ws = await websockets.connect(self.url, max_size=2**24)
        await self.ws.send(start_msg(self.call_sid, self.stream_sid, self.params))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def until_mark(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Receive until the bot's next mark, echo it (its audio 'played'), return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), deadline - loop.time()))
            self.received.append(msg)
            if msg["event"] == "mark":
                await self.ws.send(
                    json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": msg["mark"]})
                )
                return msg

    async def silence(self, frames: int) -> None:
        """Send `frames` frames of silence at the stream's next timestamps (no pacing)."""
        for _ in range(frames):
            await self.ws.send(media_msg(self.stream_sid, self.ts))
            self.ts += 20

    async def dtmf(self, keys: str) -> None:
        for key in keys:
            await self.ws.send(
                json.dumps(
                    {
                        "event": "dtmf",
                        "streamSid": self.stream_sid,
                        "dtmf": {"track": "inbound_track", "digit": key},
                    }
                )
            )

    async def stop(self) -> None:
        await self.ws.send(stop_msg(self.call_sid, self.stream_sid))


def record(base: str, call_sid: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{base}/calls/{call_sid}", headers=headers)


async def wait_record(base: str, call_sid: str, pred: Any, timeout_s: float = 15.0) -> dict:
    """Poll GET /calls/{sid} until `pred(record)` holds; the last record either way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    rec: dict = {}
    while loop.time() < deadline:
        r = await asyncio.to_thread(record, base, call_sid)
        if r.status_code == 200:
            rec = r.json()
            if pred(rec):
                return rec
        await asyncio.sleep(0.1)
    return rec
