"""The completion ledger: effectively-once completions on an at-least-once pipeline.

The completions topic itself is the record of which requests are answered. Before a stage that
writes completions handles a record, the ledger has read ``phi.completions`` up to the high
watermarks taken when this worker was (re)assigned partitions; a request already answered is
skipped. A completion acknowledged by the broker before a crash is therefore below the
watermark that the next owner of the partition reads to, and is never written twice; one
that was not acknowledged is simply written again. Only message keys (request ids) are read.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from pipeline.config import KafkaSettings
from pipeline.errors import PipelineError

log = logging.getLogger(__name__)


class CompletionLedger:
    """Request ids that already have a completion on the topic (or in flight from here)."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self._kafka = kafka
        self._topic = topic
        self._done: set[str] = set()
        self._positions: dict[int, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._done)

    def seen(self, request_id: str) -> bool:
        """Return whether ``request_id`` already has a completion."""
        return request_id in self._done

    def add(self, request_id: str) -> None:
        """Record a completion this worker is producing."""
        self._done.add(request_id)

    def forget(self, request_id: str) -> None:
        """Undo :meth:`add` for a request that will not be answered after all."""
        self._done.discard(request_id)

    def catch_up(self, timeout_s: float = 30.0) -> int:
        """Read the completions topic from where this ledger stopped to the high watermarks.

        Returns:
            How many completions were read.
        """
        from confluent_kafka import Consumer, TopicPartition

        from pipeline.kafka.offsets import watermarks

        with self._lock:
            conf: dict[str, str | bool] = dict(self._kafka.librdkafka_config())
            conf.update(
                {
                    "group.id": f"phi-ledger-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "enable.partition.eof": False,
                }
            )
            consumer = Consumer(conf)
            try:
                meta = consumer.list_topics(self._topic, timeout=timeout_s)
                partitions = sorted(meta.topics[self._topic].partitions)
                targets: dict[int, int] = {}
                assign = []
                for p in partitions:
                    _low, high = watermarks(consumer, self._topic, p, timeout_s)
                    start = self._positions.get(p, 0)
                    if high > start:
                        targets[p] = high
                        assign.append(TopicPartition(self._topic, p, start))
                read = 0
                deadline = time.monotonic() + timeout_s
                if assign:
                    consumer.assign(assign)
                while targets:
                    if time.monotonic() > deadline:
                        raise PipelineError(
                            "completion ledger could not read to the watermark in time",
                            reason="ledger_timeout",
                        )
                    msg = consumer.poll(0.5)
                    if msg is not None and not msg.error():
                        key = msg.key()
                        if key is not None:
                            self._done.add(key.decode("utf-8", "replace"))
                            read += 1
                        self._positions[msg.partition() or 0] = (msg.offset() or 0) + 1
                    elif msg is None:
                        # Past the last record (e.g. a transaction marker): ask for positions.
                        for tp in consumer.position(
                            [TopicPartition(self._topic, p) for p in targets]
                        ):
                            if tp.offset >= 0:
                                self._positions[tp.partition] = tp.offset
                    for p in [
                        p for p, high in targets.items() if self._positions.get(p, 0) >= high
                    ]:
                        del targets[p]
                return read
            finally:
                consumer.close()
