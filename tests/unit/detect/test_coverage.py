"""Every shipped profile covers every Safe Harbor label with a detector that runs."""

import pytest

from pipeline.config import load_settings
from pipeline.detect.detector import Detector
from pipeline.detect.profiles import load_profiles, recognizer_names
from pipeline.detect.taxonomy import Category


@pytest.fixture(scope="module", params=sorted(load_profiles()))
def detector(request) -> Detector:
    return Detector.from_settings(load_settings(), profile=request.param)


def test_shipped_profiles_are_fast_and_accurate():
    assert set(load_profiles()) == {"fast", "accurate"}


def test_fast_profile_loads_no_model():
    names = recognizer_names(load_settings(), "fast")
    assert "spacy_ner.v1" not in names and "transformer_onnx.v1" not in names


def test_transformer_joins_accurate_only_when_configured(tmp_path):
    from pipeline.config import ModelSettings

    plain = recognizer_names(load_settings(), "accurate")
    assert "transformer_onnx.v1" not in plain
    configured = load_settings(models=ModelSettings(transformer_path=tmp_path))
    assert "transformer_onnx.v1" in recognizer_names(configured, "accurate")


def test_every_label_has_a_detector(detector):
    missing = sorted(set(Category) - detector.categories)
    assert missing == [], f"profile {detector.profile} covers no detector for {missing}"


def test_coverage_record_lists_detectors_per_label(detector):
    det = detector.detect_full("nothing sensitive here")
    assert det.coverage.uncovered() == []
    for cat in Category:
        entries = det.coverage.entries[cat]
        assert entries and all(e.ran and e.hits == 0 for e in entries)
        assert {e.detector for e in entries} <= {r.name for r in detector.recognizers}
