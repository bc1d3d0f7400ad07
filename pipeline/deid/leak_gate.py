"""The leak gate: de-identified text is scanned again, and residual PHI fails closed.

Two checks, both on the output only:

* the detector runs over the de-identified text; a span that is not inside one of our own
  replacements (a surrogate, tag, generalised value or token we inserted) is residual PHI;
* every original value we replaced is searched for verbatim outside our replacements (and, for
  names, each name word): the same identifier written again elsewhere and missed by detection.

A failing record must be quarantined with the reason code, never forwarded. The report holds
offsets and labels only, never text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.deid.names import KEEP_WORDS
from pipeline.deid.textscan import word_matches
from pipeline.detect.intervals import Intervals
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.errors import safe_reason

#: Words a residual span may add around one of our replacements without being PHI itself.
_CONTEXT_WORDS = KEEP_WORDS | frozenset({"or", "older", "over", "year", "years", "old", "y", "o"})

_NAME_WORD_RE = re.compile(r"[^\W\d_]{4,}")
_WORD_RE = re.compile(r"\w+")

PASS = "pass"  # noqa: S105 - a verdict, not a password
FAIL = "fail"


class SpanDetector(Protocol):
    """What de-identification needs from detection (``pipeline.detect.Detector`` provides it)."""

    def detect(self, text: str) -> Any:
        """Return the PHI spans of ``text`` (a list of spans, or an object with ``.spans``)."""
        ...


def spans_of(result: Any) -> list[Span]:
    """Accept either a list of spans or a ``Detection`` (``.spans``)."""
    spans = getattr(result, "spans", result)
    return list(spans)


@dataclass(frozen=True)
class Residual:
    """One residual finding: where (output offsets), what label, which check."""

    start: int
    end: int
    label: str
    check: str

    def to_json(self) -> dict[str, object]:
        """Offsets and labels only."""
        return {"start": self.start, "end": self.end, "label": self.label, "check": self.check}


@dataclass(frozen=True)
class LeakReport:
    """The gate's verdict: ``status`` is ``"pass"`` or ``"fail"``; ``reason`` a code on failure."""

    status: str
    reason: str | None = None
    residual: tuple[Residual, ...] = ()

    @property
    def passed(self) -> bool:
        """True when the record may be forwarded."""
        return self.status == PASS


@dataclass(frozen=True)
class Original:
    """A replaced value, kept only in memory for the verbatim check."""

    label: str
    value: str
    operator: str


class LeakGate:
    """Re-scan de-identified text; fail closed on residual PHI."""

    def __init__(
        self,
        detector: SpanDetector | None,
        *,
        min_value_chars: int = 4,
        name_words: bool = True,
    ) -> None:
        """Configure the gate.

        Args:
            detector: re-scans the output; ``None`` leaves only the verbatim check, and the
                report says ``detector_unavailable`` (a failure: the gate cannot vouch).
            min_value_chars: originals shorter than this are not searched verbatim (a two-digit
                day would match everywhere).
            name_words: also search each word (4+ letters) of replaced names.
        """
        self._detector = detector
        self._min = min_value_chars
        self._name_words = name_words

    def check(
        self,
        output: str,
        ours: Sequence[tuple[int, int]],
        originals: Sequence[Original] = (),
    ) -> LeakReport:
        """Check ``output``.

        Args:
            output: the de-identified text.
            ours: output ranges we inserted (replacements).
            originals: the values that were replaced.
        """
        residual: list[Residual] = []
        reason: str | None = None
        taken = Intervals(ours)
        if self._detector is None:
            reason = "detector_unavailable"
        else:
            try:
                found = spans_of(self._detector.detect(output))
            except Exception as exc:  # any detector failure fails closed
                return LeakReport(FAIL, f"detector_failed:{safe_reason(exc)}")
            for span in found:
                if not self._is_ours(output, span.start, span.end, taken):
                    residual.append(Residual(span.start, span.end, span.label.value, "detector"))
            if residual:
                reason = "residual_phi"
        verbatim = self._verbatim(output, taken, originals)
        if verbatim:
            residual.extend(verbatim)
            reason = reason or "original_in_output"
        if reason is None:
            return LeakReport(PASS)
        return LeakReport(FAIL, reason, tuple(residual))

    @staticmethod
    def _is_ours(output: str, start: int, end: int, ours: Intervals) -> bool:
        if ours.contains(start, end):
            # The usual finding: one of our surrogates, all blanked below, so no word is left.
            return True
        # The finding's text with every character inside one of our ranges blanked. The
        # ranges are sorted and disjoint, so the blanked text is built from slices and runs
        # of spaces rather than one character at a time.
        pieces: list[str] = []
        cursor = start
        for a, b in ours.touching(start, end):
            a, b = max(a, start), min(b, end)
            pieces.append(output[cursor:a])
            pieces.append(" " * (b - a))
            cursor = b
        pieces.append(output[cursor:end])
        words = _WORD_RE.findall("".join(pieces))
        return all(w.casefold().rstrip(".") in _CONTEXT_WORDS for w in words)

    def _verbatim(
        self, output: str, ours: Intervals, originals: Sequence[Original]
    ) -> list[Residual]:
        # value -> (label, case-insensitive?)
        needles: dict[str, tuple[str, bool]] = {}
        name = Category.NAME  # an enum member lookup, hoisted out of the loop
        for orig in originals:
            if orig.operator.startswith("generalise"):
                continue  # a year, ZIP3 or age <= 89 stays on purpose
            value = orig.value.strip()
            # (A value starting with an alphanumeric answers ``any`` at once, without a
            # generator: most do.)
            if len(value) >= self._min and (value[:1].isalnum() or any(c.isalnum() for c in value)):
                needles.setdefault(value, (orig.label, True))
            if self._name_words and orig.label == name:
                # Name words as written (and in capitals): "Rose" the person, not "rose".
                for word in _NAME_WORD_RE.findall(value):
                    if word.casefold() not in KEEP_WORDS:
                        needles.setdefault(word, (orig.label, False))
                        needles.setdefault(word.upper(), (orig.label, False))
        found: list[Residual] = []
        lowered = output.lower()
        for needle, (label, fold) in needles.items():
            for start, end in word_matches(output, needle, ignore_case=fold, lowered=lowered):
                if not ours.contains(start, end):
                    found.append(Residual(start, end, label, "verbatim"))
        return found
