"""Person-name surrogates: shape and case kept, consistent per scope without shared state.

Each name word is replaced on its own, from a keyed choice over (scope, role, word), so "John
Smith", "SMITH, JOHN" and "Mr. Smith" all map "Smith" to the same surrogate in one scope. The
role (given name or surname) comes from the word itself (is it a known given name?), never from
its position, so it is the same in every mention. Initials are kept consistent with full names:
the surrogate of a word starting with J starts with the letter J maps to in that scope, so
"J. Smith" and "John Smith" become "M. Jones" and "Mark Jones".
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from pipeline.deid.context import DeidContext, KeyedRandom, normalise
from pipeline.deid.lexicon import name_pools

#: Words kept as they are inside a NAME span: titles, suffixes, particles, credentials.
KEEP_WORDS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "sir",
        "dame",
        "rev",
        "fr",
        "sr",
        "jr",
        "ii",
        "iii",
        "iv",
        "md",
        "do",
        "rn",
        "np",
        "pa",
        "phd",
        "np-c",
        "lpn",
        "cna",
        "msw",
        "dds",
        "dmd",
        "pharmd",
        "mph",
        "facp",
        "facc",
        "de",
        "del",
        "della",
        "der",
        "di",
        "da",
        "dos",
        "das",
        "du",
        "la",
        "le",
        "van",
        "von",
        "y",
        "e",
        "st",
        "doctor",
        "nurse",
        "sra",
        "sr",
        "srta",
        "dra",
        "dña",
        "don",
        "dona",
    ]
)

_TOKEN_RE = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*|\d+")


def apply_case(template: str, word: str) -> str:
    """Give ``word`` the case pattern of ``template`` (UPPER, lower, Title)."""
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template.islower():
        return word.lower()
    if len(template) == 1:
        return word[:1].upper() if template.isupper() else word[:1].lower()
    return word[:1].upper() + word[1:].lower() if word.isupper() or word.islower() else word


def base_letter(word: str) -> str:
    """Return the unaccented upper-case first letter of ``word`` (``"É"`` -> ``"E"``)."""
    first = word[:1]
    if first.isascii():
        # NFKD leaves ASCII as it is and strips nothing from it: the same letter, cheaper.
        letter = first.upper()
        return letter if letter.isalpha() else "X"
    decomposed = unicodedata.normalize("NFKD", word[:1])
    letter = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    return letter if letter.isascii() and letter.isalpha() else "X"


def initial_for(ctx: DeidContext, letter: str) -> str:
    """The letter a name initial maps to in this scope (never the letter itself)."""
    key = ("initial", letter)
    found = ctx.memo.get(key)
    if found is None:
        # A pure function of (key, scope, letter): memoised per request.
        found = KeyedRandom(ctx.keyring, ctx.scope, "NAME", "initial", letter).choice(
            _other_letters(letter)
        )
        ctx.memo[key] = found
    return found


@cache
def _other_letters(letter: str) -> tuple[str, ...]:
    """The initials ``letter`` may map to (all but itself), built once per letter."""
    return tuple(x for x in name_pools().letters if x != letter)


def role_of(word: str) -> str:
    """``"first"`` for a known given name, ``"last"`` otherwise (a property of the word)."""
    return "first" if normalise(word) in name_pools().first_set else "last"


def surrogate_word(ctx: DeidContext, word: str) -> str:
    """Return the surrogate of one name word (case applied by the caller)."""
    # "Smith" of "John Smith" and of "Mr. Smith": the same choice again (exact, see
    # DeidContext.choose), so it is made once per request.
    key = ("word", word)
    found = ctx.memo.get(key)
    if found is None:
        found = ctx.memo[key] = _surrogate_word(ctx, word)
    return found


def _surrogate_word(ctx: DeidContext, word: str) -> str:
    pools = name_pools()
    role = role_of(word)
    letter = initial_for(ctx, base_letter(word))
    by_letter = pools.by_initial[(role, letter)]
    everyone = pools.first if role == "first" else pools.last

    def make(rng: KeyedRandom) -> str:
        # Stay on the mapped initial while it has candidates; the keyed fallback to the whole
        # pool only matters when every same-initial name is already in the input.
        return rng.choice(by_letter) if rng.below(8) else rng.choice(everyone)

    return ctx.choose("NAME", role, word, make, fallback=everyone)


def _digits(ctx: DeidContext, digits: str) -> str:
    def make(rng: KeyedRandom) -> str:
        for _ in range(16):
            value = "".join(rng.digit() for _ in digits)
            if value != digits:
                return value
        return value

    return ctx.choose("NAME", "number", digits, make, check_words=False)


def name_surrogate(ctx: DeidContext, text: str) -> str:
    """Replace every name word of ``text``; keep titles, punctuation, spacing and case."""
    out: list[str] = []
    last = 0
    for match in _TOKEN_RE.finditer(text):
        word = match.group()
        out.append(text[last : match.start()])
        last = match.end()
        folded = normalise(word).rstrip(".")
        if word.isdigit():
            # A number inside a name span (a detector's over-reach, "Room 54") is not kept.
            out.append(_digits(ctx, word))
        elif folded in KEEP_WORDS and len(word) > 1:
            out.append(word)
        elif len(word) == 1:
            letter = initial_for(ctx, base_letter(word))
            out.append(letter if word.isupper() else letter.lower())
        else:
            out.append(apply_case(word, surrogate_word(ctx, word)))
    out.append(text[last:])
    result = "".join(out)
    # A span with no name word at all (digits only, say) must still not pass through.
    return result if result != text else "[NAME]"
