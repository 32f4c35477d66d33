"""The scanner's shared state and token helpers (see `voicectl.hebrew.when.scan`)."""

from __future__ import annotations

import datetime as dt

from voicectl.hebrew.letters import fold
from voicectl.hebrew.lexicon import (
    CARDINAL,
    FUSED,
    MARK,
    TENS,
    UNIT,
    Analysis,
    analyses,
    lookup,
    parse_number_words,
)
from voicectl.hebrew.negation import CORRECTION_WORDS
from voicectl.hebrew.prefixes import Prefix, split_prefix
from voicectl.hebrew.text import HEB, NUM, Token
from voicectl.hebrew.when.mentions import Mentions

_FILLERS = frozenset(
    """אז אולי טוב נו כן אה אהה אמ אממ אמממ בסדר יאללה סבבה אוקיי אוקי רגע נגיד בעצם פשוט
    מתאים לי יותר אפשר בוא נעשה נלך על עם זה מה אני דווקא בערך שיהיה תעשה תעשי תקבע תקבעי
    תרשום תרשמי לך בדיוק הכי תן תני לנו אם עדיף מעדיף מעדיפה חושב חושבת נראה שעה""".split()
) - {"שעה"}

_GREET_HEADS = frozenset(("בוקר", "ערב", "לילה", "צהריים", "צהרים", "שבת"))
_GREET_TAILS = frozenset(("טוב", "טובים", "טובה", "שלום", "אור"))


class ScanBase:
    """Token access and the helpers every kind of mention uses; one instance per resolve."""

    def __init__(self, toks: list[Token], today: dt.date, now: dt.datetime) -> None:
        self.toks = toks
        self.n = len(toks)
        self.today = today
        self.now = now
        self.f = Mentions()

    # -- token helpers ------------------------------------------------------------------
    def tok(self, i: int) -> Token | None:
        return self.toks[i] if 0 <= i < self.n else None

    def joined(self, i: int) -> bool:
        """Token i continues the phrase of token i-1 (no punctuation between)."""
        t = self.tok(i)
        return t is not None and not t.brk

    def an(self, i: int, cat: str) -> Analysis | None:
        t = self.tok(i)
        if t is None or t.kind != HEB:
            return None
        return lookup(t.text, cat)

    def mark(self, i: int, canon: str) -> Analysis | None:
        t = self.tok(i)
        if t is None or t.kind != HEB:
            return None
        for a in analyses(t.text):
            if a.cat == MARK and a.value == canon:
                return a
        return None

    def prefix_tok(self, i: int) -> Prefix | None:
        """Token i is only prefix letters ("ב", "וב", "ה") written before a number at i+1."""
        t = self.tok(i)
        nx = self.tok(i + 1)
        if t is None or nx is None or t.kind != HEB or nx.kind != NUM or nx.brk:
            return None
        if len(t.text) > 3:
            return None
        return split_prefix(t.text)

    def unit_at(self, i: int) -> tuple[str, int] | None:
        a = self.an(i, UNIT)
        if a is None or not self.joined(i):
            return None
        if a.prefix.raw not in ("", "ה"):
            return None
        return a.value  # type: ignore[return-value]

    def blocks_time(self, i: int) -> bool:
        """A counting unit at i ("דקות", "אנשים", "שעות") makes the number before it a count."""
        u = self.unit_at(i)
        return u is not None and u[1] != 1

    def num_value(self, i: int) -> tuple[int, int, Analysis | None] | None:
        """(value, n_tokens, analysis) of a number at i: digits (no separators) or words."""
        t = self.tok(i)
        if t is None or t.phone:
            return None
        if t.kind == NUM:
            if not t.text.isdigit() or len(t.text) > 3:
                return None
            return int(t.text), 1, None
        for a in analyses(t.text):
            if a.cat in (CARDINAL, TENS, FUSED):
                r = parse_number_words([x.text for x in self.toks[i : i + 3]], 0, a)
                if r is not None:
                    return r[0], r[2], a
        return None

    def _greeting(self, i: int) -> bool:
        """ "בוקר טוב", "ערב טוב", "צהריים טובים", "שבת שלום" (unprefixed)."""
        t, nx = self.tok(i), self.tok(i + 1)
        if t is None or nx is None or nx.brk:
            return False
        return t.text in _GREET_HEADS and nx.text in _GREET_TAILS

    def _time_follows(self, j: int) -> bool:
        """A time phrase starts at j ("ראשון בשתיים", "שני ב-5", "שני בבוקר")."""
        if not self.joined(j):
            return False
        pre = self.prefix_tok(j)
        if pre is not None and pre.prep == "ב":
            return True
        a = self._num_or_teen(j)
        if a is not None and a.prefix.prep == "ב":
            return True
        sh = self.mark(j, "שעה")
        if sh is not None and sh.prefix.prep == "ב":
            return True
        return self._part_follows(j)

    def _after_or(self, i: int, what: str) -> bool:
        """Token i continues a list or a correction right after a mention of the same kind:
        after "או" ("בשתיים או שלוש") or after a retraction ("ביום ראשון - לא, שני",
        "בשלוש, לא סליחה, ארבע"), where a bare number or weekday means the same kind."""
        if i < 2:
            return False
        if self.mark(i - 1, "או") is not None:
            if not (self.joined(i) and self.joined(i - 1)):
                return False
            end = i - 1
        else:
            end = i
            while end > 0 and self._correction_word(end - 1):
                end -= 1
            if end == i:
                return False
        if what == "wd":
            last = self.f.dates[-1] if self.f.dates else None
            return last is not None and last.kind == "wd" and last.t1 == end
        return bool(self.f.times) and self.f.times[-1].t1 == end

    def _correction_word(self, j: int) -> bool:
        """ "לא" / "סליחה" / "בעצם" ... (a retraction between two mentions)."""
        t = self.tok(j)
        if t is None or t.kind != HEB:
            return False
        return self.mark(j, "לא") is not None or fold(t.text) in CORRECTION_WORDS

    def _num_or_teen(self, i: int) -> Analysis | None:
        t = self.tok(i)
        if t is None or t.kind != HEB:
            return None
        for a in analyses(t.text):
            if a.cat in (CARDINAL, FUSED, TENS):
                return a
        return None

    def _lead_prep(self, i: int) -> str:
        t = self.tok(i)
        if t is None:
            return ""
        if t.kind == HEB:
            pre = self.prefix_tok(i)
            if pre is not None:
                return pre.prep
            a = self._num_or_teen(i)
            if a is not None:
                return a.prefix.prep
        return ""

    # -- bare hour answer: "שלוש?", "אז ארבע וחצי" -------------------------------------------
    def _only_fillers_except(self, a: int, b: int) -> bool:
        for k, t in enumerate(self.toks):
            if a <= k < b:
                continue
            if t.kind != HEB:
                return False
            w = t.text
            if w in _FILLERS or (w[0] == "ו" and w[1:] in _FILLERS):
                continue
            return False
        return True
