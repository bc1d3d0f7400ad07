"""Every record type survives a round trip through a real Kafka broker, in both framings' shape.

Records are built from the schemas themselves (every field filled, nested records, unions,
maps, bytes, logical types), produced keyed by request id to a multi-partition topic, consumed
back, and decoded with the codec a separate consumer process would build.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from fastavro import parse_schema

from pipeline.errors import WrongSchemaError
from pipeline.serde import AvroCodec, Framing, RecordType, load_schema_set, read_header

REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
PER_TYPE = 4


def build(schema: Any, i: int, depth: int = 0) -> Any:
    """A deterministic value for ``schema`` (expanded); ``i`` varies the content and branches."""
    if isinstance(schema, list):
        # Rotate through the branches so null and value paths both cross the broker.
        return build(schema[i % len(schema)], i, depth + 1)
    if isinstance(schema, dict):
        logical = schema.get("logicalType")
        if logical == "timestamp-millis":
            return dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=1234567 * i)
        if logical == "uuid":
            return uuid.UUID(int=i + 1)
        kind = schema["type"]
        if kind == "record":
            return {f["name"]: build(f["type"], i, depth + 1) for f in schema["fields"]}
        if kind == "enum":
            return schema["symbols"][i % len(schema["symbols"])]
        if kind == "array":
            return [build(schema["items"], i + k, depth + 1) for k in range(i % 3 + 1)]
        if kind == "map":
            return {f"k{k}": build(schema["values"], i + k, depth + 1) for k in range(i % 3)}
        return build(kind, i, depth + 1)
    return {
        "null": None,
        "boolean": i % 2 == 0,
        "int": -i * 1000,
        "long": 2**40 + i,
        "double": i / 3,
        "string": f"v{i} Zo\u00eb \u2713 \u4e2d",
        "bytes": bytes(range(i, i + 12)),
    }[schema]


def sample_records(record_type: RecordType) -> list[dict[str, Any]]:
    raw = json.loads((REPO_SCHEMAS / f"{record_type.value}.avsc").read_text())
    expanded = parse_schema(raw, named_schemas={}, expand=True)
    return [build(expanded, i) for i in range(PER_TYPE)]


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec(load_schema_set())


def test_every_record_type_round_trips_through_kafka(
    codec: AvroCodec, topic_factory: Any, kafka_producer: Producer, consume_all: Any
) -> None:
    produced: dict[RecordType, tuple[str, list[dict[str, Any]]]] = {}
    for record_type in RecordType:
        topic = topic_factory(partitions=3, prefix=f"serde-{record_type.value}")
        records = sample_records(record_type)
        for record in records:
            key = record.get("request_id")
            kafka_producer.produce(
                topic,
                value=codec.encode(record_type, record, topic=topic),
                key=key.encode() if isinstance(key, str) else None,
            )
        produced[record_type] = (topic, records)
    assert kafka_producer.flush(20.0) == 0

    # The consumer side builds its own codec, as another process would.
    reader = AvroCodec(load_schema_set())
    for record_type, (topic, records) in produced.items():
        messages = consume_all(topic, len(records))
        assert len(messages) == len(records), record_type
        decoded = []
        for message in messages:
            value = message.value()
            assert read_header(value).framing is Framing.SINGLE_OBJECT
            decoded.append(reader.decode(record_type, value))

        # Partitions interleave, so compare as multisets keyed by the JSON form.
        def canon(items: list[dict[str, Any]]) -> list[str]:
            return sorted(json.dumps(r, sort_keys=True, default=repr) for r in items)

        assert canon(decoded) == canon(records), record_type


def test_a_topic_with_foreign_records_gives_typed_errors(
    codec: AvroCodec, topic_factory: Any, kafka_producer: Producer, consume_all: Any
) -> None:
    """A consumer of phi.audit that meets a DLQ record (a mis-wired producer) gets
    WrongSchemaError, the reason code the DLQ writer records."""
    topic = topic_factory(partitions=1, prefix="serde-mixed")
    audit = sample_records(RecordType.AUDIT_EVENT)[0]
    dead = sample_records(RecordType.DEAD_LETTER)[0]
    kafka_producer.produce(topic, value=codec.encode(RecordType.AUDIT_EVENT, audit))
    kafka_producer.produce(topic, value=codec.encode(RecordType.DEAD_LETTER, dead))
    assert kafka_producer.flush(20.0) == 0
    first, second = consume_all(topic, 2)
    assert codec.decode(RecordType.AUDIT_EVENT, first.value())["event_id"] == audit["event_id"]
    with pytest.raises(WrongSchemaError) as info:
        codec.decode(RecordType.AUDIT_EVENT, second.value())
    assert info.value.reason == "wrong_schema"
