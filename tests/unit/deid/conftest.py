"""Fixtures of the de-identification unit tests: fixed keys, contexts, a small real detector."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import pytest

from pipeline.deid.context import DeidContext
from pipeline.deid.crypto import Keyring
from pipeline.deid.keys import KeyVersion, StaticKeyProvider
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span

# Synthetic identifiers only.
PATTERNS: list[tuple[Category, str]] = [
    (
        Category.NAME,
        r"\b(?:John|Jane|JOHN|J\.)\s+(?:Smith|SMITH|Doe)\b|\b(?:Mr\.|Dr\.)\s+Smith\b|\bSmith\b",
    ),
    (Category.DATE, r"\b\d{1,2}/\d{1,2}/\d{4}\b|\bMarch 4th\b"),
    (Category.PHONE, r"\(\d{3}\) \d{3}-\d{4}"),
    (Category.SSN, r"\b\d{3}-\d{2}-\d{4}\b"),
    (Category.MRN, r"\bMRN \d{6,8}\b"),
    (Category.EMAIL, r"\b[\w.]+@[\w.]+\.\w+\b"),
    (Category.GEO, r"\b\d{5}\b|\bSpringfield\b"),
]


class RegexDetector:
    """A small, real pattern detector honouring the SpanDetector protocol."""

    def __init__(self, patterns: Iterable[tuple[Category, str]] = PATTERNS) -> None:
        self.patterns = [(c, re.compile(p)) for c, p in patterns]
        self.calls = 0

    def detect(self, text: str) -> list[Span]:
        self.calls += 1
        spans: list[Span] = []
        for label, pattern in self.patterns:
            for m in pattern.finditer(text):
                if not any(s.start < m.end() and m.start() < s.end for s in spans):
                    spans.append(Span(m.start(), m.end(), label, 0.9, "test_regex.v1"))
        return sorted(spans, key=lambda s: s.start)


@pytest.fixture
def keys() -> StaticKeyProvider:
    return StaticKeyProvider([KeyVersion("k1", bytes(range(32)), bytes(range(32, 64)))])


@pytest.fixture
def other_keys() -> StaticKeyProvider:
    return StaticKeyProvider([KeyVersion("k2", bytes(range(1, 33)), bytes(range(33, 65)))])


@pytest.fixture
def keyring(keys: StaticKeyProvider) -> Keyring:
    return Keyring.from_provider(keys)


@pytest.fixture
def make_ctx(keyring: Keyring) -> Callable[..., DeidContext]:
    def make(
        text: str = "", values: Iterable[str] = (), scope: str = "patient:p1", **kwargs: object
    ) -> DeidContext:
        kwargs.setdefault("date_shift_days", 17)
        return DeidContext.build(keyring, scope, text, values, **kwargs)

    return make


@pytest.fixture
def detector() -> RegexDetector:
    return RegexDetector()


@pytest.fixture
def span_of() -> Callable[..., Span]:
    def make(text: str, value: str, label: Category, nth: int = 0) -> Span:
        start = -1
        for _ in range(nth + 1):
            start = text.index(value, start + 1)
        return Span(start, start + len(value), label, 0.9, "hand.v1")

    return make
