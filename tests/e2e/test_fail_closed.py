"""Fail closed: when detection or de-identification throws, or the leak gate cannot vouch
for the output, the prompt never reaches the de-identified topic, a provider, or a completion.

This module runs its own worker. Its runtime is built with ``build_runtime`` and then changed
the way a broken deployment would be:

* the detect stage runs a *pattern-only* detector (a weaker one), which throws on texts
  carrying ``DETECT_FAULT``, with the text in the exception message;
* the de-identifier is the real one, its leak gate re-scanning with the full ``fast``
  detector, which throws on texts carrying ``GATE_FAULT``; the de-identifier itself throws on
  texts carrying ``DEID_FAULT``.

The exception messages carry the synthetic PHI on purpose: the DLQ, audit and logs must still
not show it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Settings
from pipeline.deid.context import Scope
from pipeline.deid.engine import Deidentifier, DeidResult
from pipeline.detect.detector import Detector
from pipeline.detect.profiles import import_recognizer_module
from pipeline.detect.registry import Recognizer, resolve
from pipeline.detect.types import Detection
from pipeline.errors import DeidError
from pipeline.streaming.runtime import Runtime
from tests.e2e.harness import PUBLIC, Pipeline, running_pipeline

DETECT_FAULT = "DETECT-FAULT-7731"
DEID_FAULT = "DEID-FAULT-4410"
GATE_FAULT = "GATE-FAULT-5902"
NAME = "Ignatius Wolverhampton"  # found by the name recognizer, missed by the pattern tier
PHONE = "617-555-0177"  # found by both
SECRETS = (NAME, "Wolverhampton", PHONE)


class FaultyDetector(Detector):
    """A real detector that throws on texts carrying its ``fault`` marker."""

    def __init__(self, settings: Settings, recognizers: Sequence[Recognizer], fault: str) -> None:
        det = settings.detection
        super().__init__(
            recognizers,
            thresholds=det.thresholds,
            default_threshold=det.default_threshold,
            max_text_chars=det.max_text_chars,
            profile=f"faulty-{len(recognizers)}",
        )
        self.fault = fault

    def detect_full_batch(self, texts: Sequence[str]) -> list[Detection]:
        """Detect, or throw with the text in the message (which must never escape)."""
        for text in texts:
            if self.fault in text:
                raise RuntimeError(f"detector exploded on {text!r}")
        return super().detect_full_batch(texts)


class FaultyDeidentifier(Deidentifier):
    """The real de-identifier that throws on texts carrying :data:`DEID_FAULT`."""

    def deidentify(self, text: str, *, scope: str | Scope, **kwargs: Any) -> DeidResult:
        """De-identify, or throw with the text in the message (which must never escape)."""
        if DEID_FAULT in text:
            raise DeidError(f"operator failed on {text!r}")
        return super().deidentify(text, scope=scope, **kwargs)


def _break(runtime: Runtime) -> None:
    settings = runtime.settings
    import_recognizer_module("pattern_tier.v1")
    runtime.detector = FaultyDetector(
        settings, [resolve("pattern_tier.v1")(settings)], DETECT_FAULT
    )
    full = Detector.from_settings(settings, profile="fast").recognizers
    runtime.deidentifier = FaultyDeidentifier.from_settings(
        settings, detector=FaultyDetector(settings, full, GATE_FAULT)
    )


@pytest.fixture(scope="module")
def broken(
    kafka_bootstrap: str, e2e_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """A pipeline whose detector, de-identifier and leak gate fail as described above."""
    yield from running_pipeline(
        kafka_bootstrap, e2e_key_file, tmp_path_factory.mktemp("e2e-broken"), customise=_break
    )


def _downstream_ids(pipe: Pipeline) -> dict[str, set[str]]:
    ids = {
        role: {r["request_id"] for r in pipe.records(role)}
        for role in ("deidentified", "completions")
    }
    ids["provider"] = {
        r["request_id"]
        for p in pipe.runtime.policy.providers
        for r in pipe.provider_records(p.name)
    }
    return ids


def _assert_nothing_leaked(pipe: Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    raw_topic = pipe.settings.topics.raw
    for topic in pipe.topics():
        if topic != raw_topic:
            for msg in pipe.read(topic):
                blob = (msg.value() or b"").decode("utf-8", "replace")
                assert not [s for s in SECRETS if s in blob], topic
    for body in pipe.server.bodies():
        assert not [s for s in SECRETS if s in repr(body)]
    for record in caplog.records:
        message = record.getMessage() + (record.exc_text or "")
        assert not [s for s in SECRETS if s in message], record.name


@pytest.mark.parametrize(
    ("marker", "stage", "reason", "error_class"),
    [
        (DETECT_FAULT, "detect", "unexpected_error", "RuntimeError"),
        (DEID_FAULT, "deid", "deid_failed", "DeidError"),
    ],
)
def test_a_throwing_stage_dead_letters_the_record_and_nothing_moves_on(
    broken: Pipeline,
    caplog: pytest.LogCaptureFixture,
    marker: str,
    stage: str,
    reason: str,
    error_class: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    before = broken.send(f"Summarise the plan; call {PHONE}.", tenant="analytics-b")
    failing = broken.send(f"Call {PHONE} about {marker} today.", tenant="analytics-b")
    after = broken.send(f"Summarise the plan; call {PHONE} tomorrow.", tenant="analytics-b")

    # The neighbours flow (one bad record never dead-letters its batch).
    for rid in (before, after):
        completion = broken.wait(rid)
        assert completion["status"] == "ok"
        assert completion["provider"] == PUBLIC
    (letter,) = broken.dead_letters(lambda d: d["request_id"] == failing, 1)
    assert letter["stage"] == stage
    assert letter["reason"] == reason
    assert letter["error_class"] == error_class
    events = broken.audit(failing, until={"dlq"})
    (dlq_event,) = [e for e in events if e["stage"] == "dlq"]
    assert dlq_event["detail"]["failed_stage"] == stage
    assert dlq_event["detail"]["reason"] == reason

    downstream = _downstream_ids(broken)
    for role, ids in downstream.items():
        assert failing not in ids, role
    assert broken.server.attempts(failing) == 0
    assert {before, after} <= downstream["provider"]
    _assert_nothing_leaked(broken, caplog)


def test_the_leak_gate_quarantines_when_it_cannot_vouch_for_the_output(
    broken: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rid = broken.send(f"Call {PHONE} about {GATE_FAULT} today.", tenant="analytics-b")
    completion = broken.wait(rid)

    assert completion["status"] == "quarantined"
    assert completion["error_reason"] == "leak_gate_failed"
    assert completion["completion"] is None
    (parked,) = [r for r in broken.records("quarantine") if r["request_id"] == rid]
    assert parked["reason_code"] == "leak_gate_failed"
    assert parked["messages"] == []  # nothing of the text is parked
    events = broken.audit(rid, until={"detect", "deid"})
    (deid,) = [e for e in events if e["stage"] == "deid"]
    assert deid["policy_reason"] == "leak_gate_failed"
    assert deid["response_status"] == "quarantined"

    downstream = _downstream_ids(broken)
    assert rid not in downstream["deidentified"]
    assert rid not in downstream["provider"]
    assert broken.server.attempts(rid) == 0
    _assert_nothing_leaked(broken, caplog)


def test_what_a_weaker_detector_missed_never_reaches_the_provider(
    broken: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rid = broken.send(f"Dr. {NAME} saw the patient on the ward.", tenant="analytics-b")
    completion = broken.wait(rid)
    events = broken.audit(rid, until={"detect", "deid"})
    (detect,) = [e for e in events if e["stage"] == "detect"]
    assert detect["phi_present"] is False  # the weak detector saw nothing

    # The leak gate's full re-scan either repaired the text or quarantined it; either way the
    # name went nowhere.
    if completion["status"] == "ok":
        (body,) = broken.server.bodies(rid)
        assert "saw the patient on the ward" in body["messages"][-1]["content"]
        (deid,) = [r for r in broken.records("deidentified") if r["request_id"] == rid]
        assert deid["leak_gate"]["passed"] is True
    else:
        assert completion["status"] == "quarantined"
        assert completion["error_reason"] == "leak_gate_failed"
        assert broken.server.attempts(rid) == 0
    _assert_nothing_leaked(broken, caplog)
