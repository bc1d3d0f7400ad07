"""Shared fixtures: a real Apache Kafka broker and small helpers around it.

The broker starts lazily, once per session, the first time a test asks for ``kafka_bootstrap``
(so ``pytest tests/unit`` never starts Java). With ``KAFKA_BOOTSTRAP_SERVERS`` (or
``PHI_KAFKA__BOOTSTRAP_SERVERS``) set, that broker is used and none is started.

Fixtures other test modules rely on (names are a contract):

* ``kafka_bootstrap`` (session): the bootstrap address.
* ``topic_factory`` (function): ``topic_factory(partitions=1, prefix="t", config=None) -> name``
  creates a uniquely named topic; topics are deleted after the test.
* ``kafka_producer`` (function): a connected ``confluent_kafka.Producer``, flushed afterwards.
* ``consume_all`` (function): ``consume_all(topic, n, timeout=20.0, group=None) -> messages``.

Also available: ``kafka_settings`` (session; ``KafkaSettings`` from the environment) and
``kafka_client_settings`` (session; the same, pointing at the session's broker, for
``pipeline.kafka.admin`` helpers and stage code that takes settings).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from pipeline.config import KafkaSettings, load_settings
from pipeline.kafka.admin import TopicSpec, delete_topics, ensure_topics

_TESTS = Path(__file__).resolve().parent
_TIER_MARKERS = {"integration": pytest.mark.integration, "e2e": pytest.mark.e2e}

TopicFactory = Callable[..., str]
ConsumeAll = Callable[..., list[Message]]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests under tests/integration and tests/e2e with their tier marker."""
    for item in items:
        try:
            tier = Path(str(item.path)).resolve().relative_to(_TESTS).parts[0]
        except ValueError:
            continue
        marker = _TIER_MARKERS.get(tier)
        if marker is not None:
            item.add_marker(marker)


@pytest.fixture(scope="session")
def kafka_settings() -> KafkaSettings:
    """Kafka settings from the environment (external broker, cache dir, version)."""
    return load_settings().kafka


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_settings: KafkaSettings) -> Iterator[str]:
    """The bootstrap address of a real broker: external if configured, else embedded."""
    if kafka_settings.bootstrap_servers:
        yield kafka_settings.bootstrap_servers
        return
    from pipeline.kafka.launcher import EmbeddedKafka

    broker = EmbeddedKafka(kafka_settings)
    try:
        # Inside the try: a KeyboardInterrupt during startup still stops the JVM.
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_client_settings(kafka_settings: KafkaSettings, kafka_bootstrap: str) -> KafkaSettings:
    """``kafka_settings`` pointing at the session's broker."""
    return kafka_settings.model_copy(update={"bootstrap_servers": kafka_bootstrap})


@pytest.fixture
def topic_factory(kafka_client_settings: KafkaSettings) -> Iterator[TopicFactory]:
    """Create uniquely named topics on the real broker; delete them after the test."""
    created: list[str] = []

    def create(partitions: int = 1, prefix: str = "t", config: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        ensure_topics(
            kafka_client_settings,
            [TopicSpec(name, partitions=partitions, config=dict(config or {}))],
        )
        created.append(name)
        return name

    yield create
    try:
        delete_topics(kafka_client_settings, created, timeout_s=10.0)
    except Exception:  # cleanup only: a failed delete must not hide the test's own result
        logging.getLogger(__name__).warning("could not delete test topics %s", created)


@pytest.fixture
def kafka_producer(kafka_bootstrap: str) -> Iterator[Producer]:
    """A confluent-kafka producer (acks=all, idempotent) on the session's broker."""
    producer = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
        }
    )
    yield producer
    remaining = producer.flush(10.0)
    close = getattr(producer, "close", None)  # Producer.close() exists in newer clients only
    if close is not None:
        close()
    if remaining:
        pytest.fail(f"{remaining} produced messages were not delivered")


@pytest.fixture
def consume_all(kafka_bootstrap: str) -> ConsumeAll:
    """Read a topic from its earliest offsets until ``n`` messages or ``timeout`` seconds.

    Without ``group`` all partitions are assigned directly (no group, nothing committed). With
    ``group`` the consumer joins that group, starts from its committed offsets (earliest for a
    new group) and commits what it read, so a second call continues where the first stopped.
    Only committed transactional messages are returned (``isolation.level=read_committed``).
    """

    def consume(
        topic: str, n: int, timeout: float = 20.0, group: str | None = None
    ) -> list[Message]:
        consumer = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": group or f"consume-all-{uuid.uuid4().hex[:12]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        messages: list[Message] = []
        try:
            if group is None:
                metadata = consumer.list_topics(topic, timeout=10.0).topics[topic]
                if metadata.error is not None:
                    raise KafkaException(metadata.error)
                consumer.assign(
                    [
                        TopicPartition(topic, partition, -2)  # -2: OFFSET_BEGINNING
                        for partition in sorted(metadata.partitions)
                    ]
                )
            else:
                consumer.subscribe([topic])
            deadline = time.monotonic() + timeout
            while len(messages) < n and time.monotonic() < deadline:
                msg = consumer.poll(min(0.5, max(0.0, deadline - time.monotonic())))
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.fatal():
                        raise KafkaException(error)
                    continue
                messages.append(msg)
            if group is not None and messages:
                consumer.commit(asynchronous=False)
        finally:
            consumer.close()
        return messages

    return consume
