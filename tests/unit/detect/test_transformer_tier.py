"""Transformer tier over a tiny ONNX token classifier built at test time (no torch, no hub).

All PHI here is synthetic.
"""

from __future__ import annotations

import json
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from pipeline.config import DetectionSettings, ModelSettings, load_settings
from pipeline.detect.registry import Recognizer, resolve
from pipeline.detect.taxonomy import Category
from pipeline.detect.transformer_labels import (
    BUILTIN_LABEL_MAP,
    Word,
    age_over_89,
    decode_entities,
    load_label_map,
    split_tag,
)
from pipeline.detect.transformer_tier import (
    NAME,
    TransformerOptions,
    TransformerRecognizer,
    plan_windows,
)
from pipeline.errors import ConfigError
from tests.support.tiny_token_model import build_tiny_model

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", token_type_ids=True)


@pytest.fixture(scope="session")
def blind_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("blind") / "model", edge_blind=2)


@pytest.fixture(scope="session")
def recognizer(model_dir: Path) -> TransformerRecognizer:
    return TransformerRecognizer(TransformerOptions(model_dir, batch_size=4))


def found(rec: TransformerRecognizer, text: str) -> list[tuple[str, Category]]:
    return [(text[s.start : s.end], s.label) for s in rec.find(text)]


# -- alignment -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "Zabrinski" is three word pieces (zab ##rin ##ski, the last one predicting O): the
        # span still covers the whole word.
        ("seen Zabrinski today", [("Zabrinski", Category.NAME)]),
        ("Zabrinski.", [("Zabrinski", Category.NAME)]),
        # punctuation next to words, runs of spaces, tabs and newlines
        ("by  Dr   Kowal ,\tat\n\nMercy   General.", None),
        (
            "(John Smith): call 555-0199.",
            [("John Smith", Category.NAME), ("555-0199", Category.PHONE)],
        ),
        # non-ASCII: accents stripped by the normaliser, offsets still index the original text
        ("pt José Núñez", [("José Núñez", Category.NAME)]),
        ("🙂 日本 José Núñez ✓ note", [("José Núñez", Category.NAME)]),
        ("the patient was seen", []),
        ("", []),
        ("   \n ", []),
    ],
)
def test_alignment(
    recognizer: TransformerRecognizer, text: str, expected: list[tuple[str, Category]] | None
) -> None:
    if expected is None:
        expected = [("Kowal", Category.NAME), ("Mercy   General", Category.GEO)]
    assert found(recognizer, text) == expected
    for span in recognizer.find(text):
        assert 0 <= span.start < span.end <= len(text)
        assert text[span.start] not in " \t\n" and text[span.end - 1] not in " \t\n"


def test_subword_offsets_exact(recognizer: TransformerRecognizer) -> None:
    text = "note: Zabrinski, March 3rd 2021"
    spans = recognizer.find(text)
    assert [(s.start, s.end, s.label) for s in spans] == [
        (6, 15, Category.NAME),
        (17, 31, Category.DATE),
    ]
    # the word's score is the PATIENT mass averaged over its three pieces (two say PATIENT)
    assert 0.6 < spans[0].score < 0.7


@pytest.fixture(scope="session")
def byte_level(tmp_path_factory: pytest.TempPathFactory) -> TransformerRecognizer:
    path = build_tiny_model(tmp_path_factory.mktemp("bpe") / "model", byte_level=True)
    return TransformerRecognizer(TransformerOptions(path))


def test_byte_level_bpe_tokenizer(byte_level: TransformerRecognizer) -> None:
    # RoBERTa-style: <s> ... </s>, spaces folded into tokens, whitespace-only "Ġ" tokens between
    # words of one entity must not split it.
    text = "seen by  Dr   Kowal , at Mercy   General . John  Smith on March"
    assert found(byte_level, text) == [
        ("Kowal", Category.NAME),
        ("Mercy   General", Category.GEO),
        ("John  Smith", Category.NAME),
        ("March", Category.DATE),
    ]
    long_text = " ".join([text] * 60)  # ~1,300 tokens: three 512-token windows
    assert len(byte_level.find(long_text)) == 4 * 60
    assert byte_level.find_batch([text, long_text]) == [
        byte_level.find(text),
        byte_level.find(long_text),
    ]


