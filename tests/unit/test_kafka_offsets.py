"""Which Kafka errors ``watermarks`` waits out, and that it stops at the deadline."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from pipeline.kafka.offsets import is_retriable, watermarks


class FlakyConsumer:
    """Answers ``get_watermark_offsets`` with the queued errors first, then (0, 7)."""

    def __init__(self, *codes: int) -> None:
        self.codes = list(codes)
        self.calls = 0
        self.refreshes = 0

    def get_watermark_offsets(self, tp, timeout):
        self.calls += 1
        if self.codes:
            raise KafkaException(KafkaError(self.codes.pop(0)))
        return 0, 7

    def list_topics(self, topic, timeout):
        self.refreshes += 1


@pytest.mark.parametrize(
    "code",
    [KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError._TRANSPORT],
)
def test_leader_elections_and_blips_are_waited_out(code: int) -> None:
    consumer = FlakyConsumer(code, code)
    assert watermarks(consumer, "t", 0, 5.0, retry_s=0.01) == (0, 7)  # type: ignore[arg-type]
    assert consumer.calls == 3
    assert consumer.refreshes == 2  # the client's metadata refreshed before each retry


def test_other_errors_raise_at_once() -> None:
    consumer = FlakyConsumer(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        watermarks(consumer, "t", 0, 5.0, retry_s=0.01)  # type: ignore[arg-type]
    assert consumer.calls == 1
    assert not is_retriable(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))


def test_a_partition_that_never_gets_a_leader_raises_after_the_deadline() -> None:
    consumer = FlakyConsumer(*[KafkaError.NOT_LEADER_FOR_PARTITION] * 1000)
    with pytest.raises(KafkaException):
        watermarks(consumer, "t", 0, 0.2, retry_s=0.02)  # type: ignore[arg-type]
    assert 2 <= consumer.calls < 1000
