import itertools

import pytest

from pipeline.detect.merge import PRIORITY, merge_spans
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span


def sp(a, b, label=Category.NAME, score=0.5, rec="r.v1"):
    return Span(a, b, label, score, rec)


def test_priority_covers_every_label_once():
    assert sorted(PRIORITY) == sorted(Category)


def test_same_label_overlaps_union_and_keep_best_recognizer():
    out = merge_spans([sp(0, 5, score=0.4, rec="a.v1"), sp(3, 9, score=0.9, rec="b.v1")])
    assert out == [sp(0, 9, score=0.9, rec="b.v1")]


def test_adjacent_same_label_joined_over_one_space():
    text = "Mary Souza came"
    out = merge_spans([sp(0, 4), sp(5, 10)], text=text)
    assert [(s.start, s.end) for s in out] == [(0, 10)]


def test_pieces_not_joined_over_punctuation():
    text = "Mary, Souza"
    out = merge_spans([sp(0, 4), sp(6, 11)], text=text)
    assert [(s.start, s.end) for s in out] == [(0, 4), (6, 11)]


def test_category_priority_wins_then_loser_keeps_outside_parts():
    text = "call 555-123-4567 ext"
    phone = sp(5, 17, Category.PHONE, 0.5)
    name = sp(0, 21, Category.NAME, 0.99)
    out = merge_spans([name, phone], text=text)
    labels = [(s.start, s.end, s.label) for s in out]
    assert (5, 17, Category.PHONE) in labels
    assert (0, 4, Category.NAME) in labels and (18, 21, Category.NAME) in labels
    # no overlaps remain
    for a, b in itertools.pairwise(out):
        assert a.end <= b.start


def test_same_priority_longest_then_score():
    a = sp(0, 4, Category.GEO, 0.9)
    b = sp(2, 10, Category.GEO, 0.1)
    # same label: union, not a contest
    assert merge_spans([a, b])[0].end == 10
    n = sp(0, 10, Category.NAME, 0.2)
    g = sp(0, 10, Category.GEO, 0.1)
    assert merge_spans([n, g])[0].label is Category.GEO  # GEO ranks above NAME


def test_thresholds_per_label_and_default():
    spans = [sp(0, 3, Category.NAME, 0.4), sp(5, 8, Category.DATE, 0.4)]
    out = merge_spans(spans, thresholds={"NAME": 0.5}, default_threshold=0.3)
    assert [s.label for s in out] == [Category.DATE]


def test_scores_clamped_and_empty_spans_dropped():
    out = merge_spans([sp(0, 3, score=1.7), sp(4, 4)])
    assert [s.score for s in out] == [1.0]


def test_trimmed_remainder_without_content_dropped():
    text = "ab - 12/03"
    date = sp(5, 10, Category.DATE)
    name = sp(3, 10, Category.NAME)  # remainder "- " has no letter or digit
    assert merge_spans([name, date], text=text) == [date]


@pytest.mark.parametrize("perm", list(itertools.permutations(range(4))))
def test_result_independent_of_input_order(perm):
    spans = [
        sp(0, 6, Category.NAME, 0.5, "a.v1"),
        sp(4, 12, Category.DATE, 0.6, "b.v1"),
        sp(10, 14, Category.GEO, 0.7, "c.v1"),
        sp(13, 20, Category.NAME, 0.3, "d.v1"),
    ]
    text = "x" * 20
    base = merge_spans(spans, text=text)
    assert merge_spans([spans[i] for i in perm], text=text) == base
