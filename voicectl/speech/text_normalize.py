"""Hebrew text normalisation for speech synthesis: numbers to words, symbols to speakable text.

espeak-ng's Hebrew voice drops or misreads digits and reads many symbols badly, so every
reply goes through `normalize_for_tts` before synthesis. The function is pure (no clock, no
locale, no I/O) and idempotent on its own output.

What it rewrites, in this order:

1. Unicode clean-up: NFC; emoji, pictographs, variation selectors, zero-width and bidi
   marks are removed; the maqaf "־" becomes a space; markdown emphasis (``**``, ``__``),
   headings ("# ") and bullets ("- ", "* ") are dropped and each line ends a sentence.
2. A Hebrew prefix joined to a number by a hyphen is attached: "ב-12:00" -> "בשתים עשרה",
   "ה-21/11" -> "העשרים ואחד בנובמבר".
3. Israeli phone numbers ("0501234567", "050-123-4567", "+972 50 123 4567", "03-1234567")
   are read digit by digit in the local form, grouped 3-3-4 / 2-3-4 with short pauses.
4. Clock times "12:00", "9:30", "14:45" (and ranges "12:00-13:00" -> "... עד ...") via
   `time_to_words`; dates "21/11", "21.11", "21/11/2026" via `date_to_words`.
5. Keypad sequences with "*" / "#" are read key by key ("כוכבית", "סולמית").
6. Money ("₪", "ש״ח" -> "שקלים"), "%" -> "אחוז", thousands separators ("1,500"),
   decimals ("2.5" -> "שתיים נקודה חמש"), number ranges ("3-4 ימים" -> "שלושה עד ארבעה ימים").
7. Integers: 0..999999 in words, feminine by default (counting), masculine before a known
   masculine noun ("3 תורים" -> "שלושה תורים"), "2" before a known noun takes the construct
   form ("שתי דקות", "שני תורים"), "1" follows the noun ("1 שעה" -> "שעה אחת"). Longer
   numbers, and numbers with a leading zero, are read digit by digit.
8. Weekday letters: "א'-ה'" -> "ראשון עד חמישי", "ביום ו'" -> "ביום שישי".
9. Remaining symbols: "#" -> "סולמית", "*" -> "כוכבית" (standalone), "@" -> "שטרודל",
   "+" -> "פלוס", "&" -> "ו", dashes and brackets -> commas (pauses), stray quotes dropped.
   Latin letters are left as they are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from voicectl.hebrew.calendar import WEEKDAY_LETTERS, WEEKDAYS, date_to_words, time_to_words
from voicectl.hebrew.letters import HEBREW_LETTERS, PREFIX_LETTERS
from voicectl.hebrew.numbers import Gender, digits_to_words, number_to_words

__all__ = ["normalize_for_tts"]

_HEB = HEBREW_LETTERS
_PREFIX = PREFIX_LETTERS

# Nouns that commonly follow a number in booking replies: (singular, plural, gender).
_NOUNS: tuple[tuple[str, str, Gender], ...] = (
    ("דקה", "דקות", "f"),
    ("שעה", "שעות", "f"),
    ("שנייה", "שניות", "f"),
    ("שנה", "שנים", "f"),
    ("פגישה", "פגישות", "f"),
    ("פעם", "פעמים", "f"),
    ("אפשרות", "אפשרויות", "f"),
    ("הודעה", "הודעות", "f"),
    ("ספרה", "ספרות", "f"),
    ("מטפלת", "מטפלות", "f"),
    ("תור", "תורים", "m"),
    ("יום", "ימים", "m"),
    ("שבוע", "שבועות", "m"),
    ("חודש", "חודשים", "m"),
    ("טיפול", "טיפולים", "m"),
    ("עיסוי", "עיסויים", "m"),
    ("שקל", "שקלים", "m"),
    ("אחוז", "אחוזים", "m"),
    ("איש", "אנשים", "m"),
    ("מקום", "מקומות", "m"),
    ("לקוח", "לקוחות", "m"),
    ("מטפל", "מטפלים", "m"),
    ("חדר", "חדרים", "m"),
    ("מפגש", "מפגשים", "m"),
    ("רגע", "רגעים", "m"),
)
_NOUN_INFO: dict[str, tuple[str, Gender, bool]] = {}
for _sg, _pl, _g in _NOUNS:
    _NOUN_INFO[_sg] = (_sg, _g, True)
    _NOUN_INFO[_pl] = (_sg, _g, False)

_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),  # pictographs, emoticons, transport, supplemental symbols
    (0x2600, 0x27BF),  # misc symbols, dingbats
    (0x2B00, 0x2BFF),  # arrows, stars
    (0xFE00, 0xFE0F),  # variation selectors
    (0xE0000, 0xE007F),  # tags
)


def _is_dropped_char(ch: str) -> bool:
    cp = ord(ch)
    if any(lo <= cp <= hi for lo, hi in _EMOJI_RANGES):
        return True
    cat = unicodedata.category(ch)
    # Cf: zero-width joiners, bidi marks; So/Sk: symbols; Co/Cs/Cn: private, surrogates,
    # unassigned. "₪" is Sc and "%" is Po, so both survive for their own rules.
    return cat in ("Cf", "So", "Sk", "Co", "Cs", "Cn")


def _clean_unicode(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\u05be", " ")  # maqaf
    text = text.replace("\u2026", "...")
    text = text.replace("\u05f4", '"').replace("\u201c", '"').replace("\u201d", '"')
    text = text.replace("\u05f3", "'").replace("\u2018", "'").replace("\u2019", "'")
    text = text.replace("\u00a0", " ").replace("\t", " ")
    return "".join(ch for ch in text if not _is_dropped_char(ch))


def _clean_markdown(text: str) -> str:
    """Drop markdown emphasis, headings and bullets; make each non-empty line a sentence."""
    text = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*|__(\S(?:.*?\S)?)__", lambda m: m[1] or m[2], text)
    lines = []
    for raw in text.splitlines():
        line = re.sub(r"^\s*(?:#{1,6}\s+|[-*•]\s+)", "", raw).strip()
        if not line:
            continue
        if lines and not re.search(r"[.!?,:;]$", lines[-1]):
            lines[-1] += "."
        lines.append(line)
    return " ".join(lines)


def _sub(pattern: str, repl: Callable[[re.Match[str]], str], text: str) -> str:
    return re.sub(pattern, repl, text)


# --- phone numbers -----------------------------------------------------------------------

_PHONE = r"(?<![\d+*#])(?:\+972[-\s]?|0)\d(?:[-\s]?\d){7,8}(?![\d*#])"


def _phone(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    local = "0" + digits[3:] if m.group(0).startswith("+") else digits
    if not 9 <= len(local) <= 10:
        return m.group(0)
    return digits_to_words(local, group=True) + ", "


# --- times and dates ---------------------------------------------------------------------

_TIME = r"(?<![\d:.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])"


def _time(m: re.Match[str]) -> str:
    return time_to_words(int(m.group(1)), int(m.group(2)))


def _time_range(m: re.Match[str]) -> str:
    first = time_to_words(int(m.group(1)), int(m.group(2)))
    second = time_to_words(int(m.group(3)), int(m.group(4)))
    return f"{first} עד {second}"


_DATE = r"(?<![\d/.:])(\d{1,2})([/.])(\d{1,2})(?:\2(\d{4}|\d{2}))?(?![\d/]|[.:]\d)"


def _date(m: re.Match[str]) -> str:
    day, sep, month, year = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    # "2.5" is a decimal, not the 2nd of May: dotted dates need a 2-digit month or a year.
    if sep == "." and len(month) < 2 and year is None:
        return m.group(0)
    if not (1 <= day <= 31 and 1 <= int(month) <= 12):
        return m.group(0)
    full_year = None
    if year is not None:
        full_year = int(year) + (2000 if len(year) == 2 else 0)
    return date_to_words(day, int(month), full_year)


# --- keypad, money, plain numbers --------------------------------------------------------

_AMOUNT = r"(\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)"
_MONEY = rf"₪\s*{_AMOUNT}(?![\d.,]?\d)|(?<![\d.,]){_AMOUNT}\s*(?:₪|ש\"ח|שקלים|שקל)(?![{_HEB}])"
_THOUSANDS = r"(?<![\d,.])(\d{1,3}(?:,\d{3})+)(?![\d,]|\.\d)"
_KEYPAD = r"(?<![\w+])\+?(?:[\d*#]*\d[\d*#]*[*#]|[*#]+\d)[\d*#]*(?!\w)"
_KEY_NAMES = {"*": "כוכבית", "#": "סולמית"}


def _keypad(m: re.Match[str]) -> str:
    s = m.group(0)
    words = ["פלוס"] if s.startswith("+") else []
    for ch in s.lstrip("+"):
        words.append(_KEY_NAMES.get(ch) or digits_to_words(ch))
    return " ".join(words)


def _integer_words(s: str, gender: Gender) -> str:
    if len(s) > 6 or (len(s) > 1 and s.startswith("0")):
        return digits_to_words(s)
    return number_to_words(int(s), gender)


def _decimal(m: re.Match[str]) -> str:
    whole, frac = m.group(1), m.group(2)
    frac_words = digits_to_words(frac) if frac.startswith("0") else _integer_words(frac, "f")
    return f"{_integer_words(whole, 'f')} נקודה {frac_words}"


_NEXT_WORD = re.compile(rf"\s*([{_HEB}]+)")


def _noun_after(text: str, end: int) -> tuple[str, Gender, int] | None:
    """The known noun right after position `end`: (its singular, its gender, its end)."""
    m = _NEXT_WORD.match(text, end)
    if not m or m.group(1) not in _NOUN_INFO:
        return None
    sg, gender, _is_sg = _NOUN_INFO[m.group(1)]
    return sg, gender, m.end(1)


def _integers(text: str) -> str:
    """Spell out every digit run, choosing gender/construct forms from the following noun."""
    out: list[str] = []
    pos = 0
    for m in re.finditer(r"\d+", text):
        if m.start() < pos:  # consumed with a noun by the previous number
            continue
        out.append(text[pos : m.start()])
        pos = m.end()
        digits = m.group(0)
        noun = _noun_after(text, m.end())
        if noun is None or len(digits) > 6 or (len(digits) > 1 and digits.startswith("0")):
            out.append(_integer_words(digits, "f"))
            continue
        sg, gender, n_end = noun
        n = int(digits)
        if n == 1:
            # "1 שעה" -> "שעה אחת": the number follows the (singular) noun.
            out.append(f"{sg} {number_to_words(1, gender)}")
            pos = n_end
        elif n == 2:
            out.append("שתי" if gender == "f" else "שני")
        else:
            out.append(number_to_words(n, gender))
    out.append(text[pos:])
    return "".join(out)


def _number_range(m: re.Match[str]) -> str:
    """A range "3-4 ימים" -> "שלושה עד ארבעה ימים": both ends agree with the noun after it."""
    first, second = m.group(1), m.group(2)
    if max(len(first), len(second)) > 6 or first.startswith("0") or second.startswith("0"):
        return m.group(0)
    noun = _noun_after(m.string, m.end())
    gender: Gender = noun[1] if noun else "f"
    second_words = number_to_words(int(second), gender)
    if noun and int(second) == 2:
        second_words = "שתי" if gender == "f" else "שני"
    return f"{number_to_words(int(first), gender)} עד {second_words}"


def _money(m: re.Match[str]) -> str:
    """An amount "₪1,500", "49.90 ₪", "120 ש״ח" -> "... שקלים" (and "... אגורות")."""
    amount = m.group(1) or m.group(2)
    whole, _, frac = amount.replace(",", "").partition(".")
    if len(whole) > 6:
        return m.group(0)
    words = "שקל אחד" if int(whole) == 1 else f"{number_to_words(int(whole), 'm')} שקלים"
    if int(whole) == 2:
        words = "שני שקלים"
    agorot = int((frac + "0")[:2]) if frac else 0
    if agorot:
        words += f" ו{number_to_words(agorot, 'f')} אגורות"
    return f" {words} "


# --- symbols -----------------------------------------------------------------------------


# "א'" .. "ו'": the weekday letters the agent's replies use (Saturday is always "שבת").
_DAY_LETTERS = {k[0]: WEEKDAYS[wd] for k, wd in WEEKDAY_LETTERS.items() if k[0] != "ש"}
_DAY_LETTER = "([\u05d0-\u05d5])'"


def _day_letters(text: str) -> str:
    """ "א'-ה'" -> "ראשון עד חמישי", "יום ג'" -> "יום שלישי" (weekday letters with geresh)."""
    text = re.sub(
        rf"(?<![{_HEB}]){_DAY_LETTER}\s*[-\u2013]\s*{_DAY_LETTER}(?![{_HEB}])",
        lambda m: f"{_DAY_LETTERS[m[1]]} עד {_DAY_LETTERS[m[2]]}",
        text,
    )
    return re.sub(
        rf"(?<![{_HEB}])([{_PREFIX}]{{0,2}}(?:יום|ימים))\s+{_DAY_LETTER}(?![{_HEB}])",
        lambda m: f"{m[1]} {_DAY_LETTERS[m[2]]}",
        text,
    )


def _symbols(text: str) -> str:
    text = re.sub(r"(?<![\w])#(?![\w])|#(?=\d)|(?<=\d)#", " סולמית ", text)
    text = re.sub(r"(?<![\w])\*+(?![\w])", " כוכבית ", text)
    text = text.replace("#", " ").replace("*", "")
    text = text.replace("@", " שטרודל ").replace("+", " פלוס ").replace("&", " ו")
    text = text.replace("=", " שווה ")
    text = re.sub(r"\s+[-\u2013\u2014]+\s+|[\u2013\u2014]", ", ", text)  # dash -> pause
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text)  # hyphenated words
    text = text.replace("-", " ")
    text = re.sub(r"[()\[\]{}|]", ", ", text)
    text = re.sub(r"[<>_~^`\\/]", " ", text)
    # Quotes: keep geresh/gershayim inside a Hebrew word (ג'ירפה, צה"ל), drop the rest.
    text = re.sub(rf"(?<![{_HEB}])['\"]|['\"](?![{_HEB}])", "", text)
    return text


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.!?:;])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)  # ", ," -> ","
    text = re.sub(r",\s*([.!?])", r"\1", text)  # ", ." -> "."
    text = re.sub(r"^[\s,.;:]+|[\s,;:]+$", "", text)
    text = re.sub(r"([,.!?:;])(?=[^\s\d.,!?:;])", r"\1 ", text)
    return text.strip()


def normalize_for_tts(text: str) -> str:
    """Rewrite a Hebrew reply so espeak-ng can read it: no digits, no unreadable symbols.

    Args:
        text: the agent's reply (Hebrew, possibly with digits, times, dates, phone numbers,
            markdown, emoji, Latin words).

    Returns:
        The same reply with every number spelled out in Hebrew words (see the module
        docstring for the rules), symbols replaced or removed and whitespace collapsed.
        Latin letters are kept. Example::

            normalize_for_tts("יש תור מחר ב-12:00, 21/11. המספר 0501234567")
            # "יש תור מחר בשתים עשרה, עשרים ואחד בנובמבר. המספר אפס חמש אפס, אחת שתיים
            #  שלוש, ארבע חמש שש שבע"
    """
    if not text:
        return ""
    text = _clean_unicode(text)
    text = _clean_markdown(text)
    # "ב-12", "וה-3", "ל–0501234567": attach the prefix to the number.
    text = re.sub(rf"(?<![{_HEB}\w])([{_PREFIX}]{{1,3}})[-\u2013\u05be]\s?(?=[\d+])", r"\1", text)
    text = _sub(_PHONE, _phone, text)
    text = _sub(
        r"(?<![\d:.])([01]?\d|2[0-3]):([0-5]\d)\s*[-\u2013\u2014]\s*([01]?\d|2[0-3]):([0-5]\d)"
        r"(?![\d:])",
        _time_range,
        text,
    )
    text = _sub(_TIME, _time, text)
    # Money before dates, so "12.10 ₪" stays a price.
    text = _sub(_MONEY, _money, text)
    text = re.sub(r"ש\"ח|₪", "שקלים", text)
    text = re.sub(r"(\d)\s*%", r"\1 אחוז", text)
    text = text.replace("%", " אחוז")
    text = _sub(_DATE, _date, text)
    text = _sub(_KEYPAD, _keypad, text)
    text = _sub(_THOUSANDS, lambda m: m[1].replace(",", ""), text)
    text = re.sub(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])", _decimal, text)
    text = re.sub(r"(?<![\d])(\d+)\s*[-\u2013\u2014]\s*(\d+)(?![\d])", _number_range, text)
    text = _integers(text)
    text = _day_letters(text)
    text = _symbols(text)
    return _tidy(text)
