"""The detection fast paths give exactly what the plain code they replace gives.

Each fast path (slot-writing span constructor, ASCII tokenizer, line-wise signature segments,
inlined span merging, cached coverage plan and label limits) is checked against a direct,
obviously-correct reference written here, on fixed tricky cases and on random texts.
"""

from __future__ import annotations

import dataclasses
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.detect.detector import Detector
from pipeline.detect.fastspan import new_span
from pipeline.detect.intervals import Intervals
from pipeline.detect.merge import merge_spans, overlap_key
from pipeline.detect.name_cues import segments
from pipeline.detect.patterns.tier import PatternTier
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Coverage, CoverageEntry, Span
from pipeline.detect.wordclass import TOKEN_RE, Token, tokenize

# --- new_span -----------------------------------------------------------------------------


def test_new_span_equals_the_dataclass_constructor() -> None:
    fast = new_span(3, 9, Category.NAME, 0.7, "name_context.v1")
    slow = Span(3, 9, Category.NAME, 0.7, "name_context.v1")
    assert type(fast) is Span
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)


def test_new_span_is_still_frozen() -> None:
    span = new_span(0, 1, Category.GEO, 0.5, "x.v1")
    try:
        span.start = 5  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:  # pragma: no cover - a failure path
        raise AssertionError("new_span built a mutable span")
    assert span.start == 0


def test_span_has_nothing_new_span_would_skip() -> None:
    # new_span writes the five slots itself: it stays equivalent only while Span has no
    # __post_init__ and no field with a default or a converter.
    assert not hasattr(Span, "__post_init__")
    fields = dataclasses.fields(Span)
    assert [f.name for f in fields] == ["start", "end", "label", "score", "recognizer"]
    assert all(f.default is dataclasses.MISSING for f in fields)
    assert all(f.default_factory is dataclasses.MISSING for f in fields)


# --- tokenize -----------------------------------------------------------------------------


def _reference_tokens(text: str) -> list[Token]:
    return [
        Token(m.start(), m.end(), m.group(), m.group().lower()) for m in TOKEN_RE.finditer(text)
    ]


_TRICKY = [
    "",
    "   ",
    "O'Neil and Forman-Lyons",
    "FiO2 Q4h 2abc abc2 a1b",
    "O'Neil2 x-y-z- -a 'a' a''b a--b",
    "1abc abc_def _abc",
    "caf\u00e9 na\u00efve \u00dfe \u0130stanbul",
    "O\u2019Brien \u2019s",
    "\u0663abc abc\u0663",
    "\ufb01ne \u4e2d\u6587 e\u0301",
]


def test_tokenize_matches_the_regex_on_tricky_texts() -> None:
    for text in _TRICKY:
        assert tokenize(text) == _reference_tokens(text), text


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="aZq -'_1.\n\t9", max_size=40))
def test_tokenize_ascii_path_matches_the_regex(text: str) -> None:
    assert text.isascii()
    assert tokenize(text) == _reference_tokens(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="a\u00e9 -'\u2019_1\u0663\u0130\u0301", max_size=30))
def test_tokenize_unicode_path_matches_the_regex(text: str) -> None:
    assert tokenize(text) == _reference_tokens(text)


# --- segments -----------------------------------------------------------------------------

_SEGMENT_RE = re.compile(r"(?:[^\n \t]+|[ \t]{1,2}(?![ \t]))+")


def _reference_segments(text: str) -> list[tuple[int, int]]:
    out = []
    for m in _SEGMENT_RE.finditer(text):
        a, b = m.span()
        if b - a > 66:
            continue
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if 0 < b - a <= 60:
            out.append((a, b))
    return out


def test_segments_skip_long_lines_only() -> None:
    long_line = "word " * 30
    text = f"{long_line}\nDan A. Forman\n  x   y  \n\t\tTab  line \n{'z' * 70}\n   J Smith   "
    assert segments(text) == _reference_segments(text)
    assert (len(long_line) + 1, len(long_line) + 14) in segments(text)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(["ab", " ", "\t", "\n", "\r", ".", "xxxxxxxxxxxxxxxxxxxx"]), max_size=30
    )
)
def test_segments_match_the_whole_text_regex(parts: list[str]) -> None:
    text = "".join(parts)
    assert segments(text) == _reference_segments(text)


# --- merge --------------------------------------------------------------------------------