def test_tokenizer_json_truncation_is_ignored(model_dir: Path, tmp_path: Path) -> None:
    # Exports sometimes save tokenizer.json with truncation/padding on; windowing must still see
    # every token of a long text.
    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    backend = Tokenizer.from_file(str(copy / "tokenizer.json"))
    backend.enable_truncation(16)
    backend.enable_padding(length=16)
    backend.save(str(copy / "tokenizer.json"))
    rec = TransformerRecognizer(TransformerOptions(copy, max_length=16, stride=4))
    assert len(rec.find(" ".join(["John Smith was seen"] * 10))) == 10


# -- label mapping -----------------------------------------------------------------------------


def test_bio_joining_and_mapping(recognizer: TransformerRecognizer) -> None:
    text = "on March 3rd 2021 Dr Kowal at Mercy General , nurse , age 92 and 45"
    assert found(recognizer, text) == [
        ("March 3rd 2021", Category.DATE),  # B-DATE I-DATE I-DATE joined
        ("Kowal", Category.NAME),  # I-DOCTOR with no B-DOCTOR before it
        ("Mercy General", Category.GEO),  # HOSPITAL -> GEO
        ("92", Category.AGE_OVER_89),  # AGE kept only when over 89; PROFESSION dropped
    ]


def test_scores_and_recognizer_name(recognizer: TransformerRecognizer) -> None:
    spans = recognizer.find("John Smith on March 3rd 2021 call 555-0199 age 92 Zabrinski")
    assert len(spans) == 5
    for span in spans:
        assert 0.0 <= span.score <= 1.0
        assert span.recognizer == NAME == "transformer_onnx.v1"


def test_categories_from_model_labels(recognizer: TransformerRecognizer) -> None:
    assert recognizer.categories == frozenset(
        {Category.NAME, Category.DATE, Category.GEO, Category.AGE_OVER_89, Category.PHONE}
    )
    assert isinstance(recognizer, Recognizer)


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("O", ("O", None)),
        ("B-PATIENT", ("B", "PATIENT")),
        ("I-LOCATION-OTHER", ("I", "LOCATION-OTHER")),
        ("U-HOSP", ("U", "HOSP")),
        ("L_date", ("L", "DATE")),
        ("AGE", ("I", "AGE")),  # IO scheme
        ("ID", ("I", "ID")),  # not an "I-" prefix
        ("LOCATION_OTHER", ("I", "LOCATION-OTHER")),
    ],
)
def test_split_tag(tag: str, expected: tuple[str, str | None]) -> None:
    assert split_tag(tag) == expected


def _words(*tags: str) -> list[Word]:
    out = []
    for i, tag in enumerate(tags):
        prefix, entity_type = split_tag(tag)
        out.append(Word(i * 10, i * 10 + 5, prefix, entity_type, 0.5 + i / 100))
    return out


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (("B-DATE", "I-DATE", "O"), [(0, 15, "DATE")]),
        (("I-DATE", "I-DATE"), [(0, 15, "DATE")]),  # I without B
        (("B-DATE", "B-DATE"), [(0, 5, "DATE"), (10, 15, "DATE")]),
        (("B-DATE", "I-AGE"), [(0, 5, "DATE"), (10, 15, "AGE")]),  # type change splits
        (("B-DATE", "O", "I-DATE"), [(0, 5, "DATE"), (20, 25, "DATE")]),
        (("B-ID", "L-ID", "I-ID"), [(0, 15, "ID"), (20, 25, "ID")]),  # BILOU: L closes
        (("U-ID", "U-ID"), [(0, 5, "ID"), (10, 15, "ID")]),
        (("S-ID", "B-ID", "E-ID"), [(0, 5, "ID"), (10, 25, "ID")]),  # BIOES
        (("PATIENT", "PATIENT", "O", "PATIENT"), [(0, 15, "PATIENT"), (30, 35, "PATIENT")]),
        (("O", "O"), []),
    ],
)
def test_decode_entities(tags: tuple[str, ...], expected: list[tuple[int, int, str]]) -> None:
    entities = decode_entities(_words(*tags))
    assert [(e.start, e.end, e.entity_type) for e in entities] == expected
    assert all(0.0 <= e.score <= 1.0 for e in entities)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("92", True), ("90", True), ("89", False), ("45", False), ("ninety-one", True)],
)
def test_age_over_89(text: str, expected: bool) -> None:
    assert age_over_89(text) is expected


