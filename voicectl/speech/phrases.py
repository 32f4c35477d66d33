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


#: The end of a spoken sentence: `.`, `?`, `!` or `…` followed by white space, or a
#: newline. "12:30" and "3.5" have no space after the mark, so they are never cut.
_SENTENCE_END = re.compile(r"[.?!…]+(?=\s)|\n")
_WORD = re.compile(r"\w")


class SentenceSplitter:
    """Cuts text that arrives in pieces (an LLM's streamed deltas) into whole sentences.

    `feed(delta)` returns the sentences completed by `delta`; `flush()` the rest at the end
    of the stream. A sentence is only cut once the white space after its mark has arrived,
    so "בשעה 12" + ":30." is never cut inside the time. A fragment with no word in it (a
    lone "!") stays with the next sentence, so no text is ever lost.
    """

    def __init__(self) -> None:
        self._buf = ""

    def feed(self, delta: str) -> list[str]:
        """Add `delta`; return the sentences it completed, stripped, in order."""
        self._buf += delta
        out: list[str] = []
        start = 0
        for m in _SENTENCE_END.finditer(self._buf):
            piece = self._buf[start : m.end()]
            if _WORD.search(piece):
                out.append(piece.strip())
                start = m.end()
        self._buf = self._buf[start:]
        return out

    def flush(self) -> list[str]:
        """The text after the last sentence end (the stream ended), as a list of 0 or 1."""
        rest, self._buf = self._buf.strip(), ""
        return [rest] if _WORD.search(rest) else []
