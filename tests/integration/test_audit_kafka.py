"""The audit archiver against a real broker: SIGKILL mid-segment, restart, verify, replay.

The archiver runs as a separate process (``python -m pipeline.audit archive``) so it can be
killed with SIGKILL while segments are open, exactly like a crashed worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from pipeline.audit.__main__ import main
from pipeline.audit.canary import scan_archive, scan_values
from pipeline.audit.manifest import Manifest
from pipeline.audit.segment import read_segment
from pipeline.audit.signing import generate_keypair
from pipeline.audit.storage import LocalDirectoryStorage
from pipeline.audit.verify import archive_public_keys, verify_archive
from pipeline.serde import AvroCodec, RecordType

REPO = Path(__file__).resolve().parents[2]
PARTITIONS = 3
FIRST_BATCH = 1050  # 350 per partition: three sealed segments of 100 and one open of 50
SECOND_BATCH = 150
SEGMENT = 100
BASE = datetime(2026, 3, 1, tzinfo=UTC)


def _event(i: int) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "timestamp": BASE + timedelta(milliseconds=i),
        "stage": "provider_call_finished" if i % 5 == 0 else "detect",
        "request_id": f"req-{i:05d}",
        "tenant": f"tenant-{i % 2}",
        "api_provider": "openai" if i % 5 == 0 else None,
        "latency_ms": i % 97,
        "response_status": "ok",
        "phi_categories": {"NAME": 1},
        "detail": {},
    }


def _produce(producer: Producer, topic: str, codec: AvroCodec, start: int, stop: int) -> None:
    for i in range(start, stop):
        event = _event(i)
        producer.produce(
            topic,
            value=codec.encode(RecordType.AUDIT_EVENT, event),
            key=event["request_id"].encode(),
            partition=i % PARTITIONS,
            timestamp=int(event["timestamp"].timestamp() * 1000),
        )
    assert producer.flush(30.0) == 0


def _archiver(
    archive: Path, key: Path, topic: str, group: str, bootstrap: str, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONPATH": str(REPO)}
    env.pop("PHI_KAFKA__BOOTSTRAP_SERVERS", None)
    cmd = [
        sys.executable,
        "-m",
        "pipeline.audit",
        "archive",
        "--archive-dir",
        str(archive),
        "--topic",
        topic,
        "--group",
        group,
        "--signing-key",
        str(key),
        "--instance-id",
        f"{group}-worker",
        "--max-records",
        str(SEGMENT),
        "--max-seconds",
        "3600",
        *extra,
    ]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _sealed_records(archive: Path) -> int:
    total = 0
    for path in archive.glob("p*/*.manifest.json"):
        total += Manifest.from_json(path.read_bytes()).record_count
    return total


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_archiver_killed_mid_segment_resumes_exactly(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    kafka_producer: Producer,
    consume_all: Callable[..., list[Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    codec = AvroCodec()
    # As in production: the audit topic keeps everything (the events are dated in the past).
    topic = topic_factory(partitions=PARTITIONS, prefix="audit", config={"retention.ms": "-1"})
    group = f"audit-archiver-{uuid.uuid4().hex[:8]}"
    archive = tmp_path / "archive"
    key = tmp_path / "signing.pem"
    generate_keypair(key, tmp_path / "signing.pub.pem")
    _produce(kafka_producer, topic, codec, 0, FIRST_BATCH)

    first = _archiver(archive, key, topic, group, kafka_bootstrap, tmp_path / "first.log")
    try:
        # 3 x 300 records sealed; the last 50 of each partition sit in open staging segments.
        _wait(lambda: _sealed_records(archive) == 900, 90, "the first sealed segments")
        staging = archive / ".staging"
        _wait(lambda: len(list(staging.glob("*.partial"))) == PARTITIONS, 30, "open segments")
        time.sleep(1.0)  # let it consume the tail of every partition into the open segments
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL
    assert _sealed_records(archive) == 900  # nothing of the open segments was sealed

    _produce(kafka_producer, topic, codec, FIRST_BATCH, FIRST_BATCH + SECOND_BATCH)
    second = _archiver(
        archive, key, topic, group, kafka_bootstrap, tmp_path / "second.log", "--stop-at-end"
    )
    assert second.wait(120) == 0, (tmp_path / "second.log").read_text()[-2000:]
    summary = json.loads((tmp_path / "second.log").read_text().strip().splitlines()[-1])
    assert summary["consumed"] == 300  # exactly the records after the last sealed offsets

    total = FIRST_BATCH + SECOND_BATCH
    storage = LocalDirectoryStorage(archive)
    report = verify_archive(storage, archive_public_keys(storage))
    assert report.ok, [str(f) for f in report.findings]
    assert report.records == total
    assert {p: s.last_offset for p, s in report.partitions.items()} == {
        p: total // PARTITIONS - 1 for p in range(PARTITIONS)
    }
    assert main(["verify", str(archive)]) == 0

    # Same events, once each: the archive's event ids are exactly the topic's.
    messages = consume_all(topic, total)
    topic_ids = {codec.decode(RecordType.AUDIT_EVENT, m.value())["event_id"] for m in messages}
    archived_ids = []
    for name in storage.list("p"):
        if name.endswith(".avro"):
            archived_ids += [
                r["event"]["event_id"] for r in read_segment(storage.read(name)).records
            ]
    assert len(archived_ids) == total == len(set(archived_ids))
    assert set(archived_ids) == topic_ids

    # Offsets were committed after the final seals (informational, for lag monitoring).
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    try:
        committed = consumer.committed(
            [TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10
        )
    finally:
        consumer.close()
    assert [tp.offset for tp in committed] == [total // PARTITIONS] * PARTITIONS

    # No PHI canaries on the topic or in the archive.
    canaries = ["Zebediah Quartermaine", "078-05-1120"]
    assert scan_values([m.value() for m in messages], canaries) == []
    assert scan_archive(storage, canaries) == []

    # Replay from Kafka, seeking by time: events 600.. are at BASE + 600 ms and later.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.delenv("PHI_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    capsys.readouterr()
    start = (BASE + timedelta(milliseconds=600)).isoformat()
    assert main(["replay", "--source", "kafka", "--topic", topic, "--from", start]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == total - 600
    assert min(r["request_id"] for r in rows) == "req-00600"
    assert f"events: {total - 600}" in err

    # The archive replays the same events.
    assert main(["replay", "--archive-dir", str(archive), "--from", start]) == 0
    out, _ = capsys.readouterr()
    assert len(out.splitlines()) == total - 600

    # Removing the newest segment leaves a valid shorter chain; the topic cross-check sees it.
    assert main(["verify", str(archive), "--against-kafka", "--topic", topic]) == 0
    newest = sorted(archive.glob("p00000/*.avro"))[-1]
    for path in (newest, newest.with_name(newest.name.replace(".avro", ".manifest.json"))):
        path.chmod(0o644)
        path.unlink()
    capsys.readouterr()
    assert main(["verify", str(archive)]) == 0
    assert main(["verify", str(archive), "--against-kafka", "--topic", topic]) == 1
    assert "partition=0 offset=300 unarchived_records" in capsys.readouterr().out

    # Trace one request from the topic.
    assert (
        main(["trace", "req-00777", "--source", "kafka", "--topic", topic, "--format", "jsonl"])
        == 0
    )
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["request_id"] == "req-00777" and row["kafka_partition"] == 777 % PARTITIONS


def test_archiver_refuses_to_skip_deleted_records(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    kafka_producer: Producer,
    tmp_path: Path,
) -> None:
    """Records deleted from the topic before they were archived stop the archiver loudly."""
    from confluent_kafka.admin import AdminClient

    codec = AvroCodec()
    topic = topic_factory(partitions=1, prefix="audit-gap", config={"retention.ms": "-1"})
    group = f"audit-gap-{uuid.uuid4().hex[:8]}"
    archive = tmp_path / "archive"
    key = tmp_path / "signing.pem"
    generate_keypair(key, tmp_path / "signing.pub.pem")

    for i in range(120):
        kafka_producer.produce(topic, value=codec.encode(RecordType.AUDIT_EVENT, _event(i)))
    assert kafka_producer.flush(30.0) == 0
    first = _archiver(
        archive, key, topic, group, kafka_bootstrap, tmp_path / "a.log", "--stop-at-end"
    )
    assert first.wait(120) == 0, (tmp_path / "a.log").read_text()[-2000:]

    for i in range(120, 200):
        kafka_producer.produce(topic, value=codec.encode(RecordType.AUDIT_EVENT, _event(i)))
    assert kafka_producer.flush(30.0) == 0
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    futures = admin.delete_records([TopicPartition(topic, 0, 150)])
    for future in futures.values():
        future.result(timeout=30)

    second = _archiver(
        archive, key, topic, group, kafka_bootstrap, tmp_path / "b.log", "--stop-at-end"
    )
    assert second.wait(120) == 2
    assert "audit_gap" in (tmp_path / "b.log").read_text()
    storage = LocalDirectoryStorage(archive)
    report = verify_archive(storage, archive_public_keys(storage))
    assert report.ok and report.records == 120  # nothing half-written, nothing skipped
