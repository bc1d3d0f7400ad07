"""The pure stages, without a broker: bytes in, encoded records out, failures as data."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from pipeline.config import DetectionSettings, KeySettings, load_settings
from pipeline.deid.keys import generate_key_file
from pipeline.errors import DetectionError, PipelineError
from pipeline.policy import parse_policy
from pipeline.serde import RecordType
from pipeline.streaming.records import Origin, Out, utcnow
from pipeline.streaming.runtime import Runtime, build_runtime
from pipeline.streaming.stages import deid_record, detect_batch, route_record

NAME = "Evander Pallisgrove"
SSN = "512-73-4398"
ORIGIN = Origin("phi.prompts.raw", 0, 7)

POLICY = """
schema_version: 1
providers:
  - name: baa
    kind: local
    endpoint: http://127.0.0.1:9/v1
    models: [m]
    baa: {signed: true, reference: BAA-1, effective: 2025-01-01, expires: 2099-12-31}
    region: us-east-1
  - name: public
    kind: local
    endpoint: http://127.0.0.1:9/v1
    models: [m]
    region: us-east-1
tenants:
  - name: clinic
    allowed_providers: [baa, public]
    default_provider: baa
    rules:
      - name: ssn-blocks
        when: {categories: [SSN], min_total: 1}
        action: block
        reason: ssn_present
      - name: names-raw
        when: {categories: [NAME], min_total: 1, max_total: 2, exclusive: true}
        action: allow_raw
        reason: baa_raw_permitted
  - name: tagged
    allowed_providers: [public]
    default_provider: public
    deidentification: {profile: safe_harbor, overrides: {NAME: tag}}
  - name: analytics
    allowed_providers: [public]
    default_provider: public
    rules:
      - name: ssn-blocks
        when: {categories: [SSN], min_total: 1}
        action: block
        reason: ssn_present
"""


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    key_file = tmp_path_factory.mktemp("keys") / "keys.json"
    generate_key_file(key_file)
    settings = load_settings(
        keys=KeySettings(key_file=key_file), detection=DetectionSettings(profile="fast")
    )
    return build_runtime(settings, ("detect", "deid", "route"), policy=parse_policy(POLICY))


def prompt(rt: Runtime, text: str, tenant: str = "analytics", **extra: Any) -> bytes:
    record = {
        "request_id": str(uuid.uuid4()),
        "tenant": tenant,
        "user_id": "u1",
        "session_id": "s1",
        "messages": [{"role": "user", "content": text}],
        "created_at": utcnow(),
        "metadata": {},
        **extra,
    }
    return rt.codec.encode(RecordType.PROMPT_REQUEST, record)


def by_topic(outs: Sequence[Out], topic: str) -> list[Out]:
    return [o for o in outs if o.topic == topic]


def decode(rt: Runtime, out: Out, kind: RecordType) -> dict[str, Any]:
    return dict(rt.codec.decode(kind, out.value))


def test_detect_encrypts_the_text_and_audits_counts_only(rt: Runtime) -> None:
    (outs,) = detect_batch(rt, [(prompt(rt, f"Mr. {NAME} SSN {SSN}"), ORIGIN)])
    t = rt.settings.topics
    (detected,) = by_topic(outs, t.detected)
    (audit,) = by_topic(outs, t.audit)
    for out in outs:
        assert NAME.encode() not in out.value and SSN.encode() not in out.value
    record = decode(rt, detected, RecordType.DETECTED_PROMPT)
    assert record["phi_present"] is True
    assert {s["label"] for s in record["spans"]} >= {"NAME", "SSN"}
    assert {c["category"] for c in record["coverage"]} >= {"NAME", "SSN", "DATE"}
    event = decode(rt, audit, RecordType.AUDIT_EVENT)
    assert event["stage"] == "detect" and event["phi_categories"]["SSN"] == 1
    assert event["input_hmac"] and event["hmac_key_id"] == rt.keyring.key_id


@pytest.mark.parametrize(
    ("value", "reason", "answered"),
    [
        (b"\x7fgarbage", "bad_framing", None),
        (b"\x00\x00\x00\x00\x01", "unknown_schema", None),
        ("empty", "empty_prompt", "error"),
        ("unknown-tenant", "unknown_tenant", "quarantined"),
        ("unknown-provider", "unknown_provider", "quarantined"),
        ("huge", "prompt_too_large", "error"),
    ],
)
def test_bad_input_is_dead_lettered_with_a_reason(
    rt: Runtime, value: bytes | str, reason: str, answered: str | None
) -> None:
    if value == "empty":
        value = prompt(rt, "   ")
    elif value == "unknown-tenant":
        value = prompt(rt, f"Mr. {NAME}", tenant="nobody")
    elif value == "unknown-provider":
        value = prompt(rt, f"Mr. {NAME}", target_provider="nowhere")
    elif value == "huge":
        value = prompt(rt, "x" * (rt.settings.streaming.max_prompt_chars + 1))
    assert isinstance(value, bytes)
    (outs,) = detect_batch(rt, [(value, ORIGIN)])
    t = rt.settings.topics
    (letter,) = by_topic(outs, t.dlq)
    dead = decode(rt, letter, RecordType.DEAD_LETTER)
    assert (dead["reason"], dead["source_offset"], dead["stage"]) == (reason, 7, "detect")
    assert not by_topic(outs, t.detected)
    answers = by_topic(outs, t.completions)
    if answered is None:
        assert not answers
    else:
        (answer,) = answers
        completion = decode(rt, answer, RecordType.COMPLETION)
        assert completion["status"] == answered and completion["error_reason"] == reason
    assert all(NAME.encode() not in o.value for o in outs)


def test_a_bad_record_does_not_sink_its_batch(rt: Runtime) -> None:
    results = detect_batch(
        rt, [(b"junk", ORIGIN), (prompt(rt, f"Mr. {NAME} called."), Origin("raw", 0, 8))]
    )
    assert by_topic(results[0], rt.settings.topics.dlq)
    assert by_topic(results[1], rt.settings.topics.detected)


def _detected(rt: Runtime, text: str, tenant: str) -> bytes:
    (outs,) = detect_batch(rt, [(prompt(rt, text, tenant=tenant), ORIGIN)])
    (detected,) = by_topic(outs, rt.settings.topics.detected)
    return detected.value


def test_deid_then_route_sends_only_deidentified_text(rt: Runtime) -> None:
    t = rt.settings.topics
    text = f"Mr. {NAME} (phone 617-555-0143) asks."
    outs = deid_record(rt, _detected(rt, text, "analytics"), ORIGIN)
    (deid,) = by_topic(outs, t.deidentified)
    record = decode(rt, deid, RecordType.DEIDENTIFIED_PROMPT)
    text = record["messages"][0]["content"]
    assert NAME not in text and "617-555-0143" not in text and "asks." in text
    assert record["leak_gate"]["passed"] is True
    routed = route_record(rt, deid.value, ORIGIN)
    (request,) = by_topic(routed, rt.provider_topic("public"))
    provider_request = decode(rt, request, RecordType.PROVIDER_REQUEST)
    assert provider_request["raw_allowed"] is False
    assert provider_request["messages"][0]["content"]["algorithm"] == "AES-256-GCM"


def test_a_tenant_override_changes_one_category_operator(rt: Runtime) -> None:
    outs = deid_record(rt, _detected(rt, f"Mr. {NAME} called 617-555-0143.", "tagged"), ORIGIN)
    (deid,) = by_topic(outs, rt.settings.topics.deidentified)
    text = decode(rt, deid, RecordType.DEIDENTIFIED_PROMPT)["messages"][0]["content"]
    assert "[NAME" in text  # tagged, as the tenant asked
    assert "617-555-0143" not in text and "[PHONE" not in text  # others keep the profile's


def test_an_override_that_breaks_safe_harbor_stops_the_worker_at_start(rt: Runtime) -> None:
    bad = POLICY.replace("overrides: {NAME: tag}", "overrides: {DATE: date_shift}")
    with pytest.raises(PipelineError):
        build_runtime(rt.settings, ("deid",), policy=parse_policy(bad), detector=rt.detector)


def test_deid_allows_raw_only_to_the_baa_provider_sealed(rt: Runtime) -> None:
    outs = deid_record(rt, _detected(rt, f"Mr. {NAME} reviewed his plan.", "clinic"), ORIGIN)
    assert not by_topic(outs, rt.settings.topics.deidentified)
    (request,) = by_topic(outs, rt.provider_topic("baa"))
    assert NAME.encode() not in request.value
    assert decode(rt, request, RecordType.PROVIDER_REQUEST)["raw_allowed"] is True


def test_deid_blocks_by_policy_and_parks_metadata_only(rt: Runtime) -> None:
    t = rt.settings.topics
    outs = deid_record(rt, _detected(rt, f"Mr. {NAME} SSN {SSN}.", "clinic"), ORIGIN)
    (parked,) = by_topic(outs, t.quarantine)
    assert decode(rt, parked, RecordType.QUARANTINED_PROMPT)["messages"] == []
    (answer,) = by_topic(outs, t.completions)
    assert decode(rt, answer, RecordType.COMPLETION)["status"] == "blocked"
    assert not by_topic(outs, t.deidentified)


class _Failing:
    """A detector or de-identifier that fails; its message carries PHI on purpose."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise DetectionError(f"boom on {NAME}")

        return fail


