"""Value types of detection: spans and the Safe Harbor coverage record.

A :class:`Span` holds offsets, never the text it covers, so spans can be logged, audited and
sent between stages without carrying PHI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.detect.taxonomy import Category


@dataclass(frozen=True, slots=True)
class Span:
    """One detected identifier: ``text[start:end]`` is PHI of category ``label``.

    Attributes:
        start: first character (0-based, Python string index).
        end: one past the last character.
        label: the Safe Harbor label.
        score: confidence in [0, 1].
        recognizer: registered name and version of the detector that found it, e.g.
            ``"mrn_context.v1"``.
    """

    start: int
    end: int
    label: Category
    score: float
    recognizer: str

    def to_json(self) -> dict[str, object]:
        """Return the span as the CLI contract's JSON object."""
        return {
            "start": self.start,
            "end": self.end,
            "label": self.label.value,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True, slots=True)
class CoverageEntry:
    """What one detector did for one category in one detection call."""

    detector: str
    ran: bool
    hits: int


@dataclass(frozen=True, slots=True)
class Coverage:
    """For each of the Safe Harbor labels, the detectors configured, whether they ran, hits.

    This record (never the text) is what goes into the audit trail.
    """

    entries: dict[Category, tuple[CoverageEntry, ...]] = field(default_factory=dict)

    def uncovered(self) -> list[Category]:
        """Return the labels with no detector that ran."""
        return [c for c in Category if not any(e.ran for e in self.entries.get(c, ()))]

    def counts(self) -> dict[str, int]:
        """Return hits per label (labels with no hit included, as 0)."""
        return {c.value: sum(e.hits for e in self.entries.get(c, ())) for c in Category}


@dataclass(frozen=True, slots=True)
class Detection:
    """The result of detecting one text: merged spans plus the coverage record."""

    spans: tuple[Span, ...]
    coverage: Coverage
    detector_version: str
