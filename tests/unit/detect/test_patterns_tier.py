"""The pattern tier as a whole: contract, registry, offsets, pathological inputs, property test."""

from __future__ import annotations

import logging
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import Settings
from pipeline.detect import registry
from pipeline.detect.patterns import PatternTier
from pipeline.detect.patterns.tier import _drop_contained
from pipeline.detect.registry import Recognizer
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.errors import DetectionError

SAMPLE = (
    "Pt seen 3/4/2019 by Dr. X. Call (201) 555-0100, fax: 201-555-0199. SSN 123-45-6789. "
    "MRN: 00123456. jane.roe@example.org www.example.com 192.168.10.20. 123 Main St. "
    "92 yo. BP 120/80."
)


@lru_cache(maxsize=1)
def tier() -> PatternTier:
    return PatternTier.from_settings(Settings())


def assert_valid(text: str, spans: list[Span]) -> None:
    for span in spans:
        assert 0 <= span.start < span.end <= len(text)
        assert isinstance(span.label, Category)
        assert 0.0 <= span.score <= 1.0
        assert span.recognizer.rpartition(".v")[2].isdigit()


def test_contract() -> None:
    t = tier()
    assert t.name == "pattern_tier.v1"
    assert isinstance(t, Recognizer)
    assert Category.SSN in t.categories and Category.NAME not in t.categories
    by_category = t.detectors_by_category()
    assert "ssn_pattern.v1" in by_category[Category.SSN]
    assert set(by_category) == set(t.categories)
    spans = t.find(SAMPLE)
    assert_valid(SAMPLE, spans)
    labels = {s.label for s in spans}
    assert {Category.DATE, Category.PHONE, Category.FAX, Category.SSN, Category.MRN} <= labels
    assert {Category.EMAIL, Category.URL, Category.IP, Category.GEO} <= labels
    assert Category.AGE_OVER_89 in labels
    assert all(SAMPLE[s.start : s.end] != "120/80" for s in spans)


def test_registered_factory_builds_the_tier() -> None:
    factory = registry.resolve("pattern_tier.v1")
    built = factory(Settings())
    assert built.name == "pattern_tier.v1"
    assert built.find(SAMPLE) == tier().find(SAMPLE)


def test_find_batch_matches_find() -> None:
    texts = [SAMPLE, "", "nothing here", "SSN 123-45-6789"]
    assert tier().find_batch(texts) == [tier().find(t) for t in texts]


def test_empty_text() -> None:
    assert tier().find("") == []


def test_non_ascii_offsets_are_character_offsets() -> None:
    text = "Señora Muñoz — née Ørsted 😀, teléfono 201-555-0100, fecha 14/08/2016, ✉ a@b.com"
    spans = tier().find(text)
    assert_valid(text, spans)
    values = {text[s.start : s.end] for s in spans}
    assert {"201-555-0100", "14/08/2016", "a@b.com"} <= values


def test_lone_surrogates_do_not_break_offsets() -> None:
    text = "\ud800 call 201-555-0100 \udfff"
    spans = tier().find(text)
    assert [text[s.start : s.end] for s in spans if s.label is Category.PHONE] == ["201-555-0100"]


def test_text_over_limit_is_rejected_without_text_in_message() -> None:
    small = PatternTier.from_settings(
        Settings.model_validate({"detection": {"max_text_chars": 10}})
    )
    with pytest.raises(DetectionError) as info:
        small.find("SSN 123-45-6789")
    assert "123-45-6789" not in str(info.value)


def test_repr_and_logs_carry_no_text(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    spans = tier().find(SAMPLE)
    assert "123-45-6789" not in repr(tier())
    assert all("123-45-6789" not in repr(s) for s in spans)
    assert "123-45-6789" not in caplog.text


def test_contained_same_label_spans_are_dropped() -> None:
    text = "Seen March 4th, 2019."
    dates = [s for s in tier().find(text) if s.label is Category.DATE]
    assert [text[s.start : s.end] for s in dates] == ["March 4th, 2019"]


PATHOLOGICAL = [
    "1" * 1_000_000,
    "@." * 200_000,
    " " * 1_000_000,
    "1/2/" * 100_000,
    "12/" * 150_000,
    "a." * 200_000 + "com",
    "x@" * 100_000 + "a.com",
    "9" * 500 + "-" + "9" * 500,
    "#1" * 200_000,
    "MRN " * 100_000,
    ":" * 300_000 + "1",
    "1 " * 300_000,
    "123 Main " * 50_000 + "St",
    # Address anchors and their line grammar: dense anchors, endless lines and long words.
    "#" * 300_000 + "via Aa 1",
    "Hauptstrasse 1 " * 40_000,
    "Apt 1\n" * 100_000,
    "12 Oak Street\n" + "Springfield\n" * 50_000,
    "address: " * 60_000 + "12 Oak",
    "corner of " * 60_000 + "a and b",
    "in 1999 " * 60_000,
    "the 1999 Aa " * 50_000,
    "1/2." * 150_000,
    "1/2/3/4 " * 80_000,
    "pain 4/5 " * 60_000,
    "Rue Aa " + "a" * 500_000,
    # Number-last street lines, "<name> <number> St." and parenthesised phone groups.
    "1 Aa 2\n" * 100_000,
    "Aa 1 St " * 80_000,
    "(301 273 " * 60_000 + "45166)",
    "\u2022 12 Oak Street\n" * 40_000,
]


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=lambda t: f"{t[:6]!r}x{len(t)}")
def test_pathological_inputs_complete(text: str) -> None:
    spans = tier().find(text)
    assert_valid(text, spans)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_unicode_never_crashes(text: str) -> None:
    assert_valid(text, tier().find(text))


ALPHABET = st.sampled_from(
    [*"0123456789/-.:@# ()+xX\naZ,", "MRN", "fax", "é", "😀", "St", "Apt", "Rue", "katu", "Box"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=80).map("".join))
def test_identifier_like_soup_never_crashes(text: str) -> None:
    assert_valid(text, tier().find(text))


def test_dense_identifiers_each_found_once() -> None:
    # Adjacent window-confirmed matches (emails, cards, street addresses) share merged windows.
    values = [f"user{i}@example{i}.com" for i in range(30)] + ["4111 1111 1111 1111"] * 3
    text = " ; é ".join(values) + " 12 Elm Street, 34 Oak Street."
    spans = tier().find(text)
    assert_valid(text, spans)
    emails = [text[s.start : s.end] for s in spans if s.label is Category.EMAIL]
    assert emails == values[:30]
    cards = [s for s in spans if s.label is Category.ACCOUNT]
    assert len(cards) == 3
    streets = {text[s.start : s.end] for s in spans if s.label is Category.GEO}
    assert {"12 Elm Street", "34 Oak Street"} <= streets


def test_equal_spans_keep_the_same_recognizer_whatever_the_report_order() -> None:
    # One scan reports start-tracked, keyword and windowed matches interleaved; the span kept
    # among equal ones must not depend on that order.

    a = Span(0, 5, Category.GEO, 0.8, "b_pattern.v1")
    b = Span(0, 5, Category.GEO, 0.8, "a_pattern.v1")
    assert _drop_contained([a, b]) == _drop_contained([b, a]) == [b]
