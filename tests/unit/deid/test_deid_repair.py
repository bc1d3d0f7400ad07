"""Leak-gate repair when detection saw only part of a name.

The benchmark quarantined a prompt (``leak_gate_failed``) whose output showed a surrogate next
to an original name word: detection had found one word of "Fatima Brennan" in one mention and
missed the other mention; the gate's re-scan found the rest in one place, the repair replaced
it there, and the verbatim check then found the same original word at the other mention, next
to where the first surrogate went in. The repair now propagates what it repaired to every
other mention, as detection's own spans are.
"""

from __future__ import annotations

import pytest

from pipeline.deid.engine import Deidentifier
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span

from .conftest import RegexDetector

TEXT = "Patient: George Abernathy, seen today. Call George Abernathy at home about the plan."

# The gate's re-scan finds a full name only after "Call " (a context cue), as a real detector
# with name cues does; the first mention has no cue.
GATE = RegexDetector([(Category.NAME, r"(?<=Call )[A-Z][a-z]+ [A-Z][a-z]+")])


@pytest.mark.parametrize("seen", ["George", "Abernathy"])
def test_repair_replaces_every_mention_of_a_partly_detected_name(keys, span_of, seen):
    # Detection found one word of the first mention only and missed the second mention.
    spans = [span_of(TEXT, seen, Category.NAME)]
    for key_version in range(20):  # several scopes: the failure depended on the keyed choice
        deid = Deidentifier(GATE, keys)
        result = deid.deidentify(TEXT, scope=f"patient:p{key_version}", spans=spans)
        assert result.leak_gate.passed, result.leak_gate
        assert "George" not in result.text
        assert "Abernathy" not in result.text
        assert result.text.startswith("Patient: ")
        assert " at home about the plan." in result.text


def test_surrogate_never_contains_an_original_name_word(keys, span_of):
    text = "Seen by Dr. Fatima Brennan; Fatima Brennan signed. Mrs. Brennan agreed."
    spans = [
        span_of(text, "Fatima Brennan", Category.NAME),
        span_of(text, "Fatima Brennan", Category.NAME, nth=1),
    ]
    deid = Deidentifier(GATE, keys)
    for scope in range(30):
        result = deid.deidentify(text, scope=f"patient:s{scope}", spans=spans)
        assert result.leak_gate.passed
        for rep in result.replacements:
            new = result.text[rep.start : rep.end]
            assert "Fatima" not in new
            assert "Brennan" not in new
        assert "Brennan" not in result.text


def test_repair_is_bounded_and_fails_closed_without_rounds(keys, span_of):
    spans = [span_of(TEXT, "Abernathy", Category.NAME)]
    deid = Deidentifier(GATE, keys, repair_rounds=0)
    result = deid.deidentify(TEXT, scope="patient:p1", spans=spans)
    assert not result.leak_gate.passed
    assert result.leak_gate.reason == "residual_phi"
    assert isinstance(result.spans[0], Span)
