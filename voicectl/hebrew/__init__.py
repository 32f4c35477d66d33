"""Hebrew understanding in one place: the offline agent, the booking policy, the date/time
resolver and the TTS normaliser all read and say Hebrew through this package.

A map, from the letters up:

- `cache`     - the bounded caches of pure functions of caller text (`text_cache`).
- `letters`   - the alphabet facts: final letters (`fold`), the prefix letters.
- `text`      - `clean` (niqqud, controls, quotes, dashes; offsets kept) + `tokenize`
                (tokens with offsets), and `normalize`/`tokens`, the lossy matching form.
- `prefixes`  - ו/ה/ב/ל/ש/מ/כ and combinations: `split_prefix`, `variants`.
- `vocab`     - prefix-tolerant, word-aligned lookups of words and phrases (`Words`: an
                utterance prepared once for many lookups).
- `numbers`   - number words: saying them (both genders, construct forms, digits) and the
                cardinals a caller says.
- `calendar`  - weekdays, months, relative days, parts of the day; saying times and dates.
- `lexicon`   - the date/time word lexicon (`analyses`) and `parse_number_words`.
- `when`      - the date/time resolver, split by kind of mention (`resolve_when`).
- `acts`      - yes / no / goodbye / thanks / a bare greeting.
- `services`  - the one service matcher over a policy's names and aliases.
- `names`     - a caller's name after a marker, as a bare answer, or at the end.

Everything is pure (no I/O, no clock) and never raises on any string; the few caches
are bounded (`cache`).
"""