def test_a_failing_deidentifier_fails_closed(rt: Runtime) -> None:
    detected = _detected(rt, f"Mr. {NAME} asks.", "analytics")
    broken = Runtime(**{**rt.__dict__, "deidentifier": _Failing()})
    outs = deid_record(broken, detected, ORIGIN)
    t = rt.settings.topics
    assert {o.topic for o in outs} <= {t.dlq, t.audit}
    (letter,) = by_topic(outs, t.dlq)
    assert decode(rt, letter, RecordType.DEAD_LETTER)["stage"] == "deid"
    assert all(NAME.encode() not in o.value for o in outs)


def test_a_failing_detector_dead_letters(rt: Runtime) -> None:
    broken = Runtime(**{**rt.__dict__, "detector": _Failing()})
    (outs,) = detect_batch(broken, [(prompt(rt, f"Mr. {NAME}"), ORIGIN)])
    t = rt.settings.topics
    assert {o.topic for o in outs} <= {t.dlq, t.audit, t.completions}
    assert not by_topic(outs, t.detected)


def test_what_the_leak_gate_finds_late_is_counted_and_decided_again(rt: Runtime) -> None:
    # A detected record whose spans missed the SSN: the gate's repair round finds it, and the
    # tenant's SSN rule must still block instead of sending the de-identified text on.
    value = _detected(rt, f"Note for Mr. {NAME}: SSN {SSN}.", "analytics")
    record = dict(rt.codec.decode(RecordType.DETECTED_PROMPT, value))
    record["spans"] = [s for s in record["spans"] if s["label"] != "SSN"]
    stripped = rt.codec.encode(RecordType.DETECTED_PROMPT, record)
    outs = deid_record(rt, stripped, ORIGIN)
    t = rt.settings.topics
    assert not by_topic(outs, t.deidentified)
    assert not [o for o in outs if o.topic.startswith(t.provider_prefix)]
    (answer,) = by_topic(outs, t.completions)
    assert decode(rt, answer, RecordType.COMPLETION)["status"] in {"blocked", "quarantined"}