def _reference_merge(
    spans: list[Span], text: str | None, limits: dict[str, float], default: float
) -> list[Span]:
    """The merge rules written plainly (per-span threshold look-ups, an Intervals object)."""
    by_label: dict[Category, list[Span]] = {}
    for s in spans:
        if s.end <= s.start:
            continue
        score = min(1.0, max(0.0, s.score))
        if score < limits.get(s.label.value, default):
            continue
        by_label.setdefault(s.label, []).append(Span(s.start, s.end, s.label, score, s.recognizer))
    pieces: list[Span] = []
    for group in by_label.values():
        out: list[Span] = []
        for s in sorted(group, key=lambda s: (s.start, -s.end)):
            if out and (
                s.start < out[-1].end
                or (text is not None and text[out[-1].end : s.start] in (" ", "-"))
            ):
                last = out[-1]
                best = last if last.score >= s.score else s
                out[-1] = Span(
                    last.start, max(last.end, s.end), last.label, best.score, best.recognizer
                )
            else:
                out.append(s)
        pieces.extend(out)
    pieces.sort(key=overlap_key)
    taken = Intervals()
    kept = []
    for s in pieces:
        for a, b in taken.uncovered(s.start, s.end):
            while text is not None and a < b and text[a].isspace():
                a += 1
            while text is not None and b > a and text[b - 1].isspace():
                b -= 1
            if b > a and (text is None or any(ch.isalnum() for ch in text[a:b])):
                taken.add(a, b)
                kept.append(Span(a, b, s.label, s.score, s.recognizer))
    kept.sort(key=lambda s: (s.start, s.end))
    return kept


_LABELS = [Category.NAME, Category.GEO, Category.DATE, Category.PHONE, Category.MRN]
_TEXT = "Mary Souza - 12 Elm St, (555) 123-4567 \u00e9t\u00e9 __ .. x"


@st.composite
def _span_lists(draw: st.DrawFn) -> list[Span]:
    n = len(_TEXT)
    out = []
    for _ in range(draw(st.integers(0, 10))):
        a = draw(st.integers(0, n))
        b = draw(st.integers(max(0, a - 2), min(n, a + 14)))
        score = draw(st.sampled_from([0.0, 0.2, 0.3, 0.5, 0.9, 1.0, 1.3, -0.2]))
        label = draw(st.sampled_from(_LABELS))
        out.append(Span(a, b, label, score, draw(st.sampled_from(["a.v1", "b.v1"]))))
    return out


@settings(max_examples=500, deadline=None)
@given(
    _span_lists(), st.booleans(), st.sampled_from([{}, {"NAME": 0.5}, {"GEO": 0.4, "DATE": 0.1}])
)
def test_merge_matches_the_plain_rules(
    spans: list[Span], with_text: bool, limits: dict[str, float]
) -> None:
    text = _TEXT if with_text else None
    got = merge_spans(list(spans), text=text, thresholds=limits, default_threshold=0.3)
    assert got == _reference_merge(spans, text, limits, 0.3)


def test_merge_keeps_an_untouched_span_as_is() -> None:
    span = Span(0, 4, Category.NAME, 0.8, "a.v1")
    (out,) = merge_spans([span], text="Mary came")
    assert out is span


# --- detector: coverage plan and label limits ----------------------------------------------


def _detector(**kwargs: object) -> Detector:
    from pipeline.config import load_settings

    return Detector([PatternTier.from_settings(load_settings())], **kwargs)  # type: ignore[arg-type]


def test_coverage_equals_one_entry_per_recognizer_and_label() -> None:
    det = _detector()
    text = "Call 555-123-4567 on 03/18/2024, SSN 466-84-4578."
    detection = det.detect_full(text)
    rec = det.recognizers[0]
    hits: dict[Category, int] = {}
    for s in rec.find(text):
        hits[s.label] = hits.get(s.label, 0) + 1
    expected = Coverage(
        {
            cat: tuple(
                CoverageEntry(r.name, True, hits.get(cat, 0))
                for r in det.recognizers
                if cat in r.categories
            )
            for cat in Category
        }
    )
    assert detection.coverage == expected
    assert list(detection.coverage.entries) == list(Category)


def test_thresholds_changed_after_construction_are_honoured() -> None:
    det = _detector()
    text = "Call 555-123-4567 today."
    assert det.detect(text)
    det.default_threshold = 1.01  # nothing scores above 1
    assert det.detect(text) == []
    assert all(e.hits == 0 for es in det.detect_full(text).coverage.entries.values() for e in es)
    det.default_threshold = 0.0
    det.thresholds["PHONE"] = 1.01
    assert not any(s.label is Category.PHONE for s in det.detect(text))
