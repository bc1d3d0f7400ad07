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

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from operator import attrgetter

from pipeline.detect.fastspan import new_span
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
#: One character for which ``str.isalnum()`` is true: ``\w`` less the underscore (``re``
#: defines ``\w`` as ``isalnum()`` or ``_``), so one C-speed search replaces a generator.
_ALNUM_RE = re.compile(r"[^\W_]")
_START_END = attrgetter("start", "end")


def _clamp(score: float) -> float:
    return 0.0 if score < 0.0 else 1.0 if score > 1.0 else score


def overlap_key(s: Span) -> tuple[int, int, float, int, str]:
    """Return the sort key of overlap resolution: a smaller key wins (total, deterministic)."""
    return (_RANK[s.label], -(s.end - s.start), -s.score, s.start, s.recognizer)


def _union_same_label(spans: list[Span], text: str | None) -> list[Span]:
    """Union overlapping (and single-gap adjacent) spans of one label."""
    if len(spans) == 1:
        return spans  # the common case: nothing to union
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out:
            last = out[-1]
            joinable = s.start < last.end or (
                text is not None and text[last.end : s.start] in _JOIN_GAPS
            )
            if joinable:
                best = last if last.score >= s.score else s
                out[-1] = new_span(
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
    # The first character decides most pieces (they were trimmed of whitespace).
    return text[start].isalnum() or _ALNUM_RE.search(text, start, end) is not None


def label_limits(
    thresholds: Mapping[str, float] | None, default_threshold: float
) -> dict[Category, float]:
    """Return the minimum score of every label (``thresholds[label]``, else the default)."""
    limits = thresholds or {}
    return {c: limits.get(c.value, default_threshold) for c in Category}


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
    return merge_with_limits(spans, text, label_limits(thresholds, default_threshold))


def merge_with_limits(
    spans: Iterable[Span], text: str | None, limits: Mapping[Category, float]
) -> list[Span]:
    """:func:`merge_spans` with the per-label minimum scores of :func:`label_limits`.

    The detector computes the limits once, not once per span of every text.
    """
    by_label: dict[Category, list[Span]] = {}
    for s in spans:
        if s.end <= s.start:
            continue
        score = s.score
        if score < 0.0 or score > 1.0:
            score = _clamp(score)
            s = Span(s.start, s.end, s.label, score, s.recognizer)
        if score < limits[s.label]:
            continue
        by_label.setdefault(s.label, []).append(s)
    pieces = [p for label in by_label for p in _union_same_label(by_label[label], text)]
    # Winners first; each later span keeps only what no earlier (better) span covers. The kept
    # ranges never overlap, so bisection finds the few a new piece touches (linear merging, not
    # quadratic, however many spans a text has). The kept ranges are two sorted lists (as in
    # :class:`~pipeline.detect.intervals.Intervals`, inlined: this loop runs for every span).
    pieces.sort(key=overlap_key)
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Span] = []
    for s in pieces:
        start, end = s.start, s.end
        j = bisect_right(ends, start)  # the first kept range that ends after ``start``
        if j == len(starts) or starts[j] >= end:
            parts: list[tuple[int, int]] = [(start, end)]  # touches nothing (most pieces)
        else:
            parts = []
            cursor = start
            while j < len(starts) and starts[j] < end:
                if starts[j] > cursor:
                    parts.append((cursor, starts[j]))
                cursor = max(cursor, ends[j])
                j += 1
            if cursor < end:
                parts.append((cursor, end))
        for a, b in parts:
            a, b = _trim(text, a, b)
            if _has_content(text, a, b):
                k = bisect_left(starts, a)
                starts.insert(k, a)
                ends.insert(k, b)
                # An untouched piece is kept as it is (spans are immutable values).
                kept.append(
                    s if a == start and b == end else new_span(a, b, s.label, s.score, s.recognizer)
                )
    kept.sort(key=_START_END)
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


__all__ = ["PRIORITY", "label_limits", "merge_spans", "merge_with_limits", "overlap_key"]
