"""Per-request state shared by the operators of one de-identification call.

Presidio instantiates an operator class per entity and hands it only the entity's text and a
params dict, so everything an operator needs beyond that (the keyring, the scope, what the input
contains, numbering of tags) travels in a :class:`DeidContext` inside the params. The context is
rebuilt for every request; nothing in it is shared between requests or workers, which is why
consistency comes from keyed derivation, not from the context.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pipeline.deid.crypto import Keyring
from pipeline.errors import DeidError

WORD_RE = re.compile(r"\w+")
MAX_ATTEMPTS = 64
#: str.translate table blanking every ASCII character that ``\w`` does not match.
_ASCII_NON_WORD = str.maketrans(
    {chr(i): " " for i in range(128) if not (chr(i).isalnum() or chr(i) == "_")}
)
#: One HMAC-SHA256 block read as four big-endian unsigned 64-bit words.
_WORDS64 = struct.Struct(">4Q")


def normalise(value: str) -> str:
    """Fold case, accents and runs of whitespace, so spelling variants derive the same value."""
    if value.isascii():
        # NFKD and combining marks are no-ops on ASCII, and casefold is lower there: the fast
        # path gives the same result at a fraction of the cost (most clinical text is ASCII).
        return " ".join(value.lower().split())
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def input_words(text: str) -> frozenset[str]:
    """Every word of ``text``, normalised (the set :meth:`DeidContext.is_real` checks).

    Equal to normalising each ``WORD_RE`` word on its own; an ASCII text is lowered and split
    once instead (the word runs of the lowered text are the lowered runs), other words one by
    one.
    """
    if text.isascii():
        # On ASCII, \w is [A-Za-z0-9_]: blanking every other character and splitting on
        # whitespace yields exactly the regex's word runs, at under half the cost.
        return frozenset(text.lower().translate(_ASCII_NON_WORD).split())
    return frozenset(w.lower() if w.isascii() else normalise(w) for w in WORD_RE.findall(text))


@dataclass(frozen=True)
class Scope:
    """Who a request is about: the patient/subject if known, else the session, else the request.

    Surrogates and date offsets are derived per scope, so all requests about one patient agree.
    """

    patient_id: str | None = None
    session_id: str | None = None
    request_id: str | None = None

    def key(self) -> str:
        """Return the scope string used in key derivation (``kind:id``)."""
        if self.patient_id:
            return f"patient:{self.patient_id}"
        if self.session_id:
            return f"session:{self.session_id}"
        if self.request_id:
            return f"request:{self.request_id}"
        raise DeidError("a scope needs a patient, session or request id", reason="no_scope")

    @classmethod
    def parse(cls, value: str | Scope) -> Scope:
        """Accept a :class:`Scope` or a ``"patient:ID"``/``"session:ID"``/``"request:ID"`` string.

        A bare string without a known kind prefix is taken as a session id.
        """
        if isinstance(value, Scope):
            return value
        kind, sep, ident = value.partition(":")
        if sep and ident:
            if kind == "patient":
                return cls(patient_id=ident)
            if kind == "session":
                return cls(session_id=ident)
            if kind == "request":
                return cls(request_id=ident)
        if not value:
            raise DeidError("empty scope", reason="no_scope")
        return cls(session_id=value)


class KeyedRandom:
    """A deterministic random stream: the same key and parts always give the same numbers."""

    __slots__ = ("_counter", "_keyring", "_parts", "_words")

    def __init__(self, keyring: Keyring, *parts: str) -> None:
        """Seed the stream from ``parts`` (scope, category, role, normalised value, attempt)."""
        self._keyring = keyring
        self._parts = parts
        self._counter = 0
        # Unused 64-bit words of the last PRF block, next draw last (popped from the end).
        self._words: list[int] = []

    def below(self, n: int) -> int:
        """Return an integer in ``[0, n)`` (64 random bits per draw: bias is negligible)."""
        if n <= 0:
            raise DeidError("empty choice", reason="surrogate_pool_empty")
        words = self._words
        if not words:
            # Each 32-byte PRF block is four big-endian 64-bit draws, taken in order: unpacking
            # the block once replaces slicing a byte buffer per draw (same numbers, in order).
            block = self._keyring.surrogate_prf(*self._parts, f"#{self._counter}")
            self._counter += 1
            words.extend(reversed(_WORDS64.unpack(block)))
        return words.pop() % n

    def choice(self, items: tuple[str, ...] | list[str]) -> str:
        """Pick one item."""
        return items[self.below(len(items))]

    def digit(self, nonzero: bool = False) -> str:
        """Return one decimal digit (1-9 when ``nonzero``)."""
        return str(1 + self.below(9)) if nonzero else str(self.below(10))


@dataclass
class DeidContext:
    """What operators know about the request being de-identified.

    Attributes:
        keyring: purpose keys of the current key version.
        scope: the scope key (``patient:...``); surrogates and offsets derive from it.
        input_words: every word of the input, normalised; a surrogate never equals one of them.
        input_values: every detected value of the input, normalised.
        tag_numbers: (label, group key) -> number, filled in text order by the engine.
        date_shift_days: this scope's offset (set by the engine from the profile's range).
        date_order: ``"MDY"`` or ``"DMY"`` for ambiguous numeric dates.
        assigned: (label, role, surrogate) -> original it stands for in this request.
        memo: results of surrogate functions already computed in this request, keyed by the
            function and its exact arguments (see :meth:`choose` for why reuse is exact).
    """

    keyring: Keyring
    scope: str
    input_words: frozenset[str] = frozenset()
    input_values: frozenset[str] = frozenset()
    tag_numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    tag_groups: dict[tuple[str, str], str] = field(default_factory=dict)
    date_shift_days: int = 0
    date_order: str = "MDY"
    assigned: dict[tuple[str, str, str], str] = field(default_factory=dict)
    memo: dict[tuple[str, ...], str] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        # Never print input words or values: they are PHI.
        return f"DeidContext(key_id={self.keyring.key_id!r}, words={len(self.input_words)})"

    @classmethod
    def build(
        cls, keyring: Keyring, scope: str, text: str, values: Iterable[str], **kwargs: object
    ) -> DeidContext:
        """Build the context of one request from its text and detected values."""
        words = input_words(text)
        vals = frozenset(map(normalise, values))
        return cls(keyring=keyring, scope=scope, input_words=words, input_values=vals, **kwargs)  # type: ignore[arg-type]

    def rng(self, label: str, role: str, value: str, attempt: int) -> KeyedRandom:
        """Return the keyed stream of (scope, label, role, normalised value, attempt)."""
        return KeyedRandom(self.keyring, self.scope, label, role, normalise(value), str(attempt))

    def is_real(self, candidate: str) -> bool:
        """True when ``candidate`` equals a value or any word of the input (after normalising)."""
        return self._is_real_norm(normalise(candidate))

    def _is_real_norm(self, norm: str) -> bool:
        if norm in self.input_values:
            return True
        if norm.isalnum():
            # One word (every alphanumeric is a \w character): the regex would find just it.
            return len(norm) > 1 and norm in self.input_words
        words = WORD_RE.findall(norm)
        return bool(words) and any(w in self.input_words for w in words if len(w) > 1)

    def _acceptable(self, label: str, role: str, norm: str, candidate: str, words: bool) -> bool:
        cnorm = normalise(candidate)
        if cnorm == norm:
            return False
        # The candidate is normalised once; is_real(candidate) would normalise it again.
        if words and self._is_real_norm(cnorm):
            return False
        if not words and cnorm in self.input_values:
            return False
        return self.assigned.setdefault((label, role, cnorm), norm) == norm

    def choose(
        self,
        label: str,
        role: str,
        original: str,
        make: Callable[[KeyedRandom], str],
        *,
        check_words: bool = True,
        fallback: tuple[str, ...] = (),
    ) -> str:
        """Return the first keyed candidate that is neither the original nor a real input value.

        Candidate ``k`` comes from ``make(rng(label, role, original, k))``; the first one that
        passes is the same in every process with the same key, scope and input, which is what
        makes surrogates consistent without shared state. A candidate already standing for a
        different original in this request is skipped too, so two people never merge.

        A second call with the same arguments (and a ``make`` that depends on nothing but its
        stream and the input) returns what the first returned: the candidates rejected before
        stay rejected (``assigned`` only ever gains entries), and the one accepted is now
        assigned to this original. That is why callers may memoise results per request in
        :attr:`memo`; a call that raised is not memoised (it would raise again).
        """
        norm = normalise(original)
        # The streams of self.rng(label, role, original, k), with ``original`` normalised once
        # here rather than once per attempt.
        keyring, scope = self.keyring, self.scope
        for attempt in range(MAX_ATTEMPTS):
            candidate = make(KeyedRandom(keyring, scope, label, role, norm, str(attempt)))
            if self._acceptable(label, role, norm, candidate, check_words):
                return candidate
        if fallback:
            # Crowded input: walk the whole pool from a keyed start, still deterministic.
            rng = KeyedRandom(keyring, scope, label, role, norm, str(MAX_ATTEMPTS))
            start = rng.below(len(fallback))
            for i in range(len(fallback)):
                candidate = fallback[(start + i) % len(fallback)]
                if self._acceptable(label, role, norm, candidate, check_words):
                    return candidate
        raise DeidError("no surrogate candidate passed the checks", reason="surrogate_exhausted")
