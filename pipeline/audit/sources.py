"""Read audit events back: from the archive (sealed segments) or from the topic.

Both sources yield :class:`AuditItem` values filtered by :class:`EventFilter`. The archive
source skips whole segments by their manifests' event-time range; the Kafka source seeks each
partition to ``--from`` with ``offsets_for_times`` and stops at the end offsets it saw when it
started (or keeps following).
"""

from __future__ import annotations

import heapq
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.audit.layout import manifest_name, parse_name, segment_name
from pipeline.audit.manifest import Manifest
from pipeline.audit.segment import read_segment, to_millis
from pipeline.audit.storage import ArchiveStorage
from pipeline.errors import AuditError, PipelineError

log = logging.getLogger("pipeline.audit.sources")


@dataclass(frozen=True)
class AuditItem:
    """One audit event with its Kafka position."""

    partition: int
    offset: int
    timestamp_ms: int
    event: Mapping[str, Any]


@dataclass(frozen=True)
class EventFilter:
    """Which events to keep; ``None`` fields do not filter.

    Attributes:
        from_ms: keep events at or after this time (ms since epoch, UTC).
        to_ms: keep events at or before this time.
        tenant: keep one tenant's events.
        provider: keep events whose ``api_provider`` is this.
        request_id: keep one request's events.
    """

    from_ms: int | None = None
    to_ms: int | None = None
    tenant: str | None = None
    provider: str | None = None
    request_id: str | None = None

    def time_overlaps(self, lo: int | None, hi: int | None) -> bool:
        """Return whether ``[lo, hi]`` may hold events in the time window."""
        if lo is None or hi is None:
            return True
        if self.from_ms is not None and hi < self.from_ms:
            return False
        return not (self.to_ms is not None and lo > self.to_ms)

    def matches(self, timestamp_ms: int, event: Mapping[str, Any]) -> bool:
        """Return whether an event passes every filter."""
        if self.from_ms is not None and timestamp_ms < self.from_ms:
            return False
        if self.to_ms is not None and timestamp_ms > self.to_ms:
            return False
        if self.tenant is not None and event.get("tenant") != self.tenant:
            return False
        if self.provider is not None and event.get("api_provider") != self.provider:
            return False
        return self.request_id is None or event.get("request_id") == self.request_id


@dataclass
class SourceStats:
    """Counts a source keeps while reading (no content)."""

    scanned: int = 0
    undecodable: int = 0
    expected_total: int | None = None


def archive_manifests(storage: ArchiveStorage) -> dict[int, list[Manifest]]:
    """Return every readable manifest of the archive, per partition, in offset order."""
    out: dict[int, list[Manifest]] = {}
    for name in storage.list("p"):
        ref = parse_name(name)
        if ref is None or not ref.is_manifest:
            continue
        try:
            manifest = Manifest.from_json(storage.read(name))
        except AuditError:
            log.warning("skipping unreadable manifest %s (run audit verify)", name)
            continue
        out.setdefault(ref.partition, []).append(manifest)
    return out


def iter_archive(
    storage: ArchiveStorage,
    flt: EventFilter,
    stats: SourceStats | None = None,
    *,
    follow: bool = False,
    follow_interval_s: float = 2.0,
) -> Iterator[AuditItem]:
    """Yield the archive's events that pass ``flt``, merged across partitions by event time.

    Only sealed segments are read; with ``follow``, segments sealed later are picked up every
    ``follow_interval_s``. Replay does not verify: run ``audit verify`` for that.
    """
    stats = stats if stats is not None else SourceStats()
    seen: set[tuple[int, int]] = set()
    first = True
    while True:
        chosen = {
            p: [
                m
                for m in ms
                if (p, m.first_offset) not in seen
                and flt.time_overlaps(m.min_event_ts_ms, m.max_event_ts_ms)
            ]
            for p, ms in archive_manifests(storage).items()
        }
        seen |= {(p, m.first_offset) for p, ms in chosen.items() for m in ms}
        if first:
            stats.expected_total = sum(m.record_count for ms in chosen.values() for m in ms)
            first = False
        streams = [_iter_partition(storage, p, ms, flt, stats) for p, ms in sorted(chosen.items())]
        yield from heapq.merge(*streams, key=lambda i: (i.timestamp_ms, i.partition, i.offset))
        if not follow:
            return
        time.sleep(follow_interval_s)


