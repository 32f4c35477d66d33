"""Logging set-up and PII masking.

Phone numbers are masked in logs and traces (`+97250****567`, DESIGN.md conventions); full
numbers go only to the database.
"""

from __future__ import annotations

import logging
import re

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


def setup_logging(level: str = "INFO") -> None:
    """Configure the root voicectl logger once: `LEVEL name: message` on stderr."""
    logger = logging.getLogger(LOGGER_NAME)
    if getattr(logger, "_voicectl_configured", False):
        logger.setLevel(level.upper())
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    logger._voicectl_configured = True  # type: ignore[attr-defined]
