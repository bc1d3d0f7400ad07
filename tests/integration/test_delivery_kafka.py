"""The stages' producer against a real broker: sends return only once acknowledged."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.errors import AuditError, StreamingError
from pipeline.streaming.delivery import DeliveredProducer
from pipeline.streaming.records import Out
from pipeline.streaming.threadnames import ACKS_THREAD

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def settings(kafka_client_settings):
    # No embedded broker here: the session's broker, and no topic auto-creation.
    return Settings(kafka=kafka_client_settings)


def test_send_returns_after_every_record_is_on_the_topic(settings, topic_factory, consume_all):
    topic = topic_factory(partitions=3)
    producer = DeliveredProducer(settings)
    outs = [Out(topic, f"req-{i % 5}".encode(), f"value-{i}".encode()) for i in range(200)]

    async def go() -> None:
        await producer.send(outs[:150])
        await producer.send([])  # nothing to send is not an error
        await producer.write_ahead(outs[150:151])
        await asyncio.gather(producer.send(outs[151:175]), producer.send(outs[175:]))

    try:
        asyncio.run(go())
        # The delivery-report thread is named in the OS too (``top -H``, the benchmark).
        acks = producer._poller
        assert acks is not None and acks.name == ACKS_THREAD
        if sys.platform == "linux":
            comm = Path(f"/proc/self/task/{acks.native_id}/comm").read_text().strip()
            assert comm == ACKS_THREAD
    finally:
        producer.close()
    got = consume_all(topic, 200, timeout=30)
    assert sorted(m.value() for m in got) == sorted(o.value for o in outs)
    # One key, one partition (a conversation stays ordered), in the order it was sent.
    by_key: dict[bytes, set[int]] = {}
    for m in got:
        by_key.setdefault(m.key(), set()).add(m.partition())
    assert all(len(parts) == 1 for parts in by_key.values())
    for key in by_key:
        sent = [o.value for o in outs if o.key == key]
        assert [m.value() for m in sorted(got, key=lambda m: m.offset()) if m.key() == key] == sent


def test_keys_land_on_the_partition_a_java_client_would_choose(settings, topic_factory):
    # murmur2, as Kafka's Java producer and aiokafka pick it: records keep the partition
    # they had when the agents produced through Faust.
    from aiokafka.partitioner import murmur2
    from confluent_kafka import Consumer, TopicPartition

    topic = topic_factory(partitions=6)
    producer = DeliveredProducer(settings)
    keys = [f"session-{i}".encode() for i in range(30)]
    asyncio.run(producer.send([Out(topic, k, b"x") for k in keys]))
    producer.close()
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": "d"})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(6)])
        seen = {}
        while len(seen) < len(keys):
            msg = consumer.poll(10)
            assert msg is not None, "records missing"
            seen[msg.key()] = msg.partition()
    finally:
        consumer.close()
    assert seen == {k: (murmur2(k) & 0x7FFFFFFF) % 6 for k in keys}


def _auto_creates_topics(bootstrap: str) -> bool:
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": bootstrap})
    broker = next(iter(admin.list_topics(timeout=10).brokers))
    resource = ConfigResource(ConfigResource.Type.BROKER, str(broker))
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    return configs["auto.create.topics.enable"].value == "true"


def test_an_unacknowledged_record_fails_the_send_and_the_write_ahead(settings):
    if _auto_creates_topics(str(settings.kafka.bootstrap_servers)):
        pytest.skip("this broker creates topics on demand (the embedded one does not)")
    # Give up after 3 s, not the default 120 s of retries.
    quick = settings.model_copy(
        update={"streaming": settings.streaming.model_copy(update={"delivery_timeout_s": 3.0})}
    )
    producer = DeliveredProducer(quick)
    missing = "no-such-topic-for-delivery"

    async def go() -> None:
        with pytest.raises(StreamingError) as info:
            await producer.send([Out(missing, b"k", b"secret value 078-05-1120")])
        assert info.value.reason == "produce_failed"
        assert "078-05-1120" not in str(info.value)  # the record never appears in the error
        with pytest.raises(AuditError) as audit:
            await producer.write_ahead([Out(missing, b"k", b"v")])
        assert audit.value.reason == "wal_failed"

    try:
        asyncio.run(go())
    finally:
        producer.close(timeout_s=1)
