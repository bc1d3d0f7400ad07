"""Bad input lands in the DLQ with a reason code while good records keep flowing.

Good and bad records are interleaved on one partition of the raw topic (same key), so every
bad record sits between good ones: each good one must still complete, each bad one must be
dead-lettered with the expected reason, and the dead letter must carry metadata only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pipeline.serde import RecordType
from tests.e2e.harness import Pipeline

KEY = b"mixed-batch"
MARKER = "ZQXJ"  # replaced byte for byte by invalid UTF-8 in the encoded record


def _prompt(content: str | None, tenant: str = "analytics-b", **extra: Any) -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "tenant": tenant,
        "user_id": "u-1",
        "session_id": None,
        "subject_id": None,
        "messages": [] if content is None else [{"role": "user", "content": content}],
        "target_provider": None,
        "model": None,
        "created_at": datetime.now(UTC),
        "metadata": {},
        **extra,
    }


def test_bad_records_are_dead_lettered_and_good_ones_complete(pipeline: Pipeline) -> None:
    codec = pipeline.runtime.codec
    good = [_prompt(f"Summarise guideline number {i} for the ward.") for i in range(9)]

    non_utf8 = bytearray(codec.encode(RecordType.PROMPT_REQUEST, _prompt(f"note {MARKER} end")))
    at = non_utf8.index(MARKER.encode())
    non_utf8[at : at + len(MARKER)] = b"\xff\xfe\xc3\x28"  # same length: Avro framing intact
    wrong_schema = codec.encode(
        RecordType.AUDIT_EVENT,
        {
            "event_id": uuid.uuid4(),
            "timestamp": datetime.now(UTC),
            "stage": "detect",
            "request_id": "not-a-prompt",
            "tenant": "analytics-b",
        },
    )
    unknown_tenant = _prompt("Summarise the guideline.", tenant="no-such-tenant")
    unknown_provider = _prompt("Summarise the guideline.", target_provider="no-such-provider")
    empty_list = _prompt(None)
    blank = _prompt("   \n ")
    huge = _prompt("a" * 1_000_000)  # 1 MB of text: over streaming.max_prompt_chars

    def enc(record: dict[str, Any]) -> bytes:
        return codec.encode(RecordType.PROMPT_REQUEST, record)

    # (value, expected reason, the request id the DLQ can know: None when undecodable)
    bad: list[tuple[bytes, str, str | None]] = [
        (b"\x17garbage: not avro, not framed\xff", "bad_framing", None),
        (bytes(non_utf8), "undecodable_body", None),
        (wrong_schema, "wrong_schema", None),
        (enc(unknown_tenant), "unknown_tenant", unknown_tenant["request_id"]),
        (enc(unknown_provider), "unknown_provider", unknown_provider["request_id"]),
        (enc(empty_list), "empty_prompt", empty_list["request_id"]),
        (enc(blank), "empty_prompt", blank["request_id"]),
        (enc(huge), "prompt_too_large", huge["request_id"]),
    ]
    decodable = [rid for _, _, rid in bad if rid is not None]

    offsets: dict[int, tuple[str, str | None]] = {}
    producer = pipeline.raw_producer(**{"message.max.bytes": 4_000_000})
    raw_topic = pipeline.settings.topics.raw

    def produce(value: bytes, expect: tuple[str, str | None] | None) -> None:
        def delivered(err: Any, msg: Any) -> None:
            assert err is None, f"produce failed: {err}"
            if expect is not None:
                offsets[msg.offset()] = expect

        producer.produce(raw_topic, key=KEY, value=value, on_delivery=delivered)
        producer.flush(30)  # one at a time: keeps the interleaving order on the partition

    # good, bad, good, bad, ..., good
    produce(enc(good[0]), None)
    for i, (value, reason, request_id) in enumerate(bad):
        produce(value, (reason, request_id))
        produce(enc(good[1 + i]), None)
    assert len(offsets) == len(bad) and len(good) == len(bad) + 1

    for record in good:
        completion = pipeline.wait(record["request_id"])
        assert completion["status"] == "ok", completion["error_reason"]

    letters = pipeline.dead_letters(
        lambda d: d["source_topic"] == raw_topic and d["source_offset"] in offsets, len(bad)
    )
    assert len(letters) == len(bad), "one dead letter per bad record, none for good ones"
    for letter in letters:
        reason, request_id = offsets[letter["source_offset"]]
        assert letter["stage"] == "detect"
        assert letter["reason"] == reason, (letter["reason"], reason)
        assert letter["request_id"] == request_id
        assert letter["error_class"]
    # Metadata only: the DLQ topic is tiny even though a 1 MB prompt went through it.
    dlq_bytes = sum(len(m.value() or b"") for m in pipeline.read(pipeline.settings.topics.dlq))
    assert dlq_bytes < 100_000

    # Nothing dead-lettered reached a later topic or the provider; a readable request is
    # answered with a terminal completion that carries the reason (never text), so its client
    # does not wait for an answer that will never come.
    reasons = {rid: reason for reason, rid in offsets.values() if rid is not None}
    completions = {c["request_id"]: c for c in pipeline.records("completions")}
    deidentified = {r["request_id"] for r in pipeline.records("deidentified")}
    for request_id in decodable:
        answer = completions[request_id]
        expected = "quarantined" if reasons[request_id].startswith("unknown_") else "error"
        assert answer["status"] == expected
        assert answer["error_reason"] == reasons[request_id]
        assert answer["completion"] is None and answer["completion_encrypted"] is None
        assert request_id not in deidentified
        assert pipeline.server.attempts(request_id) == 0
    # A dead letter whose request is known is audited (metadata only).
    events = pipeline.audit(unknown_tenant["request_id"], until={"dlq"})
    (dlq_event,) = [e for e in events if e["stage"] == "dlq"]
    assert dlq_event["response_status"] == "dead_lettered"
    assert dlq_event["detail"]["reason"] == "unknown_tenant"
