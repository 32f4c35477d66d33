"""Word-aligned, prefix-tolerant lookups of Hebrew words and phrases in a vocabulary.

A vocabulary is a frozenset of normalised, final-letter-folded words (`fset`). A word of
the transcript is in it when the word or one of its prefix-stripped `variants` is
("ובשוודי" finds "שוודי"); a phrase is found when its first word matches that way and the
rest match exactly, on word boundaries ("אחר הצהריים" in "ואחר הצהריים בבקשה").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from voicectl.hebrew.cache import text_cache
from voicectl.hebrew.letters import fold
from voicectl.hebrew.prefixes import variants
from voicectl.hebrew.text import normalize, tokens

__all__ = ["Words", "find_phrase", "fset", "has_phrase", "in_vocab", "phrase_tokens", "words"]


def fset(words: Iterable[str]) -> frozenset[str]:
    """A vocabulary: each of `words` normalised and final-letter folded."""
    return frozenset(fold(normalize(w)) for w in words)


def in_vocab(word: str, vocab: frozenset[str], prefixes: bool = True) -> bool:
    """True when `word` (or, with `prefixes`, one of its prefix-stripped forms) is in `vocab`."""
    if not prefixes:
        return fold(word) in vocab
    return any(v in vocab for v in variants(word))


@lru_cache(maxsize=4096)
def phrase_tokens(phrase: str) -> tuple[str, ...]:
    """The normalised, folded words of `phrase` (cached: phrases are the code's own)."""
    return tuple(fold(t) for t in normalize(phrase).split())


@dataclass(frozen=True, slots=True)
class Words:
    """The words of one utterance, prepared once for any number of phrase lookups.

    Build with `Words.of(tokens)` (or `words(text)`).

    Attributes:
        folded: each word final-letter folded.
        forms: each word's `variants` (itself and its prefix-stripped forms), as a set.
        heads: every form of every word: a phrase whose first word is not in it is not
            in the utterance (most of a vocabulary is rejected by that one lookup).
    """

    folded: tuple[str, ...]
    forms: tuple[frozenset[str], ...]
    heads: frozenset[str]

    @classmethod
    def of(cls, toks: Sequence[str]) -> Words:
        """The prepared form of the normalised words `toks`."""
        forms = tuple(frozenset(variants(t)) for t in toks)
        return cls(tuple(fold(t) for t in toks), forms, frozenset().union(*forms))

    def find(self, phrase: str) -> int:
        """Index where `phrase` starts (prefixes allowed on its first word) or -1."""
        ptoks = phrase_tokens(phrase)
        if not ptoks or ptoks[0] not in self.heads:
            return -1
        n = len(ptoks)
        for i in range(len(self.folded) - n + 1):
            if ptoks[0] in self.forms[i] and self.folded[i + 1 : i + n] == ptoks[1:]:
                return i
        return -1


@text_cache(maxsize=256, max_chars=512)
def words(text: str) -> Words:
    """The normalised words of `text` (`tokens`), prepared for `has_phrase`."""
    return Words.of(tokens(text))


def find_phrase(toks: Sequence[str], phrase: str) -> int:
    """Index where `phrase` starts in `toks` (prefixes allowed on its first word) or -1."""
    return Words.of(toks).find(phrase)


def has_phrase(text_or_tokens: str | Sequence[str] | Words, *phrases: str) -> bool:
    """True when any of `phrases` occurs (word-aligned, prefix-tolerant) in the text.

    Asking many phrases of one utterance, pass its `words` (or its text): the words are
    prepared once, not once per phrase.
    """
    if isinstance(text_or_tokens, Words):
        said = text_or_tokens
    elif isinstance(text_or_tokens, str):
        said = words(text_or_tokens)
    else:
        said = Words.of(text_or_tokens)
    return any(said.find(p) >= 0 for p in phrases)
