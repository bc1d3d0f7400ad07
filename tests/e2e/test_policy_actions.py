"""Every policy action end to end: allow_raw, deidentify, block, quarantine; audit; write-ahead.

Each prompt goes in through the SDK's ``PromptProducer``, through all four stages of a real
Faust worker on a real broker, to the real loopback provider server, and its completion comes
back through the SDK's ``CompletionConsumer``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pipeline.serde import RecordType
from pipeline.streaming.stages import input_hmac
from tests.e2e.harness import BAA, PUBLIC, Pipeline, read_topic

# Synthetic identifiers only.
NAME = "Thaddeus Quenby"
PHONE = "617-555-0143"
EMAIL = "tquenby@example.org"
SSN = "512-73-4398"


def _stored_completion(pipe: Pipeline, request_id: str) -> tuple[bytes, dict[str, Any]]:
    """The completion of ``request_id`` as stored on the topic (bytes and decoded, sealed)."""
    found = [
        m for m in pipe.read(pipe.settings.topics.completions) if m.key() == request_id.encode()
    ]
    assert len(found) == 1, "exactly one completion per request"
    value = found[0].value() or b""
    return value, pipe.runtime.codec.decode(RecordType.COMPLETION, value)


def test_allow_raw_goes_to_the_baa_provider_and_the_completion_is_sealed(
    pipeline: Pipeline,
) -> None:
    prompt = f"Mr. {NAME} reviewed his discharge plan."
    rid = pipeline.send(prompt, tenant="clinic-a")
    completion = pipeline.wait(rid)

    assert completion["status"] == "ok"
    assert completion["provider"] == BAA
    assert completion["model"] == "echo-baa"
    # The SDK decrypted it: the BAA provider got (and echoed) the raw text.
    assert completion["completion"].endswith(prompt)
    (body,) = pipeline.server.bodies(rid)
    assert body["model"] == "echo-baa"
    assert body["messages"][-1]["content"] == prompt

    # On the topic the completion is sealed: no plain text, an AES-GCM record instead.
    value, stored = _stored_completion(pipeline, rid)
    assert NAME.encode() not in value
    assert stored["completion"] is None
    assert stored["completion_encrypted"]["algorithm"] == "AES-256-GCM"

    # Raw text skipped de-identification; the provider request carries it encrypted.
    assert rid not in {r["request_id"] for r in pipeline.records("deidentified")}
    (request,) = [r for r in pipeline.provider_records(BAA) if r["request_id"] == rid]
    assert request["raw_allowed"] is True
    assert request["policy_decision"] == "allow_raw"
    assert request["policy_reason"] == "baa_raw_permitted"
    assert request["baa_reference_id"] == "BAA-E2E-0001"


def test_deidentify_sends_only_deidentified_text_to_a_provider_without_baa(
    pipeline: Pipeline,
) -> None:
    prompt = f"Mr. {NAME} asked us to call {PHONE} or write to {EMAIL} about his results."
    rid = pipeline.send(prompt, tenant="analytics-b")
    completion = pipeline.wait(rid)

    assert completion["status"] == "ok"
    assert completion["provider"] == PUBLIC
    (body,) = pipeline.server.bodies(rid)
    assert body["model"] == "echo-public"
    sent = body["messages"][-1]["content"]
    for value in (NAME, "Quenby", PHONE, EMAIL):
        assert value not in sent
        assert value not in completion["completion"]
    assert "asked us to call" in sent  # the rest of the prompt is intact

    _, stored = _stored_completion(pipeline, rid)
    assert stored["completion_encrypted"] is None  # de-identified text needs no sealing
    (deid,) = [r for r in pipeline.records("deidentified") if r["request_id"] == rid]
    assert deid["leak_gate"]["passed"] is True
    assert deid["phi_present"] is True
    assert {"NAME", "PHONE", "EMAIL"} <= set(deid["categories"])
    (request,) = [r for r in pipeline.provider_records(PUBLIC) if r["request_id"] == rid]
    assert request["raw_allowed"] is False
    assert request["policy_decision"] == "deidentify"
    assert request["baa_reference_id"] is None


def test_reidentified_completion_maps_surrogates_back_for_an_authorised_tenant(
    pipeline: Pipeline,
) -> None:
    prompt = f"Mr. {NAME} asked us to call {PHONE} about his results."
    rid = pipeline.send(prompt, tenant="reid-f", subject_id="patient-reid-1")
    completion = pipeline.wait(rid)

    assert completion["status"] == "ok"
    assert completion["reidentified"] is True
    # The provider without a BAA saw only surrogates ...
    (body,) = pipeline.server.bodies(rid)
    sent = body["messages"][-1]["content"]
    for value in (NAME, "Quenby", PHONE):
        assert value not in sent
    # ... and the consumer holding the keys reads the originals back in the echo.
    assert NAME in completion["completion"]
    assert PHONE in completion["completion"]
    # On the topic the re-identified completion is sealed; nothing travels in clear.
    value, stored = _stored_completion(pipeline, rid)
    assert stored["completion"] is None and stored["completion_encrypted"] is not None
    assert NAME.encode() not in value and b"Quenby" not in value
    (request,) = [r for r in pipeline.provider_records(PUBLIC) if r["request_id"] == rid]
    assert request["vault_ref"] and "patient-reid-1" not in request["vault_ref"]


def test_block_answers_with_a_blocked_completion_and_parks_metadata_only(
    pipeline: Pipeline,
) -> None:
    rid = pipeline.send(f"Mr. {NAME}, SSN {SSN}, needs a new card.", tenant="clinic-a")
    completion = pipeline.wait(rid)

    assert completion["status"] == "blocked"
    assert completion["error_reason"] == "ssn_present"
    assert completion["completion"] is None
    assert pipeline.server.attempts(rid) == 0
    (parked,) = [r for r in pipeline.records("quarantine") if r["request_id"] == rid]
    assert parked["reason_code"] == "ssn_present"
    assert parked["policy_decision"] == "block"
    assert parked["messages"] == []  # blocked before de-identification: no text at all
    assert parked["phi_categories"]["SSN"] == 1
    for provider in (BAA, PUBLIC):
        assert rid not in {r["request_id"] for r in pipeline.provider_records(provider)}


@pytest.mark.parametrize(
    ("tenant", "provider", "reason"),
    [
        ("stranded-d", None, "no_eligible_provider"),
        ("analytics-b", BAA, "provider_not_allowed"),
    ],
)
def test_quarantine_when_the_policy_cannot_route(
    pipeline: Pipeline, tenant: str, provider: str | None, reason: str
) -> None:
    rid = pipeline.send(
        "Please summarise the attached guideline.", tenant=tenant, provider=provider
    )
    completion = pipeline.wait(rid)

    assert completion["status"] == "quarantined"
    assert completion["error_reason"] == reason
    assert pipeline.server.attempts(rid) == 0
    (parked,) = [r for r in pipeline.records("quarantine") if r["request_id"] == rid]
    assert parked["reason_code"] == reason
    assert parked["policy_decision"] == "quarantine"
    events = pipeline.audit(rid, until={"detect", "deid"})
    (deid,) = [e for e in events if e["stage"] == "deid"]
    assert deid["policy_decision"] == "quarantine"
    assert deid["policy_reason"] == reason
    assert deid["response_status"] == "quarantined"


def test_audit_events_carry_the_fields_auditors_need(pipeline: Pipeline) -> None:
    prompt = f"Mr. {NAME} reviewed his discharge plan with the nurse."
    session = f"s-{uuid.uuid4().hex[:8]}"
    rid = pipeline.send(prompt, tenant="clinic-a", user_id="nurse-7", session_id=session)
    assert pipeline.wait(rid)["status"] == "ok"
    events = pipeline.audit(
        rid, until={"detect", "deid", "provider_call_started", "provider_call_finished"}
    )
    by_stage = {e["stage"]: e for e in events}
    policy = pipeline.runtime.policy

    for event in events:
        assert isinstance(event["event_id"], uuid.UUID)
        assert event["timestamp"].tzinfo is not None
        assert (event["tenant"], event["user_id"], event["session_id"]) == (
            "clinic-a",
            "nurse-7",
            session,
        )
    detect = by_stage["detect"]
    assert detect["phi_present"] is True
    assert detect["phi_categories"] == {"NAME": 1}
    assert detect["detector_version"] == pipeline.runtime.require_detector().version
    # Keyed, recomputable by an auditor holding the key, and not the text itself.
    assert detect["input_hmac"] == input_hmac(
        pipeline.runtime, [{"role": "user", "content": prompt}]
    )
    assert detect["hmac_key_id"] == pipeline.runtime.keyring.key_id

    for stage in ("deid", "provider_call_started", "provider_call_finished"):
        event = by_stage[stage]
        assert event["policy_decision"] == "allow_raw"
        assert event["policy_reason"] == "baa_raw_permitted"
        assert event["policy_version"] == policy.version
        assert event["api_provider"] == BAA
        assert event["model"] == "echo-baa"
        assert event["baa_reference_id"] == "BAA-E2E-0001"
        assert event["data_residency_region"] == "us-east-1"
    finished = by_stage["provider_call_finished"]
    assert finished["response_status"] == "ok"
    assert finished["input_token_count"] == len(prompt.split())
    assert finished["output_token_count"] > 0
    assert finished["latency_ms"] is not None and finished["latency_ms"] >= 0
    assert finished["phi_present"] is True
    assert finished["detector_version"] == detect["detector_version"]
    assert finished["detail"]["attempts"] == "1"


def test_write_ahead_audit_is_on_the_topic_before_the_provider_gets_the_request(
    pipeline: Pipeline,
) -> None:
    seen: dict[str, list[str]] = {}
    audit_topic = pipeline.settings.topics.audit
    codec = pipeline.runtime.codec

    def snapshot(request_id: str) -> None:
        # Runs inside the server, after the request arrived and before any reply.
        stages = [
            codec.decode(RecordType.AUDIT_EVENT, m.value() or b"")
            for m in read_topic(pipeline.bootstrap, audit_topic)
        ]
        seen[request_id] = [e["stage"] for e in stages if e["request_id"] == request_id]

    pipeline.server.on_request = snapshot
    try:
        rid = pipeline.send("Please summarise the attached guideline.", tenant="analytics-b")
        assert pipeline.wait(rid)["status"] == "ok"
    finally:
        pipeline.server.on_request = None
    assert "provider_call_started" in seen[rid]
    assert "provider_call_finished" not in seen[rid]
    assert pipeline.audit(rid, until={"provider_call_finished"})
