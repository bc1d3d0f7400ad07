"""Per-request state shared by the operators of one de-identification call.

Presidio instantiates an operator class per entity and hands it only the entity's text and a
params dict, so everything an operator needs beyond that (the keyring, the scope, what the input
contains, numbering of tags) travels in a :class:`DeidContext` inside the params. The context is
rebuilt for every request; nothing in it is shared between requests or workers, which is why
consistency comes from keyed derivation, not from the context.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pipeline.deid.crypto import Keyring
from pipeline.errors import DeidError

WORD_RE = re.compile(r"\w+")
MAX_ATTEMPTS = 64


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
        return frozenset(WORD_RE.findall(text.lower()))
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

    def __init__(self, keyring: Keyring, *parts: str) -> None:
        """Seed the stream from ``parts`` (scope, category, role, normalised value, attempt)."""
        self._keyring = keyring
        self._parts = parts
        self._counter = 0
        self._buffer = b""

    def below(self, n: int) -> int:
        """Return an integer in ``[0, n)`` (64 random bits per draw: bias is negligible)."""
        if n <= 0:
            raise DeidError("empty choice", reason="surrogate_pool_empty")
        if len(self._buffer) < 8:
            self._buffer += self._keyring.surrogate_prf(*self._parts, f"#{self._counter}")
            self._counter += 1
        chunk, self._buffer = self._buffer[:8], self._buffer[8:]
        return int.from_bytes(chunk, "big") % n

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

    def __repr__(self) -> str:
        # Never print input words or values: they are PHI.
        return f"DeidContext(key_id={self.keyring.key_id!r}, words={len(self.input_words)})"

    @classmethod
    def build(
        cls, keyring: Keyring, scope: str, text: str, values: Iterable[str], **kwargs: object
    ) -> DeidContext:
        """Build the context of one request from its text and detected values."""
        words = input_words(text)
        vals = frozenset(normalise(v) for v in values)
        return cls(keyring=keyring, scope=scope, input_words=words, input_values=vals, **kwargs)  # type: ignore[arg-type]

    def rng(self, label: str, role: str, value: str, attempt: int) -> KeyedRandom:
        """Return the keyed stream of (scope, label, role, normalised value, attempt)."""
        return KeyedRandom(self.keyring, self.scope, label, role, normalise(value), str(attempt))

    def is_real(self, candidate: str) -> bool:
        """True when ``candidate`` equals a value or any word of the input (after normalising)."""
        norm = normalise(candidate)
        if norm in self.input_values:
            return True
        words = WORD_RE.findall(norm)
        return bool(words) and any(w in self.input_words for w in words if len(w) > 1)

    def _acceptable(self, label: str, role: str, norm: str, candidate: str, words: bool) -> bool:
        cnorm = normalise(candidate)
        if cnorm == norm:
            return False
        if words and self.is_real(candidate):
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
        """
        norm = normalise(original)
        for attempt in range(MAX_ATTEMPTS):
            candidate = make(self.rng(label, role, original, attempt))
            if self._acceptable(label, role, norm, candidate, check_words):
                return candidate
        if fallback:
            # Crowded input: walk the whole pool from a keyed start, still deterministic.
            start = self.rng(label, role, original, MAX_ATTEMPTS).below(len(fallback))
            for i in range(len(fallback)):
                candidate = fallback[(start + i) % len(fallback)]
                if self._acceptable(label, role, norm, candidate, check_words):
                    return candidate
        raise DeidError("no surrogate candidate passed the checks", reason="surrogate_exhausted")
