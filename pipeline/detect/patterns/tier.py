"""The pattern tier: every structured identifier in one Hyperscan scan, then Python checks.

:class:`PatternTier` implements the :class:`~pipeline.detect.registry.Recognizer` protocol and is
registered as ``"pattern_tier.v1"``. ``find`` scans the text once; only the candidates Hyperscan
reports are validated in Python (check digits, real dates, context windows, clinical filters).
Within the tier, a span contained in a longer span of the same label is dropped; overlaps between
labels are left for the detector to merge.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from pipeline.config import Settings
from pipeline.detect.fastspan import new_span
from pipeline.detect.patterns import address, ages, contact, dates, geo, ids
from pipeline.detect.patterns.engine import PatternEngine, PatternSpec
from pipeline.detect.registry import register
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.errors import DetectionError

#: Every pattern of the tier, in a fixed order (expression ids follow it).
ALL_SPECS: tuple[PatternSpec, ...] = (
    dates.SPECS + contact.SPECS + ids.SPECS + geo.SPECS + address.SPECS + ages.SPECS
)


@lru_cache(maxsize=1)
def _engine() -> PatternEngine:
    """The compiled engine, shared by every tier in the process (it is read-only)."""
    return PatternEngine(ALL_SPECS)


class PatternTier:
    """Linear-time detection of structured identifiers (Hyperscan + validators + context).

    Attributes:
        name: ``"pattern_tier.v1"``.
        categories: every label some pattern can emit.
    """

    name = "pattern_tier.v1"

    def __init__(self, engine: PatternEngine, max_text_chars: int) -> None:
        """Wrap a compiled engine; use :meth:`from_settings` instead."""
        self._engine = engine
        self._max_chars = max_text_chars
        # Per-spec look-ups hoisted out of the per-candidate loop of :meth:`find`.
        self._handlers = tuple(spec.handler for spec in engine.specs)
        self._names = tuple(spec.name for spec in engine.specs)
        self.categories: frozenset[Category] = frozenset(
            c for spec in engine.specs for c in spec.categories
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> PatternTier:
        """Build the tier (the Hyperscan database is compiled once per process)."""
        return cls(_engine(), settings.detection.max_text_chars)

    def __repr__(self) -> str:
        return f"PatternTier(name={self.name!r}, patterns={len(self._engine.specs)})"

    def detectors_by_category(self) -> dict[Category, list[str]]:
        """Return the pattern names that can emit each label (for the coverage record)."""
        result: dict[Category, list[str]] = {}
        for spec in self._engine.specs:
            for category in spec.categories:
                result.setdefault(category, []).append(spec.name)
        return result

    def find(self, text: str) -> list[Span]:
        """Return the identifier spans in ``text``, sorted by start.

        Raises:
            DetectionError: the text is longer than ``detection.max_text_chars`` or the scan
                failed (the message carries no text).
        """
        if len(text) > self._max_chars:
            raise DetectionError(
                f"text of {len(text)} characters exceeds max_text_chars={self._max_chars}",
                reason="text_too_large",
            )
        handlers = self._handlers
        names = self._names
        size = len(text)
        spans: list[Span] = []
        add = spans.append
        for index, start, end in self._engine.scan(text):
            hit = handlers[index](text, start, end)
            if hit is None:
                continue
            for h_start, h_end, label, score in (hit,) if isinstance(hit, tuple) else hit:
                if 0 <= h_start < h_end <= size:
                    add(new_span(h_start, h_end, label, min(1.0, max(0.0, score)), names[index]))
        return _drop_contained(spans)

    def find_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        """Return :meth:`find` of each text (Hyperscan has no batch benefit: one scan each)."""
        return [self.find(text) for text in texts]


def _drop_contained(spans: list[Span]) -> list[Span]:
    """Drop spans inside a longer (or equal, higher-scoring) span of the same label.

    Sort by (start, -end, -score, recognizer): the recognizer name breaks ties between equal
    spans, so the kept one does not depend on the order Hyperscan reported the matches in. One
    sweep per label keeps the furthest end seen so far: O(n log n) however candidates overlap.
    """
    spans.sort(key=lambda s: (s.start, -s.end, -s.score, s.recognizer))
    furthest: dict[Category, int] = {}
    kept: list[Span] = []
    for span in spans:
        if span.end <= furthest.get(span.label, -1):
            continue
        furthest[span.label] = span.end
        kept.append(span)
    return kept


@register("pattern_tier.v1")
def pattern_tier(settings: Settings) -> PatternTier:
    """Registry factory for the pattern tier."""
    return PatternTier.from_settings(settings)
