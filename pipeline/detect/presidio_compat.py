"""Presidio compatibility: our recognizers inside a stock ``presidio_analyzer.AnalyzerEngine``.

:class:`PresidioRecognizer` wraps any recognizer of our registry (or a whole :class:`Detector`)
as an ``EntityRecognizer`` whose entities are ``SH_<LABEL>`` (``SH_NAME``, ``SH_DATE``...), so a
Presidio deployment can add them next to its own recognizers::

    engine = AnalyzerEngine(nlp_engine=..., supported_languages=["en"])
    engine.registry.add_recognizer(PresidioRecognizer.from_detector(detector))
    engine.analyze(text, language="en")   # -> RecognizerResult(entity_type="SH_NAME", ...)

:func:`span_to_result` and :func:`result_to_span` convert between our :class:`Span` and
Presidio's ``RecognizerResult`` (stock entity names map through
:data:`pipeline.detect.taxonomy.PRESIDIO_TO_SAFE_HARBOR`; unmapped ones give ``None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from presidio_analyzer import EntityRecognizer, RecognizerResult

from pipeline.detect.detector import Detector
from pipeline.detect.registry import Recognizer
from pipeline.detect.taxonomy import SAFE_HARBOR_TO_PRESIDIO, Category, from_presidio
from pipeline.detect.types import Span

_PRESIDIO_SOURCE = "presidio"


def span_to_result(span: Span) -> RecognizerResult:
    """Return ``span`` as a Presidio ``RecognizerResult`` (entity ``SH_<LABEL>``)."""
    return RecognizerResult(
        entity_type=SAFE_HARBOR_TO_PRESIDIO[span.label],
        start=span.start,
        end=span.end,
        score=span.score,
        # Only the name: Presidio fills in the identifier of the wrapping recognizer, which its
        # per-recognizer score thresholds are looked up by.
        recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: span.recognizer},
    )


def result_to_span(result: RecognizerResult) -> Span | None:
    """Return a Presidio result as our :class:`Span`, or None for non-Safe-Harbor entities."""
    label = from_presidio(result.entity_type)
    if label is None or result.end <= result.start:
        return None
    meta = result.recognition_metadata or {}
    name = str(meta.get(RecognizerResult.RECOGNIZER_NAME_KEY) or _PRESIDIO_SOURCE)
    score = min(1.0, max(0.0, float(result.score)))
    return Span(result.start, result.end, label, score, name)


class PresidioRecognizer(EntityRecognizer):
    """One of our recognizers (or a whole detector) as a Presidio ``EntityRecognizer``."""

    def __init__(
        self,
        recognizer: Recognizer | Detector,
        *,
        categories: frozenset[Category] | None = None,
        name: str | None = None,
        supported_language: str = "en",
    ) -> None:
        self._inner = recognizer
        cats = categories if categories is not None else recognizer.categories
        label_name = name or (
            recognizer.version if isinstance(recognizer, Detector) else recognizer.name
        )
        super().__init__(
            supported_entities=sorted(SAFE_HARBOR_TO_PRESIDIO[c] for c in cats),
            name=label_name,
            supported_language=supported_language,
            version=label_name.rpartition(".v")[2] if ".v" in label_name else "1",
        )

    @classmethod
    def from_detector(cls, detector: Detector, *, supported_language: str = "en") -> Any:
        """Wrap a whole detector: merged spans of every tier, one recognizer for Presidio."""
        return cls(detector, name="phi_detector", supported_language=supported_language)

    def load(self) -> None:
        """Nothing to load: the wrapped recognizer is built already."""

    def analyze(
        self, text: str, entities: Sequence[str], nlp_artifacts: Any = None
    ) -> list[RecognizerResult]:
        """Return our spans in ``text`` whose ``SH_*`` entity was requested.

        ``nlp_artifacts`` (Presidio's spaCy output) is unused: our tiers tokenize themselves.
        """
        del nlp_artifacts
        wanted = set(entities) if entities else set(self.supported_entities)
        spans = (
            self._inner.detect(text)
            if isinstance(self._inner, Detector)
            else self._inner.find(text)
        )
        return [span_to_result(s) for s in spans if SAFE_HARBOR_TO_PRESIDIO[s.label] in wanted]
