"""Where the end-to-end latency goes, from the timestamps the stages write into records.

Each stage stamps its output when it builds it: ``created_at`` (the producer), ``detected_at``,
``deidentified_at``, ``routed_at``, and the completion's ``created_at``; the benchmark's consumer
adds the arrival time. All clocks are this machine's, at millisecond precision. A segment is the
wait in the stage's input topic and batch plus the stage's own work. Only identity fields and
timestamps are read: the text fields stay encrypted and untouched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from itertools import pairwise
from typing import Any, Protocol

from benchmarks.pipeline_e2e_stats import LatencyStats
from pipeline.config import Settings
from pipeline.serde import RecordType, build_codec

#: The stamps, in flow order. A segment runs from one stamp to the next one present: with
#: chained stages (no detected or de-identified records) that is ``raw->routed``.
STAMPS = ("raw", "detected", "deidentified", "routed", "completion", "consumer")


class HasWallClock(Protocol):
    """The collector's view this module needs."""

    wall: dict[str, tuple[float, float]]


def read_topic(settings: Settings, topic: str) -> Iterator[bytes]:
    """Yield every value of ``topic`` from the beginning to the current end."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    conf: dict[str, Any] = dict(settings.kafka.librdkafka_config())
    conf.update(
        {"group.id": "phi-bench-trace", "enable.auto.commit": False, "enable.partition.eof": True}
    )
    consumer = Consumer(conf)
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
        consumer.assign(parts)
        open_parts = {p.partition for p in parts}
        while open_parts:
            msgs = consumer.consume(1000, 2.0)
            if not msgs:
                break
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    open_parts.discard(msg.partition() or 0)
                elif msg.value() is not None:
                    yield msg.value() or b""
    finally:
        consumer.close()


def stamps(settings: Settings, collector: HasWallClock) -> dict[str, list[float | None]]:
    """Return request id -> epoch seconds at raw, detected, deidentified, routed, completion,
    arrival (``None`` where the record was not found)."""
    codec = build_codec(settings)
    t = settings.topics
    out: dict[str, list[float | None]] = defaultdict(lambda: [None] * 6)
    sources: list[tuple[str, RecordType, str, int]] = [
        (t.raw, RecordType.PROMPT_REQUEST, "created_at", 0),
        (t.detected, RecordType.DETECTED_PROMPT, "detected_at", 1),
        (t.deidentified, RecordType.DEIDENTIFIED_PROMPT, "deidentified_at", 2),
    ]
    for provider in ("local-baa", "local-public"):
        sources.append(
            (f"{t.provider_prefix}{provider}", RecordType.PROVIDER_REQUEST, "routed_at", 3)
        )
    for topic, kind, field, slot in sources:
        for value in read_topic(settings, topic):
            rec = codec.decode(kind, value)
            out[str(rec["request_id"])][slot] = rec[field].timestamp()
    for rid, (arrival, created) in collector.wall.items():
        out[rid][4] = created
        out[rid][5] = arrival
    return out


def segment_stats(rows: dict[str, list[float | None]]) -> dict[str, dict[str, Any]]:
    """Return per rate tag (request id prefix), per segment, latency stats in ms."""
    by_tag: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rid, ts in rows.items():
        tag = rid.rsplit("-", 1)[0]
        if not tag.startswith("r"):
            continue  # warm-up prompts
        present = [(name, t) for name, t in zip(STAMPS, ts, strict=True) if t is not None]
        for (a_name, a), (b_name, b) in pairwise(present):
            by_tag[tag][f"{a_name}->{b_name}"].append((b - a) * 1000)
    result: dict[str, dict[str, Any]] = {}
    for tag, segs in sorted(by_tag.items()):
        result[tag] = {
            name: {k: v for k, v in vars(LatencyStats.of(vals)).items() if k != "max_ms"}
            for name, vals in segs.items()
        }
    return result


def stage_breakdown(settings: Settings, collector: HasWallClock) -> dict[str, dict[str, Any]]:
    """Per offered rate and pipeline segment: p50/p95/p99 of the time spent there."""
    return segment_stats(stamps(settings, collector))
