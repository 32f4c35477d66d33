"""Which steps of the inbound/outbound frame path give up the GIL (issue 12).

The event loop runs every call's frame path. A C call that releases the GIL there (numpy's
fancy indexing, `np.dot`, `reduceat`) lets a busy worker thread (the agent, SQLAlchemy)
take it, and the loop then waits for that thread's switch interval (5 ms) before its next
bytecode: one stall of 5 ms per release whenever a worker is busy. This prints, for each
step, how many of N calls took over 1 ms while one other thread spins in pure Python -
about 1 in 2,500 is the interpreter's own forced switch; more means the step releases.

    python tools/gil_release.py [--calls 4000]
"""

from __future__ import annotations

import argparse
import base64
import threading
import time
from collections.abc import Callable

import numpy as np

from voicectl.audio.endpointing import Endpointer
from voicectl.audio.g711 import _DECODE, ulaw_decode, ulaw_encode
from voicectl.audio.vad import WebRtcVAD
from voicectl.telephony.twilio import messages as m


def _steps() -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(1)
    speech = (rng.standard_normal(160) * 3000).astype(np.int16)
    noise = (rng.standard_normal(160) * 30).astype(np.int16)
    payload = ulaw_encode(speech)
    codes = np.frombuffer(payload, np.uint8)
    text = m.media_message("MZ" + "0" * 32, payload).replace(
        '"media":{', '"media":{"track":"inbound","chunk":"1","timestamp":"20",'
    )
    vad = WebRtcVAD()
    ends = [Endpointer(WebRtcVAD()) for _ in range(2)]
    ts = [0, 0]

    def push(i: int, frame: np.ndarray) -> None:
        ends[i].push(frame, ts[i])
        ts[i] += 20

    f32 = speech.astype(np.float32)
    return {
        "numpy table lookup (the old decode)": lambda: _DECODE[codes],
        "np.dot on 160 float32 (the old floor)": lambda: np.dot(f32, f32),
        "ulaw_decode (160 bytes)": lambda: ulaw_decode(payload),
        "ulaw_encode (160 samples)": lambda: ulaw_encode(speech),
        "WebRTC VAD": lambda: vad.is_speech(speech),
        "Endpointer.push, speech": lambda: push(0, speech),
        "Endpointer.push, line noise": lambda: push(1, noise),
        "parse_inbound(media)": lambda: m.parse_inbound(text),
        "media_message (outbound)": lambda: m.media_message("MZ1", payload),
        "base64 decode": lambda: base64.b64decode(base64.b64encode(payload), validate=True),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=4000)
    args = ap.parse_args()
    stop = threading.Event()

    def spin() -> None:
        x = 0
        while not stop.is_set():
            x += 1

    worker = threading.Thread(target=spin, daemon=True)
    worker.start()
    try:
        print(f"{'step':40s} {'calls > 1 ms':>14s} {'median us':>10s}")
        for name, step in _steps().items():
            slow, times = 0, []
            for _ in range(args.calls):
                t0 = time.perf_counter()
                step()
                dt = time.perf_counter() - t0
                slow += dt > 0.001
                times.append(dt)
            times.sort()
            print(f"{name:40s} {slow:>6d} / {args.calls:<6d} {times[len(times) // 2] * 1e6:>9.1f}")
    finally:
        stop.set()
        worker.join()


if __name__ == "__main__":
    main()
