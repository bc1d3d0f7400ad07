"""Word classes shared by the name and location tiers: tokens, case mode, stop/name tests.

Kept separate from the recognizers so both tiers (and the spaCy tier's truecaser) judge a word
the same way: a clinical term or stop word is never a name, a common English word needs
context, a lexicon name that is not an everyday word is evidence on its own.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from enum import Enum
from functools import cache, lru_cache
from itertools import accumulate, repeat
from operator import itemgetter
from typing import NamedTuple

from pipeline.detect.lexicons import NameLexicon, common_words, load_name_lexicon, word_list
from pipeline.detect.types import Span

#: A word: letters, with inner apostrophes and hyphens ("O'Neil", "Forman-Lyons").
#: Letters glued to digits ("FiO2", "Q4h") are units and codes, never words: no token there.
#: The letter runs are possessive (``++``): giving a letter back leaves a letter next, which
#: neither a separator nor the final look-ahead accepts, so backtracking into a run can never
#: succeed; possessive runs skip those doomed retries (same matches, less regex time).
TOKEN_RE = re.compile(r"(?<!\d)[^\W\d_]++(?:['\u2019][^\W\d_]++)*(?:-[^\W\d_]++)*(?![\d\w])")
#: ``bytes.translate`` deletion tables keeping only the ASCII capitals / small letters.
_NOT_UPPER = bytes(b for b in range(256) if not 0x41 <= b <= 0x5A)
_NOT_LOWER = bytes(b for b in range(256) if not 0x61 <= b <= 0x7A)


class CaseMode(Enum):
    """How a text is cased; Title-case is evidence only in mixed-case text."""

    MIXED = "mixed"
    UPPER = "upper"
    LOWER = "lower"


def case_mode(text: str) -> CaseMode:
    """Classify ``text`` by the share of upper-case letters among its cased letters."""
    # Sampling bounds the cost on multi-megabyte inputs; casing is uniform enough in practice.
    # ASCII letters decide; text without any falls back to MIXED.
    sample = text if len(text) <= 20000 else text[:10000] + text[-10000:]
    # Counted on the UTF-8 bytes (C speed, no list of matches): every non-ASCII character
    # encodes to bytes >= 0x80, so the counts equal those of the ASCII letters in the text;
    # "surrogatepass" keeps a lone surrogate (possible in decoded JSON) from raising.
    raw = sample.encode("utf-8", "surrogatepass")
    upper = len(raw.translate(None, _NOT_UPPER))
    lower = len(raw.translate(None, _NOT_LOWER))
    total = upper + lower
    if total == 0:
        return CaseMode.MIXED
    share = upper / total
    if share > 0.6:
        return CaseMode.UPPER
    if share < 0.02:
        return CaseMode.LOWER
    return CaseMode.MIXED


class Token(NamedTuple):
    """A word of the text: offsets and its lower-cased form (a tuple: cheap to build)."""

    start: int
    end: int
    text: str
    low: str


#: ``tuple.__new__`` builds a Token without the Python-level ``__new__`` of a NamedTuple:
#: tokenizing is a large share of the lexicon tiers' cost (about 120 tokens per prompt).
_new_tuple = tuple.__new__
#: ``TOKEN_RE`` as one capturing group: ``split`` then returns the text between words and the
#: words alternately, without a match object per word (the words cannot be empty).
_SPLIT_RE = re.compile(f"({TOKEN_RE.pattern})")
#: The same pattern for ASCII-only text (most prompts), where it means exactly this: a letter
#: is [A-Za-z], a digit [0-9], \w [A-Za-z0-9_], and the curly apostrophe cannot occur. A
#: plain letter class first (the digit look-behind moved after it, reaching back over that
#: letter) lets the regex engine skip non-letters quickly: about half the regex time.
_ASCII_SPLIT_RE = re.compile(
    r"([A-Za-z](?<![0-9].)[A-Za-z]*+(?:'[A-Za-z]++)*(?:-[A-Za-z]++)*(?![A-Za-z0-9_]))"
)
#: Keys to bisect a token list (sorted by start and by end: tokens never overlap) without
#: building a list of offsets first.
token_start = itemgetter(0)
token_end = itemgetter(1)


def tokenize(text: str) -> list[Token]:
    """Return the words of ``text`` with their offsets."""
    # map/zip run the per-token loop in C; the result equals building Token(m.start(),
    # m.end(), m.group(), m.group().lower()) per match of TOKEN_RE.finditer(text).
    splitter = _ASCII_SPLIT_RE if text.isascii() else _SPLIT_RE
    parts = splitter.split(text)  # [gap, word, gap, word, ..., gap]
    words = parts[1::2]
    # The running total of the part lengths is where each part ends: the even entries are
    # the words' starts, the odd ones their ends.
    offsets = list(accumulate(map(len, parts)))
    # (The starts hold one more entry, the end of the text: zip stops at the last word.)
    fields = zip(offsets[0::2], offsets[1::2], words, map(str.lower, words), strict=False)
    return list(map(_new_tuple, repeat(Token), fields))


_CACHE_MAX_CHARS = 50_000


def analyse(text: str) -> tuple[list[Token], CaseMode]:
    """Return the tokens and case mode of ``text``.

    Texts up to 50,000 chars are cached (64 entries, so at most a few MB) so the tiers that
    run over one batch share the work; longer texts are analysed afresh each time, keeping
    memory bounded. The cache is in-process memory only, never logged.
    """
    if len(text) <= _CACHE_MAX_CHARS:
        return _analyse_cached(text)
    return tokenize(text), case_mode(text)


@lru_cache(maxsize=64)
def _analyse_cached(text: str) -> tuple[list[Token], CaseMode]:
    return tokenize(text), case_mode(text)


_HOME_FIRST = 4000
_HOME_LAST = 20000
#: How much more frequent than its name rank explains a word must be to read as a word.
_WORD_MARGIN = 0.6


@cache
def english_zipf() -> dict[str, float]:
    """Return the common English words of ``data/english_words.txt`` with Zipf frequencies."""
    from importlib import resources

    text = (
        resources.files("pipeline.detect")
        .joinpath("data", "english_words.txt")
        .read_text(encoding="utf-8")
    )
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            word, _, zipf = line.partition("\t")
            out[word] = float(zipf)
    return out


class WordClasses:
    """Membership tests over the lexicons and word lists (all keyed by lower-case word)."""

    def __init__(self, lexicon: NameLexicon) -> None:
        self.lexicon = lexicon
        self.stop = common_words()
        self.clinical = word_list("clinical_terms")
        self.zipf = english_zipf()
        # is_english's answer for each English word, filled lazily: the tiers ask about the
        # same everyday words in every text. Only words of the public word list are kept, so
        # the memo is bounded by its size and never holds a word seen only in a record.
        self._english: dict[str, bool] = {}

    def is_stop(self, low: str) -> bool:
        """Return True for stop words and clinical vocabulary (never a name or place).

        A hyphenated word is a stop word when any part is ("GU-foley", "GI-abd").
        """
        if low in self.stop:
            return True
        if "-" in low:
            return any(p in self.stop for p in low.split("-"))
        return False

    def is_word(self, low: str) -> bool:
        """Return True for any common English word, names included ("Mary", "Small")."""
        if low in self.zipf:
            return True
        if "-" in low:
            return all(p in self.zipf for p in low.split("-") if p)
        return False

    def is_english(self, low: str) -> bool:
        """Return True for everyday words whose word sense outweighs their name sense.

        A name's expected frequency falls with its rank (rank 1 first name about Zipf 5.4,
        rank 1,000 about 3.6; last names a little lower); a word counts as English when it is
        clearly more frequent than its name rank explains ("Will", "Small", "Prior"), and as a
        name otherwise ("John", "Helen", "Levine").
        """
        known = self._english.get(low)
        if known is not None:
            return known
        zipf = self.zipf.get(low)
        if zipf is None:
            if "-" in low:
                return all(self.is_english(p) for p in low.split("-") if p)
            return False
        known = self._english[low] = self._english_by_rank(low, zipf)
        return known

    def _english_by_rank(self, low: str, zipf: float) -> bool:
        expected = 0.0
        first, last = self.first_rank(low), self.last_rank(low)
        if first < 10**9:
            expected = 5.4 - 0.6 * math.log10(first)
        if last < 10**9:
            expected = max(expected, 4.9 - 0.5 * math.log10(last))
        return zipf > expected + _WORD_MARGIN

    def is_name(self, low: str) -> bool:
        """Return True for lexicon names (hyphenated: every part is a name)."""
        lex = self.lexicon
        first = lex.first.get(low)
        last = lex.last.get(low)
        if first is not None or last is not None:
            # Short names known only from non-English rankings collide with abbreviations.
            home = (first or 10**9) <= _HOME_FIRST or (last or 10**9) <= _HOME_LAST
            return home or len(low) >= 4
        if "-" in low:
            parts = [p for p in low.split("-") if p]
            return bool(parts) and all(p in lex.first or p in lex.last for p in parts)
        return False

    def first_rank(self, low: str) -> int:
        """Return the first-name rank (large when not a first name)."""
        return self.lexicon.first.get(low, 10**9)

    def last_rank(self, low: str) -> int:
        """Return the last-name rank (large when not a last name)."""
        return self.lexicon.last.get(low, 10**9)


@cache
def default_word_classes() -> WordClasses:
    """Return the process-wide word classes (lexicon loaded once)."""
    return WordClasses(load_name_lexicon())


@cache
def phrase_list(name: str) -> tuple[str, ...]:
    """Return a multi-word phrase list from ``data/<name>.txt`` (one phrase a line)."""
    from importlib import resources

    text = (
        resources.files("pipeline.detect")
        .joinpath("data", f"{name}.txt")
        .read_text(encoding="utf-8")
    )
    return tuple(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def propagate(
    toks: list[Token],
    spans: list[Span],
    words: WordClasses,
    *,
    score: float,
    recognizer: str,
    skip: frozenset[str] = frozenset(),
) -> list[Span]:
    """Return spans for the other mentions, in the same text, of words already found.

    Once context has shown that "Vasquez" (after "Dr.") or "Quartermain" (after "transferred
    to") is a name or place, its other mentions in the same document are too, even without
    context ("vasquez aware"). Only distinctive words spread: at least 3 letters, not a stop
    or clinical word, not an everyday English word, not in ``skip`` (e.g. "hospital").
    """
    if not spans:
        return []
    found: set[str] = set()
    covered: set[int] = set()
    for span in spans:
        k = bisect_left(toks, span.start, key=token_start)
        while k < len(toks) and toks[k].end <= span.end:
            low = toks[k].low
            covered.add(toks[k].start)
            if (
                len(low) >= 3
                and low not in skip
                and not words.is_stop(low)
                and not words.is_word(low)
            ):
                found.add(low)
            k += 1
    if not found:
        return []
    label = spans[0].label
    return [
        Span(t.start, t.end, label, score, recognizer)
        for t in toks
        if t.low in found and t.start not in covered
    ]
