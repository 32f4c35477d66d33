"""The Twilio emulator: plays Twilio's side of one call against a voicectl server.

It does what Twilio does (TWILIO.md): POSTs the incoming-call webhook, reads the
`<Connect><Stream>` TwiML, opens the WebSocket, sends `connected` then `start` (with the
TwiML `<Parameter>`s as `customParameters`), streams caller `media` in real time - 20 ms,
160 μ-law bytes, `sequenceNumber`/`chunk`/`timestamp` as strings, silence between
utterances as a phone line does - sends `dtmf` per key and `stop` at hang-up.

It models Twilio's playback buffer (`voicectl.sim.playback.PlaybackBuffer`): received
audio plays at real time, a `mark` is echoed only when the audio before it has played,
`clear` drops unplayed audio and echoes pending marks at once. It also checks the server's
side of the protocol (JSON text only, known events, the right `streamSid`, 160-byte
payloads) and reports each violation.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import orjson
from websockets.exceptions import WebSocketException

from voicectl.audio.frames import FRAME_BYTES, FRAME_MS
from voicectl.audio.g711 import ulaw_decode, ulaw_encode
from voicectl.call.session import turn_of_mark
from voicectl.pacing import REANCHOR_S, FrameTicker
from voicectl.sim.playback import PlaybackBuffer
from voicectl.sim.rest_fake import TwilioRestFake
from voicectl.sim.scenario import Scenario
from voicectl.sim.wsclient import MediaSocket
from voicectl.speech.stt.script import SCRIPT_PARAM, ScriptLine, encode_script
from voicectl.telephony.twilio.security import public_url
from voicectl.telephony.twilio.twiml import HE_LANGUAGE

SILENCE = b"\xff" * FRAME_BYTES
_SILENCE_B64 = base64.b64encode(SILENCE).decode("ascii")
_FRAME_S = FRAME_MS / 1000
#: RMS (int16) above which a caller frame counts as voiced, for caller-side marks only.
VOICED_RMS = 300.0


@dataclass
class CallerAudio:
    """One utterance prepared before the call: μ-law frames (and their base64, encoded
    once here rather than at every send), its first and last voiced frame."""

    frames: list[bytes]
    first_voiced: int
    last_voiced: int
    payloads: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.payloads = [base64.b64encode(f).decode("ascii") for f in self.frames]


def prepare_utterance(pcm8k: np.ndarray) -> CallerAudio:
    """Cut 8 kHz int16 PCM into 160-byte μ-law frames; find its first/last voiced frame."""
    pad = (-len(pcm8k)) % 160
    pcm = np.concatenate([pcm8k.astype(np.int16), np.zeros(pad, np.int16)])
    frames = [ulaw_encode(pcm[i : i + 160]) for i in range(0, len(pcm), 160)]
    rms = [
        float(np.sqrt(np.mean(pcm[i : i + 160].astype(np.float64) ** 2)))
        for i in range(0, len(pcm), 160)
    ]
    voiced = [i for i, r in enumerate(rms) if r > VOICED_RMS] or [0]
    return CallerAudio(frames, voiced[0], voiced[-1])


@dataclass
class Echo:
    """A mark Twilio echoed: its name, when (s, emulator clock), and whether by `clear`."""

    name: str
    at: float
    cleared: bool


@dataclass
class EmulatorResult:
    """What the caller side saw.

    Attributes:
        call_sid: the CallSid it used.
        caller_marks: per `say` step in order: {"V2V_MS": ..} or {"BARGE_IN_STOP_MS": ..}.
        expect_turns: per `expect_bot` step: the bot turn index whose playback it waited for
            (None = timed out), with that step's `text_contains`.
        failures: step failures (timeouts, the server hanging up early).
        protocol_errors: server messages Twilio would reject (error code + detail).
        caller_pcm, bot_pcm: the call as heard (8 kHz int16), caller and bot.
        hung_up_by_server: the server closed the stream.
        playback: the caller's playback buffer (audio gaps and bot lead, see its module).
        send_lateness_ms: per caller frame sent, how late it left against its 20 ms
            schedule (ms): the emulator's own health, so a slow client is not blamed on
            the server.
        streams: media streams the call had (more than one after a `<Gather>`).
        gather_says: every `<Say>` Twilio spoke outside the stream (Gather prompt, "no
            input received"), in order.
        twiml_errors: TwiML Twilio would reject or fail on (e.g. a relative action URL
            sent through REST, a `<Say>` without a valid he-IL voice).
        rest_requests: the requests the server's `twilio` client made to the REST fake.
        status_callbacks: (CallStatus, HTTP status) of each status callback posted.
    """

    call_sid: str
    caller_marks: list[dict[str, float]] = field(default_factory=list)
    expect_turns: list[tuple[int | None, list[str]]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    caller_pcm: np.ndarray | None = None
    bot_pcm: np.ndarray | None = None
    hung_up_by_server: bool = False
    playback: PlaybackBuffer = field(default_factory=PlaybackBuffer)
    send_lateness_ms: list[float] = field(default_factory=list)
    streams: int = 0
    gather_says: list[str] = field(default_factory=list)
    twiml_errors: list[str] = field(default_factory=list)
    rest_requests: list[Any] = field(default_factory=list)
    status_callbacks: list[tuple[str, int]] = field(default_factory=list)


def http_base_of(media_url: str) -> str:
    """`ws://h:p/media` -> `http://h:p` (the same server's webhooks)."""
    parts = urlsplit(media_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


class TwilioEmulator:
    """Runs one scenario's call. See the module docstring.

    Args:
        scenario: the validated scenario.
        utterances: prepared caller audio, one per `say` step, in order.
        http_base: the server's base URL, e.g. `http://127.0.0.1:8080`.
        auth_token: sign webhooks and the upgrade request like Twilio (None = unsigned).
        media_url: connect here instead of the TwiML's `<Stream url>` (e.g. via a tunnel).
        rest: the loopback fake of Twilio's REST API the server's `twilio` client uses;
            the call is registered there, and its updates are played (hang-up, `<Gather>`).
        account_sid: the account the server's REST client uses (default: a random one).
        record: keep the call as heard (`caller_pcm`, `bot_pcm`); the load generator turns
            it off to spare memory and CPU.
        http: an HTTP client to reuse for the webhooks (the load generator shares one per
            process: building a client costs tens of ms of CPU); None = one per call.
    """

    def __init__(
        self,
        scenario: Scenario,
        utterances: list[CallerAudio],
        http_base: str,
        auth_token: str | None = None,
        media_url: str | None = None,
        rest: TwilioRestFake | None = None,
        account_sid: str | None = None,
        record: bool = True,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.sc = scenario
        self.rest = rest
        self.utterances = utterances
        self.http_base = http_base.rstrip("/")
        self.auth_token = auth_token
        self.media_url = media_url
        self.record = record
        self.http = http
        self.call_sid = "CA" + secrets.token_hex(16)
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.res = EmulatorResult(self.call_sid)
        self._seq = 0
        self._chunk = 0
        # caller frames waiting to be sent: (μ-law, its base64)
        self._outgoing: deque[tuple[bytes, str]] = deque()
        self._playback = self.res.playback
        self._echoes: list[Echo] = []
        self._echo_event = asyncio.Event()
        self._consumed = 0
        self._t0 = 0.0
        self._caller_track: list[tuple[int, bytes]] = []
        self._bot_track: list[tuple[int, bytes]] = []
        self._v2v_waiters: list[tuple[dict[str, float], float]] = []
        # chunk -> called with the time it was sent (emulator clock), once
        self._on_sent: dict[int, list[Callable[[float], None]]] = {}
        # when the next caller frame is due (emulator clock; None: the stream's first)
        self._next_frame_at: float | None = None
        self._clear_at: float | None = None
        self._ws: Any = None
        self._closed = asyncio.Event()  # the current media stream is closed
        self._call_over = asyncio.Event()  # the whole call is over
        self._frame_tick = asyncio.Event()  # set when a watched caller frame is sent
        self._mark_arrived = asyncio.Event()  # wakes the playback loop
        self._handoff: str | None = None  # TwiML a REST update replaced the stream with
        self._gather_open = asyncio.Event()
        self._gather_keys: asyncio.Queue[str] = asyncio.Queue()
        self._leg_chunk0 = 0  # chunks sent before the current stream (numbering restarts)
        self._says_sent = 0  # say steps whose audio has been sent in full
        self._status_seq = 0

    # ------------------------------------------------------------------ helpers
    def _now(self) -> float:
        return time.monotonic()

    def _tick_index(self) -> int:
        return int(round((self._now() - self._t0) * 1000 / FRAME_MS))

    def _send(self, msg: dict[str, Any]) -> None:
        """Send one message now (dropped once the stream is closed, as Twilio's would be)."""
        if self._closed.is_set() or self._ws is None:
            return
        self._ws.send_text(orjson.dumps(msg).decode())

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    def _sign(self, url: str, params: dict[str, str]) -> dict[str, str]:
        if not self.auth_token:
            return {}
        from twilio.request_validator import RequestValidator

        sig = RequestValidator(self.auth_token).compute_signature(url, params)
        return {"X-Twilio-Signature": sig}

    # ------------------------------------------------------------------ the call
    async def run(self) -> EmulatorResult:
        """Place the call, run every step, hang up; never raises for server misbehaviour."""
        stream_url, params = await self._incoming_call()
        if self.rest is not None:
            self.rest.register(self.call_sid, self.account_sid, self._on_rest_update)
        self._t0 = self._now()
        legs = asyncio.create_task(self._legs(stream_url, params))
        try:
            await self._run_steps()
        finally:
            self._advance_playback()  # what had played by the hang-up was heard
            await self._hangup()
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(legs, 15)
            legs.cancel()
            await self._status_callback("completed")
            if self.rest is not None:
                self.rest.end(self.call_sid)
                self.res.rest_requests = self.rest.requests_for(self.call_sid)
        if self.record:
            self._build_recording()
        return self.res

    async def _legs(self, url: str, params: dict[str, str]) -> None:
        """The call's media streams: one, or one per return from a `<Gather>`."""
        try:
            while not self._call_over.is_set():
                await self._stream_leg(self.media_url or url, params)
                twiml, self._handoff = self._handoff, None
                if twiml is None or self._call_over.is_set():
                    break
                nxt = await self._play_twiml(twiml)
                if nxt is None:
                    break
                url, params = nxt
        finally:
            self._call_over.set()
            self._echo_event.set()
            self._frame_tick.set()

    async def _stream_leg(self, url: str, params: dict[str, str]) -> None:
        headers = self._sign(public_url(url, None, websocket=True), {})
        try:
            # No permessage-deflate offer: Twilio documents no WebSocket compression, and
            # base64 μ-law hardly compresses (zlib per 20 ms frame only burns CPU).
            ws = await MediaSocket.connect(
                url, self._on_server_message, headers=headers, max_size=2**22
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            self.res.failures.append(f"media stream {url}: {exc.__class__.__name__}: {exc}")
            self._call_over.set()
            return
        self._ws = ws
        self._closed.clear()
        if self.res.streams:  # a new stream: new streamSid, numbering restarts
            self.stream_sid = "MZ" + secrets.token_hex(16)
            self._seq = 0
            self._leg_chunk0 = self._chunk
            self._playback.clear(self._now())  # the old stream's audio is gone
        self.res.streams += 1
        self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        self._send(self._start_message(params))
        # Caller audio rides the process's one 20 ms ticker (no task per call).
        ticker = FrameTicker.of(asyncio.get_running_loop())
        self._next_frame_at = None
        ticker.add(self._send_frame)
        ws.closed.add_done_callback(lambda _: self._socket_closed())
        playback = asyncio.create_task(self._playback_loop())
        try:
            await self._closed.wait()
        finally:
            ticker.remove(self._send_frame)
            playback.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await playback
            await ws.close()  # the closing handshake, bounded; a no-op once closed

    # ------------------------------------------------------------------ Twilio's side
    def _on_rest_update(self, form: dict[str, str]) -> None:
        """The server updated the call through REST (called on this loop by the fake)."""
        if form.get("Status") == "completed":
            self.res.hung_up_by_server = True
            self._call_over.set()
        elif "Twiml" in form:
            self._handoff = form["Twiml"]
        else:
            return
        # Either way Twilio ends the media stream: `stop`, then the socket closes.
        asyncio.ensure_future(self._end_stream())

    async def _end_stream(self) -> None:
        if self._closed.is_set():
            return
        self._send(
            {
                "event": "stop",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
            }
        )
        self._closed.set()
        self._echo_event.set()
        self._mark_arrived.set()
        with contextlib.suppress(Exception):
            await self._ws.close()

    def _form(self, **extra: str) -> dict[str, str]:
        return {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": self.sc.caller.number or "anonymous",
            "To": "+97233000000",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **extra,
        }

    async def _post(self, url: str, form: dict[str, str]) -> httpx.Response | None:
        try:
            if self.http is not None:
                return await self.http.post(url, data=form, headers=self._sign(url, form))
            async with httpx.AsyncClient(timeout=10) as client:
                return await client.post(url, data=form, headers=self._sign(url, form))
        except httpx.HTTPError as exc:
            self.res.failures.append(f"POST {url}: {exc.__class__.__name__}")
            return None

    async def _status_callback(self, status: str) -> None:
        """Twilio's call status callback at the end of the call (TWILIO.md)."""
        self._status_seq += 1
        form = self._form(
            CallStatus=status,
            CallDuration=str(int(self._now() - self._t0)),
            Timestamp=time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            SequenceNumber=str(self._status_seq),
        )
        r = await self._post(f"{self.http_base}/webhook/status", form)
        self.res.status_callbacks.append((status, r.status_code if r is not None else 0))

    def _check_say(self, say: ET.Element) -> None:
        lang, voice = say.get("language", ""), say.get("voice", "")
        if lang != HE_LANGUAGE or not (voice.startswith("Google.he-IL-") or not voice):
            self.res.twiml_errors.append(
                f"<Say language={lang!r} voice={voice!r}>: not a valid Hebrew voice"
            )

    async def _play_twiml(self, twiml: str) -> tuple[str, dict[str, str]] | None:
        """Execute TwiML the call was moved to; returns the next `<Connect><Stream>`
        (its URL and parameters) or None when the TwiML ends the call."""
        for _ in range(5):  # Gather -> action -> TwiML (-> Redirect ...), bounded
            try:
                root = ET.fromstring(twiml)
            except ET.ParseError as exc:
                self.res.twiml_errors.append(f"TwiML does not parse: {exc}")
                return None
            nxt: str | None = None
            for verb in root:
                if verb.tag == "Say":
                    self._check_say(verb)
                    self.res.gather_says.append(verb.text or "")
                elif verb.tag == "Gather":
                    digits = await self._gather(verb)
                    if digits is not None or verb.get("actionOnEmptyResult") == "true":
                        nxt = await self._follow(verb.get("action", ""), Digits=digits or "")
                        break
                elif verb.tag == "Redirect":
                    nxt = await self._follow(verb.text or "")
                    break
                elif verb.tag == "Connect":
                    stream = verb.find("Stream")
                    if stream is None or not stream.get("url"):
                        self.res.twiml_errors.append("<Connect> without <Stream url>")
                        return None
                    params = {p.get("name", ""): p.get("value", "") for p in stream}
                    return stream.get("url", ""), params
                elif verb.tag == "Hangup":
                    return None
            if nxt is None:
                return None  # the end of the TwiML: Twilio hangs up
            twiml = nxt
        self.res.twiml_errors.append("TwiML redirected too many times")
        return None

    async def _follow(self, url: str, **extra: str) -> str | None:
        if not url.startswith(("http://", "https://")):
            self.res.twiml_errors.append(f"action/redirect URL {url!r} is not absolute")
            return None
        r = await self._post(url, self._form(CallStatus="in-progress", **extra))
        if r is None or r.status_code != 200:
            code = r.status_code if r is not None else "no answer"
            self.res.twiml_errors.append(f"POST {url} answered {code}")
            return None
        return r.text

    async def _gather(self, gather: ET.Element) -> str | None:
        """Play a `<Gather input="dtmf">`: its `<Say>`s, then the keys a `dtmf` step gives
        (finish key ends it; `timeout` seconds without a key ends it). Returns the digits
        (without the finish key), or None when nothing was typed."""
        if gather.get("input") != "dtmf":
            self.res.twiml_errors.append(f"<Gather input={gather.get('input')!r}> (want dtmf)")
        finish = gather.get("finishOnKey", "#")
        timeout_s = float(gather.get("timeout", "5"))
        for say in gather.findall("Say"):
            self._check_say(say)
            self.res.gather_says.append(say.text or "")
        while not self._gather_keys.empty():
            self._gather_keys.get_nowait()
        self._gather_open.set()
        await asyncio.sleep(0.5)  # the prompt plays; keys typed over it still count
        digits = ""
        try:
            while True:
                key = await asyncio.wait_for(self._gather_keys.get(), timeout_s)
                if key == finish:
                    break
                digits += key
        except TimeoutError:
            pass
        finally:
            self._gather_open.clear()
        return digits or None

    async def _incoming_call(self) -> tuple[str, dict[str, str]]:
        caller = self.sc.caller.number or "anonymous"
        form = {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": caller,
            "To": "+97233000000",
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        url = f"{self.http_base}/voice"
        if self.http is not None:
            r = await self.http.post(url, data=form, headers=self._sign(url, form))
        else:
            async with httpx.AsyncClient(timeout=10) as client:
                r = await client.post(url, data=form, headers=self._sign(url, form))
        if r.status_code != 200:
            raise RuntimeError(f"POST /voice answered {r.status_code}: {r.text[:200]}")
        root = ET.fromstring(r.text)
        stream = root.find("./Connect/Stream")
        if stream is None or not stream.get("url"):
            raise RuntimeError(f"POST /voice did not answer <Connect><Stream>: {r.text[:200]}")
        params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        return stream.get("url", ""), params

    def _start_message(self, params: dict[str, str]) -> dict[str, Any]:
        sim = {
            SCRIPT_PARAM: encode_script(
                ScriptLine(step.say, (audio.last_voiced - audio.first_voiced + 1) * FRAME_MS)
                for step, audio in list(
                    zip(
                        (s for s in self.sc.steps if s.kind == "say"),
                        self.utterances,
                        strict=True,
                    )
                )[self._says_sent :]
            ),
            # The business clock goes on across streams.
            "voicectl.now": (self.sc.now + timedelta(seconds=self._now() - self._t0)).isoformat(),
            "voicectl.business": self.sc.business,
        }
        if self.sc.dtmf_mode:
            sim["voicectl.dtmf_mode"] = self.sc.dtmf_mode
        if self.sc.policy:
            sim["voicectl.policy"] = json.dumps(self.sc.policy, ensure_ascii=False)
        return {
            "event": "start",
            "sequenceNumber": self._next_seq(),
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {**params, **sim},
            },
            "streamSid": self.stream_sid,
        }

    # ------------------------------------------------------------------ loops
    def _send_frame(self) -> None:
        """One caller frame (the `FrameTicker` calls it every 20 ms): the next frame of
        an utterance, or silence when nobody speaks - a phone line never goes quiet."""
        if self._closed.is_set():
            return
        now = self._now()
        if self._next_frame_at is None:  # the stream's first frame sets its grid
            self._next_frame_at = now
        late = now - self._next_frame_at
        self.res.send_lateness_ms.append(round(max(late, 0.0) * 1000, 2))
        # Due 20 ms after the last one; after a stall longer than the ticker's re-anchor
        # limit, from now (the ticker does not burst either).
        self._next_frame_at = (now if late > REANCHOR_S else self._next_frame_at) + _FRAME_S
        frame, payload = self._outgoing.popleft() if self._outgoing else (SILENCE, _SILENCE_B64)
        self._chunk += 1
        if self.record:
            self._caller_track.append((self._tick_index(), frame))
        n = self._chunk - self._leg_chunk0
        self._send(
            {
                "event": "media",
                "sequenceNumber": self._next_seq(),
                "media": {
                    "track": "inbound",
                    "chunk": str(n),
                    "timestamp": str((n - 1) * FRAME_MS),
                    "payload": payload,
                },
                "streamSid": self.stream_sid,
            }
        )
        for hook in self._on_sent.pop(self._chunk, ()):
            hook(now)

    def _when_sent(self, chunk: int, hook: Callable[[float], None]) -> None:
        """Call `hook(sent_at)` when caller frame `chunk` (counted over the call) is sent."""
        self._on_sent.setdefault(chunk, []).append(hook)

    def _advance_playback(self) -> list[str]:
        """Let the playback model run to now; keep what was heard; return marks due."""
        frames, due = self._playback.advance(self._now())
        if self.record:
            for start, frame in frames:
                tick = int(round((start - self._t0) * 1000 / FRAME_MS))
                self._bot_track.append((tick, frame))
        return due

    async def _playback_loop(self) -> None:
        """Twilio's playback buffer: wakes when a mark falls due (or a new one arrives) and
        echoes it; the model itself knows when every frame played."""
        while not self._closed.is_set():
            self._echo_marks(self._advance_playback())
            nxt = self._playback.next_mark_due()
            self._mark_arrived.clear()
            wait = None if nxt is None else max(nxt - self._now(), 0.0)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._mark_arrived.wait(), wait)

    def _echo_marks(self, names: list[str], cleared: bool = False) -> None:
        for name in names:
            self._echoes.append(Echo(name, self._now(), cleared))
            self._echo_event.set()
            self._send(
                {
                    "event": "mark",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "mark": {"name": name},
                }
            )

    def _socket_closed(self) -> None:
        """The stream's connection is gone (either side closed it)."""
        if not self._closed.is_set():
            if self._handoff is None:  # not a move to TwiML: the server hung up
                self.res.hung_up_by_server = True
                self._call_over.set()
            self._closed.set()
            self._echo_event.set()
        self._frame_tick.set()
        self._mark_arrived.set()

    def _violation(self, code: int, detail: str) -> None:
        if len(self.res.protocol_errors) < 20:
            self.res.protocol_errors.append(f"Twilio error {code}: {detail}")

    def _on_server_message(self, raw: str | bytes) -> None:
        """One message from the server (called by the socket as it arrives)."""
        if self._closed.is_set():
            return  # after our `stop`: Twilio no longer plays the stream
        if isinstance(raw, bytes):
            self._violation(31950, "binary WebSocket frame")
            return
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._violation(31951, "message is not JSON")
            return
        event = msg.get("event") if isinstance(msg, dict) else None
        allowed = {
            "media": {"event", "streamSid", "media"},
            "mark": {"event", "streamSid", "mark"},
            "clear": {"event", "streamSid"},
        }
        if event not in allowed:
            self._violation(31951, f"unknown event {event!r}")
            return
        if set(msg) != allowed[event]:
            self._violation(
                31951, f"{event}: fields {sorted(msg)} (expected {sorted(allowed[event])})"
            )
        if msg.get("streamSid") != self.stream_sid:
            self._violation(31951, f"{event}: wrong streamSid {msg.get('streamSid')!r}")
            return
        if event == "media":
            try:
                payload = base64.b64decode(msg["media"]["payload"], validate=True)
            except Exception:
                self._violation(31951, "media: payload is not base64")
                return
            if len(payload) != FRAME_BYTES:
                self._violation(31951, f"media: payload of {len(payload)} bytes (expected 160)")
            now = self._now()
            for marks, t_last in self._v2v_waiters:
                marks["V2V_MS"] = round((now - t_last) * 1000, 1)
            self._v2v_waiters.clear()
            self._playback.audio(payload, now)
        elif event == "mark":
            name = (msg.get("mark") or {}).get("name")
            if not isinstance(name, str):
                self._violation(31951, "mark: missing mark.name")
                return
            self._playback.mark(name, self._now())
            self._mark_arrived.set()
        else:  # clear: drop unplayed audio, echo every pending mark at once
            self._clear_at = self._now()
            self._echo_marks(self._playback.clear(self._clear_at), cleared=True)

    # ------------------------------------------------------------------ steps
    async def _run_steps(self) -> None:
        says = iter(self.utterances)
        for i, step in enumerate(self.sc.steps):
            if self._call_over.is_set():
                rest = [s.kind for s in self.sc.steps[i:] if s.kind != "hangup"]
                if rest:
                    self.res.failures.append(
                        f"steps[{i}]: the server ended the call before steps {rest} ran"
                    )
                return
            if step.kind == "expect_bot":
                await self._expect_bot(i, step.expect_bot.timeout_ms, step.expect_bot.text_contains)
            elif step.kind == "say":
                await self._say(i, next(says), step.while_bot_speaking_after_ms)
            elif step.kind == "dtmf" and self.sc.dtmf_mode == "gather":
                await self._keys_to_gather(i, step.dtmf, step.gap_ms)
            elif step.kind == "dtmf":
                for key in step.dtmf:
                    self._send(
                        {
                            "event": "dtmf",
                            "streamSid": self.stream_sid,
                            "sequenceNumber": self._next_seq(),
                            "dtmf": {"track": "inbound_track", "digit": key},
                        }
                    )
                    await asyncio.sleep(step.gap_ms / 1000)
            elif step.kind == "silence":
                await self._wait(step.silence_ms / 1000)
            elif step.kind == "hangup":
                return

    async def _keys_to_gather(self, i: int, keys: str, gap_ms: int) -> None:
        """`dtmf_mode: gather`: the keys are typed into the `<Gather>` the server moves
        the call to (waiting for it), not sent on the stream."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._gather_open.wait(), 15)
        if not self._gather_open.is_set():
            self.res.failures.append(
                f"steps[{i}].dtmf: the server never moved the call to a <Gather>"
            )
            return
        for key in keys:
            self._gather_keys.put_nowait(key)
            await asyncio.sleep(gap_ms / 1000)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._call_over.wait(), seconds)

    async def _expect_bot(self, i: int, timeout_ms: int, contains: list[str]) -> None:
        deadline = self._now() + timeout_ms / 1000
        while True:
            pending = [e for e in self._echoes[self._consumed :]]
            for k, echo in enumerate(pending):
                if not echo.cleared and turn_of_mark(echo.name) is not None:
                    self._consumed += k + 1
                    self.res.expect_turns.append((turn_of_mark(echo.name), contains))
                    return
            self._consumed += len(pending)
            left = deadline - self._now()
            if left <= 0 or self._call_over.is_set():
                self.res.expect_turns.append((None, contains))
                why = "the call ended" if self._call_over.is_set() else f"{timeout_ms} ms passed"
                self.res.failures.append(
                    f"steps[{i}].expect_bot: no bot reply finished playing ({why})"
                )
                return
            self._echo_event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._echo_event.wait(), left)

    async def _say(self, i: int, audio: CallerAudio, barge_after_ms: int | None) -> None:
        marks: dict[str, float] = {}
        if barge_after_ms is not None:
            # Wait for the bot's next reply to start playing, then talk over it.
            deadline = self._now() + 15
            while self._playback.playing_since(self._now()) is None and self._now() < deadline:
                if self._call_over.is_set():
                    return
                await asyncio.sleep(0.01)
            since = self._playback.playing_since(self._now())
            if since is None:
                self.res.failures.append(f"steps[{i}].say: the bot never started speaking")
            else:
                wait = since + barge_after_ms / 1000 - self._now()
                await asyncio.sleep(max(wait, 0))
            self._clear_at = None
        # An earlier utterance still waiting for its reply got none before this one.
        self._v2v_waiters.clear()
        n_before = self._chunk + len(self._outgoing)
        self._outgoing.extend(zip(audio.frames, audio.payloads, strict=True))
        first_voiced_chunk = n_before + audio.first_voiced + 1
        last_voiced_chunk = n_before + audio.last_voiced + 1
        last_chunk = n_before + len(audio.frames)
        sent: dict[str, float] = {}

        def on_first_voiced(at: float) -> None:
            sent["first_voiced"] = at

        def on_last_voiced(at: float) -> None:
            sent["last_voiced"] = at
            # V2V_MS: caller's last voiced frame sent -> first bot audio received.
            self._v2v_waiters.append((marks, at))

        def on_last(at: float) -> None:
            self._frame_tick.set()

        # The frame sender calls these as it sends those frames: no wake-up per frame.
        self._when_sent(first_voiced_chunk, on_first_voiced)
        self._when_sent(last_voiced_chunk, on_last_voiced)
        self._when_sent(last_chunk, on_last)
        while not self._call_over.is_set():
            if self._chunk >= last_chunk:
                self._says_sent += 1
                break
            self._frame_tick.clear()
            await self._frame_tick.wait()
        t_first_voiced = sent.get("first_voiced")
        if barge_after_ms is not None:
            # BARGE_IN_STOP_MS: caller starts talking over the bot -> `clear` arrives.
            if t_first_voiced is not None:
                deadline = self._now() + 2.0
                while self._clear_at is None and self._now() < deadline:
                    await asyncio.sleep(0.01)
            if self._clear_at is not None and t_first_voiced is not None:
                marks["BARGE_IN_STOP_MS"] = round((self._clear_at - t_first_voiced) * 1000, 1)
            else:
                self.res.failures.append(f"steps[{i}].say: the bot did not stop talking (no clear)")
        self.res.caller_marks.append(marks)

    async def _hangup(self) -> None:
        """The caller hangs up: `stop` on the stream (if one is open); the call is over."""
        self._call_over.set()
        self._frame_tick.set()
        if self._ws is not None:
            await self._end_stream()

    def _build_recording(self) -> None:
        n = 1 + max([i for i, _ in self._caller_track] + [i for i, _ in self._bot_track] + [0])
        caller = np.zeros(n * 160, np.int16)
        bot = np.zeros(n * 160, np.int16)
        for idx, frame in self._caller_track:
            caller[idx * 160 : idx * 160 + 160] = ulaw_decode(frame)
        for idx, frame in self._bot_track:
            bot[idx * 160 : idx * 160 + 160] = ulaw_decode(frame)
        self.res.caller_pcm, self.res.bot_pcm = caller, bot
