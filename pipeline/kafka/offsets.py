"""Watermark reads that survive a topic's first seconds.

Right after a topic is created (a worker that is starting creates its outputs), the metadata
already lists its partitions while the controller is still electing their leaders; a watermark
query then fails with ``NOT_LEADER_FOR_PARTITION`` or ``LEADER_NOT_AVAILABLE`` (or, before the
client's own metadata catches up, the local ``_UNKNOWN_PARTITION``). Those errors,
and a transport blip, are retried until a deadline; anything else is raised at once.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from confluent_kafka import KafkaError, KafkaException, TopicPartition

if TYPE_CHECKING:
    from confluent_kafka import Consumer

#: Error codes that mean "ask again shortly", not "this will never work".
RETRIABLE_METADATA_ERRORS = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_PARTITION,  # the client's metadata does not list it yet
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
    }
)


def is_retriable(exc: KafkaException) -> bool:
    """Whether ``exc`` is a transient metadata error worth asking again for."""
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and err.code() in RETRIABLE_METADATA_ERRORS


def watermarks(
    consumer: Consumer, topic: str, partition: int, timeout_s: float, *, retry_s: float = 0.2
) -> tuple[int, int]:
    """Return ``(low, high)`` of one partition, retrying transient errors for ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition),
                timeout=max(0.5, deadline - time.monotonic()),
            )
            return int(low), int(high)
        except KafkaException as exc:
            if not is_retriable(exc) or time.monotonic() + retry_s > deadline:
                raise
            time.sleep(retry_s)
            # librdkafka does not refresh metadata of a topic it neither produces nor consumes
            # by itself: ask for it, or a partition unknown to the cache stays unknown.
            with contextlib.suppress(KafkaException):
                consumer.list_topics(topic, timeout=max(0.5, deadline - time.monotonic()))
