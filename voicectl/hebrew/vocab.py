"""Word-aligned, prefix-tolerant lookups of Hebrew words and phrases in a vocabulary.

A vocabulary is a frozenset of normalised, final-letter-folded words (`fset`). A word of
the transcript is in it when the word or one of its prefix-stripped `variants` is
("ובשוודי" finds "שוודי"); a phrase is found when its first word matches that way and the
rest match exactly, on word boundaries ("אחר הצהריים" in "ואחר הצהריים בבקשה").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from voicectl.hebrew.letters import fold
from voicectl.hebrew.prefixes import variants
from voicectl.hebrew.text import normalize, tokens

__all__ = ["find_phrase", "fset", "has_phrase", "in_vocab", "phrase_tokens"]


def fset(words: Iterable[str]) -> frozenset[str]:
    """A vocabulary: each of `words` normalised and final-letter folded."""
    return frozenset(fold(normalize(w)) for w in words)


def in_vocab(word: str, vocab: frozenset[str], prefixes: bool = True) -> bool:
    """True when `word` (or, with `prefixes`, one of its prefix-stripped forms) is in `vocab`."""
    if not prefixes:
        return fold(word) in vocab
    return any(v in vocab for v in variants(word))


def phrase_tokens(phrase: str) -> list[str]:
    """The normalised, folded words of `phrase`."""
    return [fold(t) for t in normalize(phrase).split()]


def find_phrase(toks: Sequence[str], phrase: str) -> int:
    """Index where `phrase` starts in `toks` (prefixes allowed on its first word) or -1."""
    ptoks = phrase_tokens(phrase)
    if not ptoks:
        return -1
    n = len(ptoks)
    for i in range(len(toks) - n + 1):
        if ptoks[0] not in variants(toks[i]):
            continue
        if all(fold(toks[i + k]) == ptoks[k] for k in range(1, n)):
            return i
    return -1


def has_phrase(text_or_tokens: str | Sequence[str], *phrases: str) -> bool:
    """True when any of `phrases` occurs (word-aligned, prefix-tolerant) in the text."""
    toks = tokens(text_or_tokens) if isinstance(text_or_tokens, str) else text_or_tokens
    return any(find_phrase(toks, p) >= 0 for p in phrases)
