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
from pipeline.detect.merge import label_limits, merge_with_limits
from pipeline.detect.profiles import import_recognizer_module, recognizer_names
from pipeline.detect.registry import Recognizer, resolve
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Coverage, CoverageEntry, Detection, Span
from pipeline.errors import ConfigError, DetectionError, InvalidInputError, PipelineError

DETECTOR_VERSION = "detector.v1"

#: A chat message: a plain string or an OpenAI-style mapping with a string ``content``.
Message = str | Mapping[str, object]
#: Coverage entries are immutable values: those with small hit counts are built once and
#: shared (the cache is bounded by recognizers x this many counts).
_SHARED_COUNTS = 64


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
        # Per-call work derived from the configuration, built on first use and rebuilt if the
        # attributes above are reassigned (see _label_limits and _coverage_plan).
        self._limits_for: tuple[dict[str, float], float] | None = None
        self._limits: dict[Category, float] = {}
        self._plan_for: tuple[Recognizer, ...] | None = None
        self._emitters: dict[Category, tuple[str, ...]] = {}
        self._no_hits: dict[Category, tuple[CoverageEntry, ...]] = {}
        self._entries: dict[tuple[str, int], CoverageEntry] = {}

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
        limits = self._label_limits()
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
            name, categories = rec.name, rec.categories
            for i, spans in enumerate(found):
                n = len(texts[i])
                counts = hits[i]
                for s in spans:
                    label = s.label
                    if not (0 <= s.start < s.end <= n) or label not in categories:
                        raise DetectionError(
                            f"recognizer {name} returned an invalid span",
                            reason="invalid_span",
                        )
                    if s.score >= limits[label]:
                        key = (name, label)
                        counts[key] = counts.get(key, 0) + 1
                raw[i].extend(spans)
        out = []
        for i, text in enumerate(texts):
            merged = merge_with_limits(raw[i], text, limits)
            out.append(Detection(tuple(merged), self._coverage(hits[i]), self.version))
        return out

    def _label_limits(self) -> dict[Category, float]:
        """Return each label's minimum score (the thresholds, else the default)."""
        config = (self.thresholds, self.default_threshold)
        if self._limits_for != config:
            self._limits = label_limits(self.thresholds, self.default_threshold)
            self._limits_for = (dict(self.thresholds), self.default_threshold)
        return self._limits

    def _coverage_plan(self) -> None:
        """Record, per label in enum order, the recognizers that can emit it.

        Also each label's entries for a text without hits, built once: they are immutable,
        so every such record shares them.
        """
        self._emitters = {
            cat: tuple(r.name for r in self.recognizers if cat in r.categories) for cat in Category
        }
        self._no_hits = {
            cat: tuple(self._entry(n, 0) for n in names) for cat, names in self._emitters.items()
        }
        self._plan_for = self.recognizers

    def _entry(self, name: str, count: int) -> CoverageEntry:
        if count >= _SHARED_COUNTS:
            return CoverageEntry(name, True, count)
        entry = self._entries.get((name, count))
        if entry is None:
            entry = self._entries[(name, count)] = CoverageEntry(name, True, count)
        return entry

    def _coverage(self, hits: Mapping[tuple[str, Category], int]) -> Coverage:
        if self._plan_for is not self.recognizers:
            self._coverage_plan()
        # A copy of the no-hit record (same label order), then the labels that were hit.
        entries = dict(self._no_hits)
        for _, cat in hits:
            entries[cat] = tuple(self._entry(n, hits.get((n, cat), 0)) for n in self._emitters[cat])
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