def test_builtin_map_covers_i2b2_2014() -> None:
    expected = {
        "PATIENT": Category.NAME,
        "DOCTOR": Category.NAME,
        "USERNAME": Category.NAME,
        "HOSPITAL": Category.GEO,
        "STREET": Category.GEO,
        "CITY": Category.GEO,
        "ZIP": Category.GEO,
        "LOCATION-OTHER": Category.GEO,
        "DATE": Category.DATE,
        "AGE": Category.AGE_OVER_89,
        "PHONE": Category.PHONE,
        "FAX": Category.FAX,
        "EMAIL": Category.EMAIL,
        "URL": Category.URL,
        "MEDICALRECORD": Category.MRN,
        "HEALTHPLAN": Category.HEALTH_PLAN,
        "IDNUM": Category.OTHER_ID,
        "DEVICE": Category.DEVICE,
        "BIOID": Category.BIOMETRIC,
    }
    assert {k: BUILTIN_LABEL_MAP[k] for k in expected} == expected
    assert BUILTIN_LABEL_MAP["PROFESSION"] is None and BUILTIN_LABEL_MAP["COUNTRY"] is None


def test_label_map_override(model_dir: Path, tmp_path: Path) -> None:
    override = tmp_path / "map.yaml"
    override.write_text("version: 1\nlabels:\n  profession: OTHER_ID\n  HOSPITAL: drop\n")
    rec = TransformerRecognizer(TransformerOptions(model_dir, label_map=override))
    text = "nurse at Mercy General"
    assert found(rec, text) == [("nurse", Category.OTHER_ID)]
    assert Category.GEO not in rec.categories and Category.OTHER_ID in rec.categories


def test_label_map_in_model_dir_is_picked_up(model_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    (copy / "phi_label_map.yaml").write_text("extends_builtin: false\nlabels:\n  DATE: DATE\n")
    rec = TransformerRecognizer(TransformerOptions(copy))
    assert rec.categories == frozenset({Category.DATE})
    assert found(rec, "John Smith on March 3rd") == [("March 3rd", Category.DATE)]


@pytest.mark.parametrize(
    "content",
    ["labels:\n  PATIENT: PERSON\n", "labels: [1, 2\n", "labels: {}\nextra: 1\n"],
)
def test_bad_label_map(tmp_path: Path, content: str) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError):
        load_label_map(path)


@pytest.mark.parametrize("path", sorted((REPO / "models" / "label_maps").glob("*.yaml")))
def test_shipped_label_maps_validate(path: Path) -> None:
    assert load_label_map(path)


# -- long texts: windows and overlap reconciliation -------------------------------------------


FILLER = ["the", "patient", "was", "seen", "in", "clinic", "for", "follow", "up"]


def _long_text(before: int, after: int) -> tuple[str, int]:
    head = " ".join(FILLER[i % len(FILLER)] for i in range(before))
    tail = " ".join(FILLER[i % len(FILLER)] for i in range(after))
    text = f"{head} John Smith {tail}"
    return text, len(head) + 1


def test_long_text_entity_found_once_at_every_position(blind_model_dir: Path) -> None:
    # max_length 16 -> 14 content tokens per window, 6 shared with the next window. The model
    # cannot see entities within 2 tokens of a window edge, so only a reconciliation that keeps
    # each token's most central prediction finds the name wherever the windows fall.
    rec = TransformerRecognizer(TransformerOptions(blind_model_dir, max_length=16, stride=6))
    for before in range(2, 40):
        text, start = _long_text(before, 44 - before)
        assert [(s.start, s.end, s.label) for s in rec.find(text)] == [
            (start, start + len("John Smith"), Category.NAME)
        ], before


