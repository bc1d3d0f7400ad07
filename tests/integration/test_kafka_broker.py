"""Real round trips through the session's Apache Kafka broker (4.1.1 KRaft by default).

These prove the three client stacks the pipeline uses all work against the broker: confluent-kafka
(librdkafka), aiokafka 0.14 (what Faust runs on), a Faust app with an agent, and Kafka
transactions (the basis of exactly-once processing).
"""

from __future__ import annotations

import asyncio
import uuid

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.support.faust_app import faust_app_kwargs

pytestmark = pytest.mark.timeout(120)


def close(producer: Producer) -> None:
    """Close a producer where the client has ``close()`` (newer confluent-kafka only)."""
    closer = getattr(producer, "close", None)
    if closer is not None:
        closer()


def test_integration_tests_are_marked(request, kafka_bootstrap):
    assert request.node.get_closest_marker("integration") is not None
    assert kafka_bootstrap.count(":") >= 1


def test_confluent_round_trip_keeps_keys_values_and_order(
    topic_factory, kafka_producer, consume_all
):
    topic = topic_factory(partitions=3)
    sent = [(f"k{i % 4}".encode(), f"v{i}".encode()) for i in range(30)]
    for key, value in sent:
        kafka_producer.produce(topic, key=key, value=value)
    assert kafka_producer.flush(10.0) == 0

    got = consume_all(topic, len(sent))

    assert sorted((m.key(), m.value()) for m in got) == sorted(sent)
    # Same key, same partition, in send order.
    for key in {k for k, _ in sent}:
        partitions = {m.partition() for m in got if m.key() == key}
        assert len(partitions) == 1
        in_order = [m.value() for m in sorted(got, key=lambda m: m.offset()) if m.key() == key]
        assert in_order == [v for k, v in sent if k == key]


def test_consume_all_with_group_resumes_after_committed_offsets(
    topic_factory, kafka_producer, consume_all
):
    topic = topic_factory()
    for i in range(6):
        kafka_producer.produce(topic, value=f"m{i}".encode())
    kafka_producer.flush(10.0)
    group = f"g-{uuid.uuid4().hex[:8]}"

    first = consume_all(topic, 4, group=group)
    rest = consume_all(topic, 2, group=group)

    assert [m.value() for m in first] == [b"m0", b"m1", b"m2", b"m3"]
    assert [m.value() for m in rest] == [b"m4", b"m5"]


def test_topic_config_is_applied(kafka_client_settings, topic_factory):
    from confluent_kafka.admin import ConfigResource

    from pipeline.kafka.admin import admin_client

    topic = topic_factory(config={"retention.ms": "3600000", "cleanup.policy": "compact"})
    admin = admin_client(kafka_client_settings)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)

    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "compact"


def test_auto_create_is_off_so_unknown_topics_fail(kafka_bootstrap):
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.timeout.ms": 1000})
    errors = []
    producer.produce(
        f"never-created-{uuid.uuid4().hex[:8]}",
        value=b"x",
        on_delivery=lambda e, m: errors.append(e),
    )
    producer.flush(10.0)
    close(producer)

    assert len(errors) == 1 and errors[0] is not None


def test_aiokafka_round_trip(topic_factory, kafka_bootstrap):
    topic = topic_factory(partitions=2)

    async def round_trip() -> list[tuple[bytes | None, bytes | None]]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"aio-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        got: list[tuple[bytes | None, bytes | None]] = []
        try:
            async with asyncio.timeout(30):
                while len(got) < 10:
                    batches = await consumer.getmany(timeout_ms=500)
                    for records in batches.values():
                        got.extend((r.key, r.value) for r in records)
            await consumer.commit()
        finally:
            await consumer.stop()
        return got

    got = asyncio.run(round_trip())

    assert sorted(got) == sorted((f"k{i}".encode(), f"v{i}".encode()) for i in range(10))


def test_faust_agent_reads_one_topic_and_writes_another(
    topic_factory, kafka_producer, consume_all, kafka_bootstrap, tmp_path
):
    source = topic_factory(prefix="faust-in")
    sink = topic_factory(prefix="faust-out")
    inputs = [f"record-{i}".encode() for i in range(5)]
    for value in inputs:
        kafka_producer.produce(source, value=value)
    kafka_producer.flush(10.0)

    async def run_app() -> int:
        app = faust.App(**faust_app_kwargs(kafka_bootstrap, tmp_path))
        src = app.topic(source, value_type=bytes, value_serializer="raw")
        dst = app.topic(sink, value_type=bytes, value_serializer="raw")
        done = asyncio.Event()
        handled: list[bytes] = []

        @app.agent(src)
        async def upper(stream):  # the "thin agent": decode, call, encode, route
            async for value in stream:
                await dst.send(value=value.upper())
                handled.append(value)
                if len(handled) == len(inputs):
                    done.set()

        await app.start()
        try:
            async with asyncio.timeout(60):
                await done.wait()
        finally:
            await app.stop()
        return len(handled)

    handled = asyncio.run(run_app())
    out = consume_all(sink, len(inputs))

    assert handled == len(inputs)
    assert [m.value() for m in out] == [v.upper() for v in inputs]


