"""``audit verify --against-kafka``: compare the archive's end with the topic.

The hash chain cannot show that the *newest* segments of a partition were removed: what is left
is a valid, shorter chain. The topic (``retention.ms=-1``) still holds those records, so this
check reads, per partition, the record at the archive's last offset (its value must hash to
what the archive recorded) and the first record after it (if it is older than the allowed
archiving lag, records are missing from the archive, or the archiver is down).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from pipeline.audit.verify import Finding, VerifyReport
from pipeline.errors import AuditError


def check_against_topic(
    report: VerifyReport,
    consumer_config: dict[str, str],
    topic: str,
    *,
    max_lag_ms: int,
    now_ms: int | None = None,
    partitions: set[int] | None = None,
    timeout_s: float = 15.0,
) -> list[Finding]:
    """Return findings where the archive's per-partition end disagrees with the topic.

    Args:
        report: the result of verifying the archive (per-partition last offset and value hash).
        consumer_config: librdkafka bootstrap/security settings.
        topic: the archived topic.
        max_lag_ms: records on the topic after the archive's end older than this are reported.
        now_ms: the current time (injectable for tests).
        partitions: check only these partitions (all when ``None``).
        timeout_s: how long to wait for metadata and for each record.

    Raises:
        AuditError: the broker cannot be reached or the topic does not exist.
    """
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from pipeline.kafka.offsets import watermarks

    now = now_ms if now_ms is not None else int(time.time() * 1000)
    conf: dict[str, Any] = {
        **consumer_config,
        "group.id": f"phi-audit-verify-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    }
    consumer = Consumer(conf)
    findings: list[Finding] = []
    try:
        try:
            meta = consumer.list_topics(topic, timeout=timeout_s)
        except KafkaException as exc:
            raise AuditError("cannot reach Kafka for verify", reason="kafka_unavailable") from exc
        info = meta.topics.get(topic)
        if info is None or info.error is not None:
            raise AuditError(f"topic {topic} does not exist", reason="unknown_topic")

        def fetch(partition: int, offset: int) -> Any:
            consumer.assign([TopicPartition(topic, partition, offset)])
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is not None and msg.error() is None:
                    return msg
            return None

        for partition in sorted(info.partitions):
            if partitions is not None and partition not in partitions:
                continue
            summary = report.partitions.get(partition)
            last = summary.last_offset if summary is not None else -1
            low, high = watermarks(consumer, topic, partition, timeout_s)
            if low > last + 1:
                findings.append(
                    Finding(
                        "topic_gap",
                        f"the topic starts at offset {low} but the archive ends at {last}: records "
                        "were deleted from the topic without being archived",
                        partition,
                    )
                )
            if summary is not None and summary.last_value_sha256 and low <= last < high:
                msg = fetch(partition, last)
                digest = hashlib.sha256(msg.value() or b"").hexdigest() if msg else None
                if digest != summary.last_value_sha256:
                    findings.append(
                        Finding(
                            "topic_mismatch",
                            "the archive's last record differs from the topic's record at that "
                            "offset",
                            partition,
                            offset=last,
                        )
                    )
            start = max(last + 1, low)
            if start < high:
                msg = fetch(partition, start)
                if msg is not None:
                    _, ts = msg.timestamp()
                    if now - ts > max_lag_ms:
                        findings.append(
                            Finding(
                                "unarchived_records",
                                f"the topic holds {high - start} records after the archive's last "
                                f"offset {last}, the oldest {(now - ts) // 1000} s old: newest "
                                "segments are missing or the archiver is behind",
                                partition,
                                offset=start,
                            )
                        )
    finally:
        consumer.close()
    return findings