def test_edge_blind_model_misses_names_without_overlap(blind_model_dir: Path) -> None:
    # Control for the test above: with no overlap some positions fall on a blind window edge.
    rec = TransformerRecognizer(TransformerOptions(blind_model_dir, max_length=16, stride=0))
    misses = [b for b in range(2, 40) if len(rec.find(_long_text(b, 44 - b)[0])) != 1]
    assert misses


def test_long_text_many_entities(recognizer: TransformerRecognizer, model_dir: Path) -> None:
    small = TransformerRecognizer(TransformerOptions(model_dir, max_length=20, stride=5))
    text = " ".join(f"seen Zabrinski on March 3rd , age 92 , {i % 7} x" for i in range(50))
    long_spans = small.find(text)
    assert long_spans == recognizer.find(text)  # one 512-token window vs ~20 small windows
    assert sum(s.label is Category.NAME for s in long_spans) == 50
    assert sum(s.label is Category.AGE_OVER_89 for s in long_spans) == 50


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 300), content=st.integers(2, 40), data=st.data())
def test_plan_windows_partition(n: int, content: int, data: st.DataObject) -> None:
    stride = data.draw(st.integers(0, content - 1))
    windows = plan_windows(n, content, stride)
    owned = [i for _, _, lo, hi in windows for i in range(lo, hi)]
    assert owned == list(range(n))
    for k, (start, end, lo, hi) in enumerate(windows):
        assert 0 <= start <= lo < hi <= end <= n
        assert end - start == min(content, n)
        if k:
            assert start - windows[k - 1][0] <= content - stride  # overlap >= stride
        for i in range(lo, hi):  # owner = window where i is furthest from an edge
            best = max(min(i - s, e - 1 - i) for s, e, _, _ in windows if s <= i < e)
            assert min(i - start, end - 1 - i) == best


# -- batching ----------------------------------------------------------------------------------


def test_batch_equals_single(recognizer: TransformerRecognizer) -> None:
    texts = [
        "John Smith",
        "",
        "pt José Núñez on March 3rd 2021",
        " ".join(["Zabrinski seen at Mercy General , call 555-0199 ."] * 60),  # > 512 tokens
        "the patient was seen",
        "age 92",
    ]
    assert recognizer.find_batch(texts) == [recognizer.find(t) for t in texts]
    assert recognizer.find_batch([]) == []