def test_transactions_commit_is_visible_and_abort_is_not(
    topic_factory, kafka_bootstrap, consume_all
):
    topic = topic_factory()
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"committed-1")
    producer.produce(topic, value=b"committed-2")
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"aborted")
    producer.flush(10.0)
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"committed-3")
    producer.commit_transaction(30)
    close(producer)

    # The aborted record sits between committed-2 and committed-3 in the log, so reading three
    # records in order proves read_committed skipped it.
    committed = consume_all(topic, 3)
    uncommitted = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"ru-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_uncommitted",
        }
    )
    uncommitted.assign([TopicPartition(topic, 0, -2)])
    raw = []
    for _ in range(40):
        msg = uncommitted.poll(0.5)
        if msg is not None and msg.error() is None:
            raw.append(msg.value())
        if len(raw) == 4:
            break
    uncommitted.close()

    assert [m.value() for m in committed] == [b"committed-1", b"committed-2", b"committed-3"]
    assert b"aborted" in raw  # the broker stored it; only read_committed hides it


def test_consume_transform_produce_is_atomic_with_offsets(
    topic_factory, kafka_bootstrap, kafka_producer, consume_all
):
    source = topic_factory(prefix="eos-in")
    sink = topic_factory(prefix="eos-out")
    for i in range(4):
        kafka_producer.produce(source, value=f"in-{i}".encode())
    kafka_producer.flush(10.0)
    group = f"eos-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([source])
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"eos-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(30)
    batch = []
    for _ in range(60):
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            batch.append(msg)
        if len(batch) == 4:
            break
    producer.begin_transaction()
    for msg in batch:
        producer.produce(sink, value=msg.value().replace(b"in", b"out"))
    producer.send_offsets_to_transaction(
        consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 30
    )
    producer.commit_transaction(30)
    close(producer)
    consumer.close()

    out = consume_all(sink, 4)
    checker = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    committed = checker.committed([TopicPartition(source, 0)], timeout=10)
    checker.close()

    assert [m.value() for m in out] == [f"out-{i}".encode() for i in range(4)]
    assert committed[0].offset == 4  # the input offsets were committed by the transaction


def test_ensure_topics_is_idempotent(kafka_client_settings, caplog):
    from pipeline.kafka.admin import TopicSpec, delete_topics, ensure_topics

    name = f"ensure-{uuid.uuid4().hex[:8]}"
    spec = TopicSpec(name, partitions=2, config={"retention.ms": "60000"})
    try:
        assert ensure_topics(kafka_client_settings, [spec]) == [name]
        assert ensure_topics(kafka_client_settings, [spec]) == []
        with caplog.at_level("WARNING", logger="pipeline.kafka.admin"):
            assert ensure_topics(kafka_client_settings, [TopicSpec(name, partitions=4)]) == []
        assert "exists with 2 partitions" in caplog.text
    finally:
        delete_topics(kafka_client_settings, [name])


def test_watermarks_of_a_topic_created_a_moment_ago(kafka_bootstrap):
    """The race CI once lost: a topic's metadata is listed before its partitions have leaders.

    Creating a topic and asking for its watermarks at once, many times over, must never raise
    NOT_LEADER_FOR_PARTITION / LEADER_NOT_AVAILABLE: ``watermarks`` waits those out.
    """
    from confluent_kafka.admin import AdminClient, NewTopic

    from pipeline.kafka.offsets import watermarks

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    names = [f"wm-{uuid.uuid4().hex[:10]}" for _ in range(5)]
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": uuid.uuid4().hex})
    try:
        for name in names:
            admin.create_topics([NewTopic(name, num_partitions=4, replication_factor=1)])
            # no wait on the creation future: the query races the leader election on purpose
            for partition in range(4):
                assert watermarks(consumer, name, partition, 20.0) == (0, 0)
    finally:
        consumer.close()
        admin.delete_topics(names)