def _iter_partition(
    storage: ArchiveStorage,
    partition: int,
    manifests: list[Manifest],
    flt: EventFilter,
    stats: SourceStats,
) -> Iterator[AuditItem]:
    for manifest in manifests:
        read = read_segment(storage.read(segment_name(partition, manifest.first_offset)))
        if read.error is not None:
            log.warning(
                "segment %s is damaged; replaying its readable records (run audit verify)",
                manifest_name(partition, manifest.first_offset),
            )
        for record in read.records:
            stats.scanned += 1
            event = record.get("event")
            if event is None:
                stats.undecodable += 1
                continue
            ts = to_millis(event["timestamp"])
            if flt.matches(ts, event):
                yield AuditItem(partition, int(record["offset"]), ts, event)


def iter_kafka(
    consumer_config: dict[str, str],
    topic: str,
    flt: EventFilter,
    decode: Callable[[bytes], Mapping[str, Any]],
    *,
    follow: bool = False,
    stats: SourceStats | None = None,
    poll_timeout_s: float = 0.5,
    metadata_timeout_s: float = 15.0,
) -> Iterator[AuditItem]:
    """Yield the topic's events that pass ``flt``, in offset order per partition.

    Uses a throw-away consumer group with nothing committed: replaying never moves anyone's
    offsets. Without ``follow`` it stops once every partition reached the end offset it had
    when the replay started.

    Raises:
        AuditError: the topic does not exist or the broker cannot be reached.
    """
    from confluent_kafka import (
        OFFSET_BEGINNING,
        Consumer,
        KafkaError,
        KafkaException,
        TopicPartition,
    )

    from pipeline.kafka.offsets import watermarks

    stats = stats if stats is not None else SourceStats()
    conf: dict[str, Any] = {
        **consumer_config,
        "group.id": f"phi-audit-replay-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    }
    consumer = Consumer(conf)
    try:
        try:
            meta = consumer.list_topics(topic, timeout=metadata_timeout_s)
        except KafkaException as exc:
            raise AuditError("cannot reach Kafka for replay", reason="kafka_unavailable") from exc
        info = meta.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            raise AuditError(f"topic {topic} does not exist", reason="unknown_topic")
        partitions = sorted(info.partitions)
        if flt.from_ms is not None:
            wanted = [TopicPartition(topic, p, flt.from_ms) for p in partitions]
            starts = consumer.offsets_for_times(wanted, timeout=metadata_timeout_s)
        else:
            starts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
        ends: dict[int, int] = {}
        total = 0
        for start in starts:
            low, high = watermarks(consumer, topic, start.partition, metadata_timeout_s)
            ends[start.partition] = high
            # offsets_for_times answers -1 (the end) for a partition with nothing after --from.
            if start.offset != -1:
                total += high - (start.offset if start.offset >= 0 else low)
        stats.expected_total = None if follow else total
        active = {t.partition for t in starts if t.offset != -1 or follow}
        consumer.assign([t for t in starts if t.partition in active])
        done = {p for p in partitions if p not in active or ends[p] == 0}
        if not follow:
            done |= {t.partition for t in starts if t.offset >= ends[t.partition]}
        while follow or len(done) < len(partitions):
            msg = consumer.poll(poll_timeout_s)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    done.add(int(msg.partition() or 0))
                    continue
                raise AuditError(f"Kafka error during replay ({err.name()})", reason="kafka_error")
            partition, offset = msg.partition(), msg.offset()
            if partition is None or offset is None:
                continue
            if not follow and offset >= ends[partition]:
                done.add(partition)
                continue
            stats.scanned += 1
            try:
                event = decode(msg.value() or b"")
            except PipelineError:
                stats.undecodable += 1
            else:
                ts = to_millis(event["timestamp"])
                if flt.matches(ts, event):
                    yield AuditItem(partition, offset, ts, event)
            if not follow and offset + 1 >= ends[partition]:
                done.add(partition)
    finally:
        consumer.close()


def parse_time(text: str) -> int:
    """Parse ``--from``/``--to``: ISO 8601 (naive means UTC) or milliseconds since the epoch.

    Raises:
        AuditError: neither form.
    """
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    try:
        parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError as exc:
        raise AuditError(
            f"not an ISO 8601 time or epoch milliseconds: {stripped!r}", reason="bad_time"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)
