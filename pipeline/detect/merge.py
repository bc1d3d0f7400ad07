"""Merging raw recognizer hits into the final, non-overlapping span list.

Rules, applied in this order so the result does not depend on recognizer order:

1. Drop hits below their category's threshold (``settings.detection.thresholds[label]``, else
   ``default_threshold``); recall-first defaults keep weak evidence.
2. Union overlapping hits of the same label (highest score and its recognizer win).
3. Join same-label pieces separated by a single space or hyphen ("Mary" + "Souza").
4. Resolve overlaps between labels: the higher-priority category wins, then the longer span,
   then the higher score. The loser keeps its parts outside the winner when they still hold a
   letter or digit, so merging never loses coverage of a token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pipeline.detect.intervals import Intervals
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span

#: Category priority for overlaps (first wins): precise, validated identifiers before fuzzy
#: ones, so an SSN inside a phone-like run stays an SSN and a date inside a name run a date.
PRIORITY: tuple[Category, ...] = (
    Category.EMAIL,
    Category.URL,
    Category.IP,
    Category.SSN,
    Category.FAX,
    Category.PHONE,
    Category.MRN,
    Category.HEALTH_PLAN,
    Category.ACCOUNT,
    Category.LICENSE,
    Category.VEHICLE,
    Category.DEVICE,
    Category.BIOMETRIC,
    Category.PHOTO,
    Category.AGE_OVER_89,
    Category.DATE,
    Category.OTHER_ID,
    Category.GEO,
    Category.NAME,
)
_RANK = {c: i for i, c in enumerate(PRIORITY)}
_JOIN_GAPS = frozenset({" ", "-"})


def _clamp(score: float) -> float:
    return 0.0 if score < 0.0 else 1.0 if score > 1.0 else score


def overlap_key(s: Span) -> tuple[int, int, float, int, str]:
    """Return the sort key of overlap resolution: a smaller key wins (total, deterministic)."""
    return (_RANK[s.label], -(s.end - s.start), -s.score, s.start, s.recognizer)


def _union_same_label(spans: list[Span], text: str | None) -> list[Span]:
    """Union overlapping (and single-gap adjacent) spans of one label."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out:
            last = out[-1]
            joinable = s.start < last.end or (
                text is not None and text[last.end : s.start] in _JOIN_GAPS
            )
            if joinable:
                best = last if last.score >= s.score else s
                out[-1] = Span(
                    last.start, max(last.end, s.end), last.label, best.score, best.recognizer
                )
                continue
        out.append(s)
    return out


def _has_content(text: str | None, start: int, end: int) -> bool:
    if end <= start:
        return False
    if text is None:
        return True
    return any(ch.isalnum() for ch in text[start:end])


def merge_spans(
    spans: Iterable[Span],
    *,
    text: str | None = None,
    thresholds: Mapping[str, float] | None = None,
    default_threshold: float = 0.0,
) -> list[Span]:
    """Return non-overlapping spans sorted by start; see the module docstring for the rules.

    Args:
        spans: raw hits from any number of recognizers.
        text: the text the spans index (enables joining and trimming checks); optional.
        thresholds: per-label minimum score (label value -> threshold).
        default_threshold: minimum score for labels without an entry.

    Returns:
        Sorted, non-overlapping spans with scores clamped to [0, 1].
    """
    limits = thresholds or {}
    by_label: dict[Category, list[Span]] = {}
    for s in spans:
        if s.end <= s.start:
            continue
        score = _clamp(s.score)
        if score < limits.get(s.label.value, default_threshold):
            continue
        if score != s.score:
            s = Span(s.start, s.end, s.label, score, s.recognizer)
        by_label.setdefault(s.label, []).append(s)
    pieces = [p for label in by_label for p in _union_same_label(by_label[label], text)]
    # Winners first; each later span keeps only what no earlier (better) span covers. The kept
    # ranges never overlap, so bisection finds the few a new piece touches (linear merging, not
    # quadratic, however many spans a text has).
    pieces.sort(key=overlap_key)
    taken = Intervals()
    kept: list[Span] = []
    for s in pieces:
        for a, b in taken.uncovered(s.start, s.end):
            a, b = _trim(text, a, b)
            if _has_content(text, a, b):
                taken.add(a, b)
                kept.append(Span(a, b, s.label, s.score, s.recognizer))
    kept.sort(key=lambda s: (s.start, s.end))
    return kept


def _trim(text: str | None, start: int, end: int) -> tuple[int, int]:
    """Strip whitespace left at the edges of a trimmed piece."""
    if text is None:
        return start, end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


__all__ = ["PRIORITY", "merge_spans", "overlap_key"]
