"""CPU per Media Streams message on the server's frame path (issue 12), stage by stage.

    python tools/frame_cpu.py                 # every stage, 5 rounds
    python tools/frame_cpu.py --rounds 9 --only parse,media

One call's inbound stream is built the way the load generator sends it: a recorded
caller utterance (fixtures/audio) then 1.5 s of digital silence, repeated; each 20 ms
frame a Twilio `media` text message (`sequenceNumber`/`chunk`/`timestamp` as strings).
Stages (CPU µs per message, `time.process_time`; median and min over rounds):

- `ws_in`: websockets' `ServerProtocol` parsing the masked client frame (as uvicorn's
  sans-I/O protocol does in `data_received`) and the UTF-8 decode.
- `parse`: `messages.parse_inbound` of the text.
- `media`: `CallSession.media` (μ-law decode, WebRTC VAD, endpointer, script recogniser)
  plus the pacer's `tick` for that 20 ms: the session's per-frame work with the real VAD.
- `handle`: `bridge._Stream.on_message` around `parse` + `media` (timestamps, dispatch
  of the actions, with no agent behind them).
- `ws_out`: one outbound reply frame as the direct lane writes it: `media_message`
  (base64 + JSON) and websockets' framing, 5 per write as a tick may carry.

Run it under the shared lock and compare trees by running each tree's copy in turn
(ratios within one run of the box, not absolute numbers). `--digest` prints a hash of
what each stage produced, so two trees that behave alike print the same digests.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from websockets.frames import Frame, Opcode  # noqa: E402
from websockets.protocol import State  # noqa: E402
from websockets.server import ServerProtocol  # noqa: E402

from voicectl.audio.g711 import ulaw_encode  # noqa: E402
from voicectl.audio.wav import read_wav_8k  # noqa: E402
from voicectl.booking.phone import normalize_phone  # noqa: E402
from voicectl.call.session import CallSession  # noqa: E402
from voicectl.clock import FakeClock  # noqa: E402
from voicectl.config import Settings  # noqa: E402
from voicectl.providers import Providers  # noqa: E402
from voicectl.speech.stt.script import ScriptSTTStream  # noqa: E402
from voicectl.telephony.twilio import messages as m  # noqa: E402

STAGES = ("ws_in", "parse", "media", "handle", "ws_out")
SID = "MZ" + "0" * 32
SILENCE_FRAMES = 75  # 1.5 s between utterances

digests: dict[str, hashlib._Hash] = {s: hashlib.sha256() for s in STAGES}


def caller_frames() -> list[bytes]:
    """μ-law frames of every fixture utterance, each followed by digital silence."""
    frames: list[bytes] = []
    for wav in sorted((ROOT / "fixtures" / "audio").glob("*.wav")):
        pcm = read_wav_8k(wav)
        pcm = np.concatenate([pcm, np.zeros((-len(pcm)) % 160, np.int16)])
        frames += [ulaw_encode(pcm[i : i + 160]) for i in range(0, len(pcm), 160)]
        frames += [b"\xff" * 160] * SILENCE_FRAMES
    return frames


def texts_of(frames: list[bytes]) -> list[str]:
    """Each frame as the Twilio `media` message the load generator sends."""
    out = []
    for i, f in enumerate(frames):
        out.append(
            orjson.dumps(
                {
                    "event": "media",
                    "sequenceNumber": str(i + 2),
                    "media": {
                        "track": "inbound",
                        "chunk": str(i + 1),
                        "timestamp": str(i * 20),
                        "payload": base64.b64encode(f).decode("ascii"),
                    },
                    "streamSid": SID,
                }
            ).decode()
        )
    return out


def new_session(clock: FakeClock, n_frames: int) -> CallSession:
    settings = Settings()
    providers = Providers(settings)
    script = ["אני רוצה לקבוע תור למחר בשתים עשרה"] * (n_frames // 100 + 1)
    return CallSession(
        clock=clock,
        settings=settings,
        vad=providers.new_vad(),
        open_stt=lambda cb: ScriptSTTStream(script, cb),
        normalize_phone=normalize_phone,
        call_sid="CA" + "0" * 32,
        stream_sid=SID,
        business_id="demo-spa",
        log=lambda level, msg: None,
    )


def _timed(fn: Callable[[], int]) -> tuple[float, int]:
    t0 = time.process_time()
    n = fn()
    return (time.process_time() - t0) * 1e6, n


def stage_ws_in(texts: list[str]) -> Callable[[], int]:
    wire = []
    for t in texts:  # masked client frames, as Twilio's socket sends them
        frame = Frame(Opcode.TEXT, t.encode())
        wire.append(frame.serialize(mask=True, extensions=[]))

    def run() -> int:
        conn = ServerProtocol(max_size=2**20, state=State.OPEN)
        h = digests["ws_in"]
        for data in wire:
            conn.receive_data(data)
            for ev in conn.events_received():
                h.update(ev.data[:8])
                ev.data.decode()
        return len(wire)

    return run


def stage_parse(texts: list[str]) -> Callable[[], int]:
    def run() -> int:
        h = digests["parse"]
        for t in texts:
            ev = m.parse_inbound(t)
            h.update(ev.payload[:4])
        return len(texts)

    return run


def stage_media(frames: list[bytes]) -> Callable[[], int]:
    def run() -> int:
        clock = FakeClock(1000)
        session = new_session(clock, len(frames))
        session.begin()
        h = digests["media"]
        for i, f in enumerate(frames):
            clock.advance(20)
            acts = session.media(f, i * 20)
            acts += session.tick()
            for a in acts:
                h.update(type(a).__name__.encode())
        return len(frames)

    return run


class _Runner:
    """What `_Stream` needs of a `CallRunner`: the session, dispatch, finished."""

    def __init__(self, session: CallSession) -> None:
        self.session = session
        self.finished = False
        self.kinds: list[str] = []

    def dispatch(self, actions: list) -> None:
        for a in actions:
            self.kinds.append(type(a).__name__)


def stage_handle(texts: list[str]) -> Callable[[], int]:
    from voicectl.telephony.twilio import bridge

    def run() -> int:
        clock = FakeClock(1000)
        runner = _Runner(new_session(clock, len(texts)))
        runner.session.begin()
        stream = bridge._Stream(runner, SID, bridge._ConnectionLog())  # type: ignore[arg-type]
        for t in texts:
            clock.advance(20)
            stream.on_message(t)
        digests["handle"].update(",".join(runner.kinds).encode())
        return len(texts)

    return run


def stage_ws_out(frames: list[bytes]) -> Callable[[], int]:
    voiced = [f for f in frames if f != b"\xff" * 160]

    def run() -> int:
        conn = ServerProtocol(max_size=2**20, state=State.OPEN)
        h = digests["ws_out"]
        for i in range(0, len(voiced), 5):
            for f in voiced[i : i + 5]:
                conn.send_text(m.media_message(SID, f).encode())
            data = b"".join(conn.data_to_send())
            h.update(data[-8:])
        return len(voiced)

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default=",".join(STAGES))
    ap.add_argument("--digest", action="store_true")
    args = ap.parse_args()
    only = [s for s in args.only.split(",") if s]
    frames = caller_frames()
    texts = texts_of(frames)
    build = {
        "ws_in": lambda: stage_ws_in(texts),
        "parse": lambda: stage_parse(texts),
        "media": lambda: stage_media(frames),
        "handle": lambda: stage_handle(texts),
        "ws_out": lambda: stage_ws_out(frames),
    }
    print(f"{len(frames)} messages per round ({os.path.basename(str(ROOT))})")
    print(f"{'stage':8} {'µs/msg med':>10} {'min':>8}")
    for stage in only:
        run = build[stage]()
        run()  # warm-up: imports, caches, first-call allocations
        per = []
        for _ in range(args.rounds):
            us, n = _timed(run)
            per.append(us / n)
        line = f"{stage:8} {statistics.median(per):10.2f} {min(per):8.2f}"
        if args.digest:
            line += f"  {digests[stage].hexdigest()[:12]}"
        print(line)


if __name__ == "__main__":
    main()