def test_concurrent_calls(recognizer: TransformerRecognizer) -> None:
    texts = [f"{'the patient ' * i}John Smith on March 3rd 2021" for i in range(40)]
    expected = [recognizer.find(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(recognizer.find, texts)) == expected


# -- configuration -----------------------------------------------------------------------------


def test_registered_factory_and_env(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHI_MODELS__TRANSFORMER_PATH", str(model_dir))
    monkeypatch.setenv("PHI_MODELS__TRANSFORMER_MAX_LENGTH", "64")
    monkeypatch.setenv("PHI_MODELS__TRANSFORMER_STRIDE", "16")
    rec = resolve("transformer_onnx.v1")(load_settings())
    assert rec.name == "transformer_onnx.v1"
    assert rec.find_batch(["call 555-0199"])[0][0].label is Category.PHONE


def test_factory_off_unless_configured() -> None:
    with pytest.raises(ConfigError, match="transformer_path"):
        resolve("transformer_onnx.v1")(load_settings(models=ModelSettings()))


def _broken(model_dir: Path, tmp_path: Path, remove: str) -> Path:
    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    (copy / remove).unlink()
    return copy


@pytest.mark.parametrize("remove", ["model.onnx", "config.json"])
def test_missing_files(model_dir: Path, tmp_path: Path, remove: str) -> None:
    path = _broken(model_dir, tmp_path, remove)
    settings_ = load_settings(models=ModelSettings(transformer_path=path))
    with pytest.raises(ConfigError, match=remove):
        resolve("transformer_onnx.v1")(settings_)


def test_missing_tokenizer(model_dir: Path, tmp_path: Path) -> None:
    path = _broken(model_dir, tmp_path, "tokenizer.json")
    (path / "tokenizer_config.json").unlink()
    with pytest.raises(ConfigError, match=r"tokenizer\.json"):
        TransformerRecognizer(TransformerOptions(path))


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        TransformerRecognizer(TransformerOptions(tmp_path / "nope"))


def test_config_without_id2label(model_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    (copy / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ConfigError, match="id2label"):
        TransformerRecognizer(TransformerOptions(copy))


def test_label_count_mismatch(model_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    config = json.loads((copy / "config.json").read_text())
    config["id2label"][str(len(config["id2label"]))] = "B-EXTRA"
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="labels"):
        TransformerRecognizer(TransformerOptions(copy))


def test_corrupt_tokenizer(model_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    (copy / "tokenizer.json").write_text('{"model": {"type": "Nope"}}')
    with pytest.raises(ConfigError, match="tokenizer"):
        TransformerRecognizer(TransformerOptions(copy))


@pytest.mark.parametrize(
    ("extra", "window"),
    [
        ({"max_position_embeddings": 24}, 24),
        ({"max_position_embeddings": 26, "model_type": "roberta", "pad_token_id": 1}, 24),
        ({}, 64),
    ],
)
def test_window_capped_by_position_embeddings(
    model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, extra: dict, window: int
) -> None:
    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    config = json.loads((copy / "config.json").read_text()) | extra
    (copy / "config.json").write_text(json.dumps(config))
    caplog.set_level(logging.INFO)
    rec = TransformerRecognizer(TransformerOptions(copy, max_length=64, stride=4))
    assert f"window {window} tokens" in caplog.text
    text = " ".join(["John Smith was seen"] * 30)
    assert len(rec.find(text)) == 30


def test_corrupt_onnx(model_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    (copy / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match=r"model\.onnx"):
        TransformerRecognizer(TransformerOptions(copy))


def test_stride_too_large(model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="stride"):
        TransformerRecognizer(TransformerOptions(model_dir, max_length=16, stride=14))


def test_batch_size_from_detection_settings(model_dir: Path) -> None:
    settings_ = load_settings(
        models=ModelSettings(
            transformer_path=model_dir, transformer_max_length=16, transformer_stride=4
        ),
        detection=DetectionSettings(batch_size=1),
    )
    rec = resolve("transformer_onnx.v1")(settings_)
    text = " ".join(["John Smith was seen"] * 10)
    assert len(rec.find(text)) == 10


# -- PHI hygiene -------------------------------------------------------------------------------


def test_no_text_in_logs_or_repr(model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rec = TransformerRecognizer(TransformerOptions(model_dir))
    rec.find_batch(["Zabrinski Quillfeather seen on March 3rd"] * 3)
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "transformer tier loaded" in caplog.text
    for secret in ("Zabrinski", "Quillfeather", "March 3rd"):
        assert secret not in logged
        assert secret not in repr(rec)


_PIECES = [
    "John",
    "Smith",
    "Zabrinski",
    "José",
    "Núñez",
    "Mercy",
    "General",
    "March",
    "3rd",
    "92",
    "Kowal",
    "the",
    "seen",
    "xyzzy",
    ",",
    ".",
    "(",
    "🙂",
    "日本",
    "\u00a0",
    "\x00",
]


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(
        st.tuples(st.sampled_from(_PIECES), st.sampled_from(["", " ", "  ", "\n", "\t "])),
        max_size=80,
    )
)
def test_spans_well_formed_on_any_text(
    recognizer: TransformerRecognizer, parts: list[tuple[str, str]]
) -> None:
    text = "".join(piece + sep for piece, sep in parts)
    spans = recognizer.find(text)
    for span in spans:
        assert 0 <= span.start < span.end <= len(text)
        assert not text[span.start].isspace() and not text[span.end - 1].isspace()
        assert 0.0 <= span.score <= 1.0
    starts = [s.start for s in spans]
    assert starts == sorted(starts)
    assert recognizer.find_batch([text, "John Smith", text]) == [
        spans,
        recognizer.find("John Smith"),
        spans,
    ]
