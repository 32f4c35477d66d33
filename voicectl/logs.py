"""Logging set-up and PII masking.

Phone numbers are masked in logs and traces (`+97250****567`, DESIGN.md conventions); full
numbers go only to the database.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import re
import sys

LOGGER_NAME = "voicectl"

_PHONE_RE = re.compile(r"\+?\d[\d\- ]{6,}\d")

#: Characters of any caller-supplied value a log line carries (issue 6: bounded logs).
CLIP_CHARS = 200


def scrub_surrogates(text: str) -> str:
    """`text` with lone UTF-16 surrogates replaced by U+FFFD (valid pairs are joined).

    JSON from the network may carry `"\\ud800"`; such a str cannot be encoded as UTF-8,
    so a database write, a JSON response or a log handler would fail on it.
    """
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def clip(value: object, limit: int = CLIP_CHARS) -> str:
    """`repr`-free printable form of a caller-supplied value for a log line: at most
    `limit` characters (then `…(+N chars)`), surrogates scrubbed."""
    s = value if isinstance(value, str) else repr(value)
    if len(s) > limit:
        s = f"{s[:limit]}…(+{len(s) - limit} chars)"
    return scrub_surrogates(s)


def mask_phone(number: str | None) -> str | None:
    """Mask the middle of a phone number: `+972501234567` -> `+97250****567`.

    Keeps the first 6 characters and the last 3; shorter inputs keep only the last 2.
    Returns None for None.
    """
    if number is None:
        return None
    s = str(number)
    if len(s) <= 9:
        return "*" * max(len(s) - 2, 0) + s[-2:]
    return s[:6] + "*" * (len(s) - 9) + s[-3:]


def mask_phones_in(text: str) -> str:
    """Mask every phone-looking run of digits inside free text."""
    return _PHONE_RE.sub(lambda m: mask_phone(re.sub(r"[\- ]", "", m.group(0))) or "", text)


def get_logger(name: str = "") -> logging.Logger:
    """Return the project logger, or a child of it (`voicectl.<name>`)."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


#: Log records waiting for the writer thread; beyond this they are counted and dropped.
LOG_QUEUE_RECORDS = 10_000

#: Loggers routed through the same queue (uvicorn's and asyncio's would otherwise write to
#: stderr from the event loop themselves).
_ROUTED = ("uvicorn", "asyncio")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when the line is written, not when the handler
    was made: the writer thread outlives redirections (a CLI test runner's captured
    stream, since closed) and must not write into a stale file."""

    @property  # type: ignore[override]
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # type: ignore[no-untyped-def]
        pass


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread without ever waiting: when the queue is full
    (the log output has stalled) a record is dropped and counted, and the next one that
    fits is preceded by a WARNING saying how many were lost."""

    def __init__(self, q: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(q)
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            if self.dropped:
                note = logging.LogRecord(
                    LOGGER_NAME,
                    logging.WARNING,
                    __file__,
                    0,
                    f"{self.dropped} log line(s) dropped: the log output did not keep up",
                    None,
                    None,
                )
                self.queue.put_nowait(note)
                self.dropped = 0
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


def setup_logging(level: str = "INFO") -> None:
    """Configure the voicectl logger once: `time LEVEL name: message` on stderr.

    Lines are written by a background thread (`logging.handlers.QueueListener`), never by
    the caller: a stderr that blocks (a full pipe nobody reads, a slow terminal or log
    shipper) would otherwise freeze the event loop inside `logging` and stop every call's
    audio (seen in issue 6's soak harness after ~64 KB of log). The queue is bounded
    (`LOG_QUEUE_RECORDS`); what does not fit is dropped and counted. uvicorn's and
    asyncio's loggers go through the same queue. The queue is drained at exit.
    """
    logger = logging.getLogger(LOGGER_NAME)
    if getattr(logger, "_voicectl_configured", False):
        logger.setLevel(level.upper())
        return
    stream = _StderrHandler()
    stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    records: queue.Queue[logging.LogRecord] = queue.Queue(LOG_QUEUE_RECORDS)
    handler = _DroppingQueueHandler(records)
    listener = logging.handlers.QueueListener(records, stream)
    listener.start()
    atexit.register(listener.stop)
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    for name in _ROUTED:
        routed = logging.getLogger(name)
        routed.addHandler(handler)
        routed.propagate = False
    logger._voicectl_configured = True  # type: ignore[attr-defined]
