"""spaCy tier: case robustness, offsets, chunking, clinical precision."""

import itertools

import pytest

from pipeline.config import load_settings
from pipeline.detect.ner import SpacyNerRecognizer, chunks, truecase
from pipeline.detect.ner import _factory as ner_factory
from pipeline.detect.taxonomy import Category
from pipeline.detect.wordclass import default_word_classes


@pytest.fixture(scope="session")
def ner() -> SpacyNerRecognizer:
    return ner_factory(load_settings())


def texts_of(text, spans, label=None):
    return [text[s.start : s.end] for s in spans if label is None or s.label is label]


def test_loads_only_ner(ner):
    assert ner._nlp.pipe_names == ["ner"]


def test_mixed_case_person_and_place(ner):
    text = "Yesterday Margaret Thornbury flew from Chicago to visit her son."
    spans = ner.find(text)
    assert any("Thornbury" in t for t in texts_of(text, spans, Category.NAME))
    assert "Chicago" in texts_of(text, spans, Category.GEO)


@pytest.mark.parametrize(
    "text",
    [
        "PATIENT SEEN TODAY. MARGARET THORNBURY IS HIS DAUGHTER AND VISITED.",
        "patient seen today. margaret thornbury is his daughter and visited.",
    ],
)
def test_all_caps_and_lower_case_names(ner, text):
    spans = ner.find(text)
    assert any("thornbury" in t.lower() for t in texts_of(text, spans, Category.NAME))


def test_truecase_preserves_length_and_offsets_for_non_ascii():
    words = default_word_classes()
    for text in ["STRASSE ẞ MÜLLER İSTANBUL ŉ DZ ǅ", "ﬁ ﬂ straße ǈ", "JOHN SMITH SAW DR. ÅSTRÖM"]:
        out = truecase(text, words)
        assert len(out) == len(text)
        assert out.lower() == text.lower() or all(
            a.lower() == b.lower() or a == b for a, b in zip(out, text, strict=True)
        )


def test_chunks_cover_text_once_and_are_bounded():
    text = ("line of words here\n" * 800) + ("x" * 12000)
    pieces = list(chunks(text, 5000))
    assert pieces[0][0] == 0 and pieces[-1][1] == len(text)
    assert all(b - a <= 5000 for a, b in pieces)
    assert all(p[1] == q[0] for p, q in itertools.pairwise(pieces))


def test_clinical_vocabulary_is_not_flagged(ner):
    text = (
        "PMH: CAD, NIDDM, HTN. Meds: Lasix 40 mg, Heparin gtt, Lopressor, Zosyn. "
        "Thick tan sputum. Cont to wean levo. Foley to gravity."
    )
    assert ner.find(text) == []


def test_long_text_spans_in_bounds_and_offsets_mapped(ner):
    unit = "Pt stable overnight, labs pending.\n"
    text = unit * 400 + "Spoke with Margaret Thornbury about the plan.\n" + unit * 10
    spans = ner.find(text)
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    assert any(text[s.start : s.end].endswith("Thornbury") for s in spans)


def test_batch_matches_single(ner):
    texts = ["Dr. Margaret Thornbury saw him.", "", "NOTHING HERE", "From Boston to Denver."]
    batch = ner.find_batch(texts)
    assert batch == [ner.find(t) for t in texts]


def test_products_after_treatment_words_are_not_names(ner):
    text = "Pt started on Zorvexa 2g q8h. Dressing covered with Plenix. Restarted Nutrivo at 10cc."
    assert texts_of(text, ner.find(text), Category.NAME) == []


def test_lower_case_words_in_mixed_text_are_not_entities(ner):
    text = "Pt seen by Dr. Thornbury. Skin: receiving nystatin powders, perla, hoyer lift used."
    names = texts_of(text, ner.find(text))
    assert not any(t.islower() for t in names)


@pytest.mark.parametrize(
    ("start_word", "expected"),
    [("started on ", True), ("covered with ", True), ("his friend ", False)],
)
def test_treatment_context_table(start_word, expected):
    from pipeline.detect.ner import _treatment_context

    text = f"Pt {start_word}Zorvexa today."
    a = text.index("Zorvexa")
    assert _treatment_context(text, a, a + len("Zorvexa")) is expected


def test_dose_after_word_is_treatment_context():
    from pipeline.detect.ner import _treatment_context

    text = "Zorvexa 2g given. Margaret visited."
    assert _treatment_context(text, 0, 7)
    b = text.index("Margaret")
    assert not _treatment_context(text, b, b + 8)
