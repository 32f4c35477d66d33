"""Cutting a reply into phrases: the unit of synthesis, of playback marks and of what a
caller who barged in is known to have heard (issue 7: a mark after every phrase)."""

from __future__ import annotations

import re

_PHRASE_END = re.compile(r"(?<=[.!?;:,])\s+")


def split_phrases(text: str) -> list[str]:
    """Split text at sentence and clause punctuation followed by a space (kept on the phrase).

    Works on raw reply text and on text after `normalize_for_tts` alike: "12:30" and "3.5"
    have no space after the mark, so they stay whole.

    Args:
        text: Hebrew (or any) text.

    Returns:
        Non-empty phrases in order, e.g. "שלום, מה שלומך? תודה." ->
        ["שלום,", "מה שלומך?", "תודה."].
    """
    return [p.strip() for p in _PHRASE_END.split(text) if re.search(r"\w", p)]
