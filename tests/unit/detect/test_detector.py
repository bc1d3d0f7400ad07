"""Detector API: single, batch, full (coverage), chat messages, limits, PHI hygiene."""

import itertools
import logging

import pytest

from pipeline.config import DetectionSettings, load_settings
from pipeline.detect.detector import Detector
from pipeline.detect.taxonomy import Category
from pipeline.errors import DetectionError, InvalidInputError

PHI_NAME = "Quentin Abernathy-Voss"
TEXT = f"Seen by Dr. {PHI_NAME} on 03/14/2021; call 410-555-0199. Lives in Catonsville."


@pytest.fixture(scope="module")
def fast() -> Detector:
    return Detector.from_settings(load_settings(), profile="fast")


def labels(text, spans):
    return {(text[s.start : s.end], s.label) for s in spans}


def test_detect_finds_names_dates_phones(fast):
    got = labels(TEXT, fast.detect(TEXT))
    assert (PHI_NAME, Category.NAME) in got
    assert any(lab is Category.DATE for _, lab in got)
    assert any(lab is Category.PHONE for _, lab in got)


def test_spans_sorted_non_overlapping_scored_and_named(fast):
    spans = fast.detect(TEXT)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start
    assert all(0 <= s.score <= 1 and s.recognizer.rpartition(".v")[2].isdigit() for s in spans)


def test_batch_equals_single(fast):
    texts = [TEXT, "", "nothing to see", "wife Carol Pennington visited"]
    assert fast.detect_batch(texts) == [fast.detect(t) for t in texts]


def test_detect_full_has_coverage_for_every_label(fast):
    det = fast.detect_full(TEXT)
    assert det.coverage.uncovered() == []
    counts = det.coverage.counts()
    assert counts["NAME"] >= 1 and counts["PHONE"] >= 1
    assert det.detector_version.startswith("detector.v1:fast:")


def test_messages_detected_one_by_one_with_own_offsets(fast):
    msgs = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": f"My doctor is Dr. {PHI_NAME}."},
        {"role": "assistant", "content": None},
        "call 410-555-0199",
    ]
    out = fast.detect_messages(msgs)
    assert len(out) == 4
    assert out[0].spans == () and out[2].spans == ()
    content = msgs[1]["content"]
    assert any(content[s.start : s.end] == PHI_NAME for s in out[1].spans)
    assert [s.label for s in out[3].spans] == [Category.PHONE]


def test_non_string_message_content_rejected(fast):
    with pytest.raises(InvalidInputError):
        fast.detect_messages([{"role": "user", "content": [{"type": "image"}]}])


def test_too_long_text_raises_without_text(caplog):
    settings = load_settings(detection=DetectionSettings(profile="fast", max_text_chars=50))
    det = Detector.from_settings(settings)
    secret = PHI_NAME * 10
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DetectionError) as info:
        det.detect(secret)
    assert PHI_NAME not in str(info.value)
    assert info.value.reason == "text_too_long"
    assert PHI_NAME not in caplog.text


def test_thresholds_from_settings_drop_weak_labels():
    settings = load_settings(detection=DetectionSettings(profile="fast", thresholds={"NAME": 0.99}))
    det = Detector.from_settings(settings)
    assert all(s.label is not Category.NAME for s in det.detect(TEXT))


def test_unknown_threshold_label_is_config_error():
    from pipeline.errors import ConfigError

    settings = load_settings(detection=DetectionSettings(profile="fast", thresholds={"NAMES": 0.5}))
    with pytest.raises(ConfigError):
        Detector.from_settings(settings)


def test_multi_megabyte_text_runs(fast):
    text = ("Vitals stable, plan unchanged. " * 40 + "\n") * 1800  # ~2.2 MB
    text = text[:1_900_000] + f" Dr. {PHI_NAME} aware."
    spans = fast.detect(text)
    assert any(text[s.start : s.end] == PHI_NAME for s in spans)


def test_no_phi_in_logs(fast, caplog):
    caplog.set_level(logging.DEBUG)
    fast.detect_batch([TEXT, TEXT.upper()])
    assert PHI_NAME not in caplog.text and "Abernathy" not in caplog.text


#: Dense cue words and shapes of the name and place tiers (Python regexes and token loops):
#: each must finish in about linear time; the suite's timeout is the guard, no timing is
#: asserted.
CONTEXT_PATHOLOGICAL = [
    "Dr. " * 100_000,
    "daughter-" * 80_000,
    "DR'S " * 80_000,
    ", ann" * 100_000,
    "Ann B " * 80_000,
    "University of " * 40_000,
    "works for " * 50_000,
    "Holy Cross " * 50_000,
    "grew up in " * 50_000,
    "lives in " * 60_000,
    "(" * 200_000 + "daughter)",
    "x" * 500_000,
    "Aa " * 150_000,
    "MR. " + "A" * 300_000,
    "Where: " * 60_000,
    "\u2022 Aa\n" * 80_000,
    # Thousands of spans of several labels overlapping: merging must stay near-linear.
    "son bill and george " * 30_000,
    "Call 410-555-0199 Dr. Ann Lee 3/4/19 at 12 Oak St; " * 10_000,
]


@pytest.mark.parametrize("text", CONTEXT_PATHOLOGICAL, ids=lambda t: f"{t[:8]!r}x{len(t)}")
def test_context_tiers_complete_on_pathological_input(fast, text):
    spans = fast.detect(text)
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
