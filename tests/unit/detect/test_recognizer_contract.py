"""Contract over every registered recognizer: spans in bounds, labels valid, scores in [0, 1].

Includes a property test: arbitrary Unicode never crashes a recognizer or the detector.
"""

import contextlib
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import load_settings
from pipeline.detect.detector import Detector
from pipeline.detect.profiles import RECOGNIZER_MODULES, import_recognizer_module
from pipeline.detect.registry import Recognizer, registered, resolve
from pipeline.detect.taxonomy import Category
from pipeline.errors import ConfigError

SAMPLES = [
    "",
    " ",
    "Dr. Quentin Abernathy saw the pt on 03/14/2021 at Holy Cross Hospital.",
    "PT TRANSFERRED FROM CALVERT. WIFE HELEN PENNINGTON AWARE. CALL 410-555-0199.",
    "lives in catonsville, ssn 123-45-6789, email q.abernathy@example.org, ip 10.0.0.1",
    "ẞ straße İstanbul ǅ — 東京 👩‍⚕️ \u200b\u0000 Müller-Lüdenscheidt",
    "x" * 5000,
]


def _build_all() -> dict[str, Recognizer]:
    for name in RECOGNIZER_MODULES:
        with contextlib.suppress(ConfigError):
            import_recognizer_module(name)
    built = {}
    for name in registered():
        try:
            built[name] = resolve(name)(load_settings())
        except ConfigError:
            continue  # e.g. the transformer tier without a configured model
    return built


RECOGNIZERS = _build_all()


def test_the_shipped_recognizers_are_registered():
    assert {"name_context.v1", "location_context.v1", "spacy_ner.v1"} <= set(RECOGNIZERS)


@pytest.mark.parametrize("name", sorted(RECOGNIZERS))
def test_contract(name):
    rec = RECOGNIZERS[name]
    assert isinstance(rec, Recognizer)
    assert rec.name == name
    assert rec.categories and rec.categories <= set(Category)
    batch = rec.find_batch(SAMPLES)
    assert len(batch) == len(SAMPLES)
    for text, spans in zip(SAMPLES, batch, strict=True):
        for s in spans:
            assert 0 <= s.start < s.end <= len(text)
            assert s.label in rec.categories
            assert 0.0 <= s.score <= 1.0
            assert s.recognizer.rpartition(".v")[2].isdigit()


FAST = Detector.from_settings(load_settings(), profile="fast")
CHEAP = [r for n, r in sorted(RECOGNIZERS.items()) if n != "spacy_ner.v1"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_unicode_never_crashes(text):
    for rec in CHEAP:
        for s in rec.find(text):
            assert 0 <= s.start < s.end <= len(text)
    spans = FAST.detect(text)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start
    assert all(0 <= s.start < s.end <= len(text) for s in spans)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=4))
def test_arbitrary_unicode_spacy_batch(texts):
    rec = RECOGNIZERS["spacy_ner.v1"]
    for text, spans in zip(texts, rec.find_batch(texts), strict=True):
        assert all(0 <= s.start < s.end <= len(text) for s in spans)
