"""Scopes, keyring hygiene, and the leak gate on its own."""

from __future__ import annotations

import pytest

from pipeline.deid.context import Scope
from pipeline.deid.leak_gate import LeakGate, Original
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.errors import DeidError


@pytest.mark.parametrize(
    ("scope", "key"),
    [
        (Scope(patient_id="p", session_id="s", request_id="r"), "patient:p"),
        (Scope(session_id="s", request_id="r"), "session:s"),
        (Scope(request_id="r"), "request:r"),
        ("patient:42", "patient:42"),
        ("request:9", "request:9"),
        ("abc", "session:abc"),
    ],
)
def test_scope_precedence(scope, key):
    assert Scope.parse(scope).key() == key


def test_empty_scope_rejected():
    with pytest.raises(DeidError):
        Scope().key()
    with pytest.raises(DeidError):
        Scope.parse("")


def test_keyring_repr_has_no_key_material(keyring):
    text = repr(keyring)
    assert "k1" in text and "\\x" not in text and "b'" not in text


class Fixed:
    def __init__(self, spans):
        self.spans = spans

    def detect(self, text):
        return self.spans


class Broken:
    def detect(self, text):
        raise RuntimeError("secret John Smith")


def test_gate_pass_fail_and_reasons():
    out = "Seen Dr. Mark Jones on [DATE]."
    ours = [(9, 19), (23, 29)]
    assert out[9:19] == "Mark Jones" and out[23:29] == "[DATE]"
    assert LeakGate(Fixed([Span(9, 19, Category.NAME, 0.9, "x")])).check(out, ours).passed
    # Title words next to our surrogate are not residual PHI.
    assert LeakGate(Fixed([Span(5, 19, Category.NAME, 0.9, "x")])).check(out, ours).passed
    residual = LeakGate(Fixed([Span(0, 4, Category.NAME, 0.9, "x")])).check(out, ours)
    assert residual.status == "fail" and residual.reason == "residual_phi"
    assert residual.residual[0].to_json() == {
        "start": 0,
        "end": 4,
        "label": "NAME",
        "check": "detector",
    }
    broken = LeakGate(Broken()).check(out, ours)
    assert broken.status == "fail" and broken.reason.startswith("detector_failed")
    assert "John" not in broken.reason
    assert LeakGate(None).check(out, ours).reason == "detector_unavailable"


def test_gate_verbatim_original_and_name_words():
    gate = LeakGate(Fixed([]))
    out = "Mark Jones came. Smith called."
    report = gate.check(out, [(0, 10)], [Original("NAME", "John Smith", "surrogate.v1")])
    assert report.reason == "original_in_output"
    assert (report.residual[0].start, report.residual[0].end) == (17, 22)
    # Generalised values (a year kept) are not leaks.
    ok = gate.check("Seen 2021.", [(5, 9)], [Original("DATE", "2021", "generalise.v1")])
    assert ok.passed
