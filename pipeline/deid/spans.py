"""Span bookkeeping before the operators run: overlaps, age tails, propagation, tag groups.

Pure functions over the detector's spans and the input text, used by
:class:`pipeline.deid.engine.Deidentifier` (and importable from there, as before).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pipeline.deid.context import DeidContext, normalise
from pipeline.deid.names import KEEP_WORDS
from pipeline.deid.textscan import word_matches
from pipeline.detect.intervals import Intervals
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span

NAME_WORD_RE = re.compile(r"[^\W\d_]{4,}")
_AGE_TAIL = re.compile(r"^(?:-|\s)?(?:years?[- ]old|y/?o|yrs?(?: old)?)\b", re.IGNORECASE)


def resolve_overlaps(spans: Iterable[Span], length: int) -> list[Span]:
    """Return non-overlapping spans in text order.

    Same-label spans that overlap or touch are merged; between labels, the longer span wins (then
    the higher score), because replacing the larger region never leaves part of an identifier.
    """
    valid = sorted(
        (s for s in spans if 0 <= s.start < s.end <= length),
        key=lambda s: (s.start, -(s.end - s.start)),
    )
    out: list[Span] = []
    for span in valid:
        if (
            out
            and span.start <= out[-1].end
            and (span.label == out[-1].label or span.start < out[-1].end)
        ):
            prev = out[-1]
            if span.label == prev.label:
                out[-1] = Span(
                    prev.start,
                    max(prev.end, span.end),
                    prev.label,
                    max(prev.score, span.score),
                    prev.recognizer,
                )
                continue
            keep_prev = (prev.end - prev.start, prev.score) >= (span.end - span.start, span.score)
            winner = prev if keep_prev else span
            out[-1] = Span(
                prev.start, max(prev.end, span.end), winner.label, winner.score, winner.recognizer
            )
            continue
        out.append(span)
    return out


def extend_ages(text: str, spans: list[Span]) -> list[Span]:
    """Let an AGE_OVER_89 span swallow a following "-year-old"/"yo" so "90 or older" reads well."""
    out = []
    for i, span in enumerate(spans):
        if span.label == Category.AGE_OVER_89:
            limit = spans[i + 1].start if i + 1 < len(spans) else len(text)
            m = _AGE_TAIL.match(text[span.end : limit])
            if m:
                span = Span(span.start, span.end + m.end(), span.label, span.score, span.recognizer)
        out.append(span)
    return out


def propagate(text: str, spans: Sequence[Span], *, min_chars: int = 4) -> list[Span]:
    """Add a span for every other verbatim occurrence of a detected value.

    Detection often finds an identifier once and misses its repetition ("MADRID" in the header
    and again in the history). Every detected value of ``min_chars`` or more, and each word of a
    detected name written capitalised as it was, is searched again at word boundaries; the
    leak gate would otherwise quarantine the record for the missed repetition.
    """
    taken = Intervals((s.start, s.end) for s in spans)
    needles: dict[str, tuple[Category, bool]] = {}
    name = Category.NAME  # an enum member lookup, hoisted out of the loop
    for span in spans:
        value = text[span.start : span.end].strip()
        # (A value starting with an alphanumeric answers ``any`` at once, without a
        # generator: most do.)
        if len(value) >= min_chars and (value[:1].isalnum() or any(c.isalnum() for c in value)):
            needles.setdefault(value, (span.label, False))
        if span.label == name:
            for word in NAME_WORD_RE.findall(value):
                if word[0].isupper() and word.casefold() not in KEEP_WORDS:
                    needles.setdefault(word, (span.label, True))
                    needles.setdefault(word.upper(), (span.label, True))
    added: list[Span] = []
    lowered = text.lower()
    for needle in sorted(needles, key=len, reverse=True):
        label, case_sensitive = needles[needle]
        for start, end in word_matches(
            text, needle, ignore_case=not case_sensitive, lowered=lowered
        ):
            if taken.overlaps(start, end):
                continue
            taken.add(start, end)
            added.append(Span(start, end, label, 0.5, "deid_propagate.v1"))
    return [*spans, *added]


def aligned_name_words(surrogate: str, original: str) -> list[tuple[str, str]]:
    """Pairs (surrogate word, original word) of a name surrogate, when the layout matches."""

    def words(value: str) -> list[str]:
        found = re.findall(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*", value)
        return [w for w in found if len(w) > 1 and normalise(w) not in KEEP_WORDS]

    new, old = words(surrogate), words(original)
    if len(new) != len(old) or len(new) < 2:
        return []
    return [(n, o) for n, o in zip(new, old, strict=True) if n != o]


def name_words(value: str) -> frozenset[str]:
    """The normalised words of a name mention, titles and particles left out."""
    words = re.findall(r"[^\W\d_]+", normalise(value))
    return frozenset(w for w in words if len(w) > 1 and w not in KEEP_WORDS)


def prepare_tags(ctx: DeidContext, text: str, spans: Sequence[Span]) -> None:
    """Group mentions of one person and number tags in text order.

    A name mention whose words are a subset of a longer mention's ("Smith" in "John Smith")
    joins that mention's group, so both get ``[NAME_1]``. A label's numbers depend only on the
    spans of that label, so a caller may pass just the spans of the labels it tags.
    """
    groups: list[tuple[str, frozenset[str]]] = []
    name_label = Category.NAME.value
    # (words, start, normalised value) of each name mention, each computed once.
    names: list[tuple[frozenset[str], int, str]] = []
    for s in spans:
        if s.label == Category.NAME:
            value = text[s.start : s.end]
            names.append((name_words(value), s.start, normalise(value)))
    for words, _start, norm in sorted(names, key=lambda n: (-len(n[0]), n[1])):
        group = next((g for g, gw in groups if words and words <= gw), None)
        if group is None:
            group = " ".join(sorted(words)) or norm
            groups.append((group, words))
        ctx.tag_groups[(name_label, norm)] = group
    # Numbers run per label in order of first appearance: count each label's groups as they
    # come instead of recounting every number given so far.
    counts: dict[str, int] = {}
    for lab, _ in ctx.tag_numbers:
        counts[lab] = counts.get(lab, 0) + 1
    for span in spans:
        label = span.label.value
        norm = normalise(text[span.start : span.end])
        key = (label, ctx.tag_groups.get((label, norm), norm))
        if key not in ctx.tag_numbers:
            counts[label] = ctx.tag_numbers[key] = counts.get(label, 0) + 1
