"""Sorted disjoint ranges: the overlap, containment and gap answers a linear scan would give."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.detect.intervals import Intervals
from pipeline.errors import PipelineError


def test_queries():
    iv = Intervals([(10, 20), (30, 40), (20, 25)])
    assert len(iv) == 3
    assert iv.touching(0, 10) == []
    assert iv.touching(15, 32) == [(10, 20), (20, 25), (30, 40)]
    assert iv.overlaps(24, 26) and not iv.overlaps(25, 30)
    assert iv.contains(12, 18) and iv.contains(30, 40)
    assert not iv.contains(18, 22)  # across two ranges that only touch
    iv.add(26, 29)
    assert iv.touching(25, 31) == [(26, 29), (30, 40)]
    with pytest.raises(PipelineError) as info:
        iv.add(35, 45)
    assert info.value.reason == "overlapping_range"


def test_overlapping_input_is_joined():
    iv = Intervals([(0, 5), (3, 8), (8, 9), (7, 7)])
    assert iv.touching(0, 100) == [(0, 8), (8, 9)]


ranges = st.lists(st.tuples(st.integers(0, 200), st.integers(1, 20)), max_size=40)


@given(ranges, st.integers(0, 220), st.integers(1, 30))
def test_matches_a_linear_scan(raw, start, length):
    disjoint: list[tuple[int, int]] = []
    for a, n in raw:  # keep the ranges that do not overlap earlier ones
        if not any(x < a + n and a < y for x, y in disjoint):
            disjoint.append((a, a + n))
    iv = Intervals(disjoint)
    end = start + length
    assert iv.touching(start, end) == sorted((a, b) for a, b in disjoint if a < end and start < b)
    assert iv.overlaps(start, end) == any(a < end and start < b for a, b in disjoint)
    assert iv.contains(start, end) == any(a <= start and end <= b for a, b in disjoint)
    # What no range holds, checked character by character.
    free = [i for i in range(start, end) if not any(a <= i < b for a, b in disjoint)]
    assert [i for a, b in iv.uncovered(start, end) for i in range(a, b)] == free
