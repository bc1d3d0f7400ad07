"""The detector: runs a profile's recognizers, merges their hits, records coverage.

Usage::

    detector = Detector.from_settings(settings)
    spans = detector.detect(text)              # merged spans
    detection = detector.detect_full(text)     # spans + Safe Harbor coverage record
    per_message = detector.detect_messages(chat_messages)

Recognizers are built once from the registry; model-backed ones batch their work, so
:meth:`Detector.detect_batch` is the fast path for many texts. Any recognizer failure becomes a
:class:`DetectionError` (fail closed) whose message names the recognizer, never the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.config import Settings
from pipeline.detect.merge import merge_spans
from pipeline.detect.profiles import import_recognizer_module, recognizer_names
from pipeline.detect.registry import Recognizer, resolve
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Coverage, CoverageEntry, Detection, Span
from pipeline.errors import ConfigError, DetectionError, InvalidInputError, PipelineError

DETECTOR_VERSION = "detector.v1"

#: A chat message: a plain string or an OpenAI-style mapping with a string ``content``.
Message = str | Mapping[str, object]


class Detector:
    """Runs recognizers over texts and returns merged spans with a coverage record."""

    def __init__(
        self,
        recognizers: Sequence[Recognizer],
        *,
        thresholds: Mapping[str, float] | None = None,
        default_threshold: float = 0.0,
        max_text_chars: int = 2_000_000,
        profile: str = "custom",
    ) -> None:
        if not recognizers:
            raise ConfigError("a detector needs at least one recognizer")
        self.recognizers = tuple(recognizers)
        self.thresholds = dict(thresholds or {})
        unknown = set(self.thresholds) - {c.value for c in Category}
        if unknown:
            raise ConfigError(f"thresholds name unknown labels: {sorted(unknown)}")
        self.default_threshold = default_threshold
        self.max_text_chars = max_text_chars
        self.profile = profile
        self.version = f"{DETECTOR_VERSION}:{profile}:" + "+".join(r.name for r in self.recognizers)

    @classmethod
    def from_settings(cls, settings: Settings, *, profile: str | None = None) -> Detector:
        """Build the detector of ``profile`` (default ``settings.detection.profile``).

        Raises:
            ConfigError: unknown profile or recognizer, or a recognizer cannot be built.
        """
        names = recognizer_names(settings, profile)
        recognizers = []
        for name in names:
            import_recognizer_module(name)
            recognizers.append(resolve(name)(settings))
        det = settings.detection
        return cls(
            recognizers,
            thresholds=det.thresholds,
            default_threshold=det.default_threshold,
            max_text_chars=det.max_text_chars,
            profile=profile or det.profile,
        )

    @property
    def categories(self) -> frozenset[Category]:
        """Return every label some recognizer of this detector can emit."""
        out: set[Category] = set()
        for r in self.recognizers:
            out |= r.categories
        return frozenset(out)

    # --- single text ------------------------------------------------------------------------
    def detect(self, text: str) -> list[Span]:
        """Return the merged spans of ``text``."""
        return list(self.detect_full(text).spans)

    def detect_full(self, text: str) -> Detection:
        """Return the merged spans of ``text`` with the Safe Harbor coverage record."""
        return self.detect_full_batch([text])[0]

    # --- batches ----------------------------------------------------------------------------
    def detect_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        """Return the merged spans of each text (model work batched)."""
        return [list(d.spans) for d in self.detect_full_batch(texts)]

    def detect_full_batch(self, texts: Sequence[str]) -> list[Detection]:
        """Return one :class:`Detection` per text.

        Raises:
            InvalidInputError: a text is not a string.
            DetectionError: a text exceeds ``max_text_chars``, or a recognizer failed or
                returned a span outside its text.
        """
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise InvalidInputError(f"text #{i} is {type(t).__name__}, not str")
            if len(t) > self.max_text_chars:
                raise DetectionError(
                    f"text #{i} has {len(t)} chars, over detection.max_text_chars="
                    f"{self.max_text_chars}",
                    reason="text_too_long",
                )
        if not texts:
            return []
        raw: list[list[Span]] = [[] for _ in texts]
        hits: list[dict[tuple[str, Category], int]] = [{} for _ in texts]
        for rec in self.recognizers:
            try:
                found = rec.find_batch(list(texts))
            except PipelineError:
                raise
            except Exception as exc:
                raise DetectionError(f"recognizer {rec.name} failed: {type(exc).__name__}") from exc
            if len(found) != len(texts):
                raise DetectionError(f"recognizer {rec.name} returned a wrong batch size")
            for i, spans in enumerate(found):
                n = len(texts[i])
                for s in spans:
                    if not (0 <= s.start < s.end <= n) or s.label not in rec.categories:
                        raise DetectionError(
                            f"recognizer {rec.name} returned an invalid span",
                            reason="invalid_span",
                        )
                    if s.score >= self.thresholds.get(s.label.value, self.default_threshold):
                        key = (rec.name, s.label)
                        hits[i][key] = hits[i].get(key, 0) + 1
                raw[i].extend(spans)
        out = []
        for i, text in enumerate(texts):
            merged = merge_spans(
                raw[i],
                text=text,
                thresholds=self.thresholds,
                default_threshold=self.default_threshold,
            )
            out.append(Detection(tuple(merged), self._coverage(hits[i]), self.version))
        return out

    def _coverage(self, hits: Mapping[tuple[str, Category], int]) -> Coverage:
        entries: dict[Category, tuple[CoverageEntry, ...]] = {}
        for cat in Category:
            entries[cat] = tuple(
                CoverageEntry(r.name, True, hits.get((r.name, cat), 0))
                for r in self.recognizers
                if cat in r.categories
            )
        return Coverage(entries)

    # --- chat messages ----------------------------------------------------------------------
    def detect_messages(self, messages: Sequence[Message]) -> list[Detection]:
        """Detect each chat message on its own; offsets index that message's content.

        Args:
            messages: strings, or mappings (OpenAI chat format) whose ``content`` is a string
                or ``None`` (a tool call without text).

        Raises:
            InvalidInputError: a message has non-string content.
        """
        texts = []
        for i, m in enumerate(messages):
            if isinstance(m, str):
                texts.append(m)
                continue
            content = m.get("content")
            if content is None:
                texts.append("")
            elif isinstance(content, str):
                texts.append(content)
            else:
                raise InvalidInputError(f"message #{i} content is not a string")
        return self.detect_full_batch(texts)
