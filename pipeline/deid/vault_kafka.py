"""A :class:`VaultStore` on a compacted Kafka topic (confluent-kafka).

Each entry is one message keyed ``<scope index>:<surrogate index>`` (keyed hashes, no PHI) whose
value is the encrypted :class:`VaultEntry`; expiry and deletion produce a tombstone (null value),
so log compaction keeps exactly the live mappings. On start, :meth:`KafkaVaultStore.load` reads
the topic from the beginning to its end offsets into memory; reads are then served from memory
and writes go to both. Several workers each load the topic; :meth:`refresh` catches up with
entries other workers wrote since.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.deid.vault import InMemoryVaultStore, VaultEntry
from pipeline.errors import DeidError
from pipeline.kafka.offsets import watermarks


def ensure_vault_topic(
    client_config: dict[str, str], topic: str, *, partitions: int = 1, replication_factor: int = 1
) -> None:
    """Create the compacted vault topic if it does not exist.

    Raises:
        DeidError: the topic cannot be created (other than because it exists).
    """
    admin = AdminClient(dict(client_config))
    new = NewTopic(
        topic,
        num_partitions=partitions,
        replication_factor=replication_factor,
        config={"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"},
    )
    for future in admin.create_topics([new]).values():
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise DeidError("cannot create the vault topic", reason="vault_unavailable") from exc


class KafkaVaultStore:
    """Vault entries in a compacted topic, mirrored in memory."""

    def __init__(
        self, client_config: dict[str, str], topic: str, *, flush_timeout: float = 15.0
    ) -> None:
        """Connect a producer; call :meth:`load` before serving reads.

        Args:
            client_config: librdkafka settings (``KafkaSettings.librdkafka_config()``).
            topic: the compacted topic (see :func:`ensure_vault_topic`).
            flush_timeout: seconds a write waits for the broker's acknowledgement.
        """
        self._config = dict(client_config)
        self._topic = topic
        self._flush_timeout = flush_timeout
        self._memory = InMemoryVaultStore()
        self._producer = Producer({**self._config, "acks": "all", "enable.idempotence": True})
        self._positions: dict[int, int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KafkaVaultStore(topic={self._topic!r}, entries={len(self._memory)})"

    def __len__(self) -> int:
        return len(self._memory)

    # -- reading the topic ------------------------------------------------------------------
    def load(self, timeout: float = 30.0) -> int:
        """Read the whole topic into memory; return how many live entries it holds."""
        self._catch_up(timeout, from_start=True)
        return len(self._memory)

    def refresh(self, timeout: float = 10.0) -> int:
        """Apply what was written since the last load/refresh; return the live entry count."""
        self._catch_up(timeout, from_start=False)
        return len(self._memory)

    def _catch_up(self, timeout: float, *, from_start: bool) -> None:
        consumer = Consumer(
            {
                **self._config,
                "group.id": f"phi-vault-loader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        deadline = time.monotonic() + timeout
        try:
            meta = consumer.list_topics(self._topic, timeout=timeout)
            topic_meta = meta.topics.get(self._topic)
            if topic_meta is None or topic_meta.error is not None:
                raise DeidError("vault topic does not exist", reason="vault_unavailable")
            targets: dict[int, int] = {}
            assignment = []
            for partition in topic_meta.partitions:
                high = self._high_watermark(consumer, partition, deadline)
                start = (
                    OFFSET_BEGINNING
                    if from_start
                    else self._positions.get(partition, OFFSET_BEGINNING)
                )
                if high > 0 and (start == OFFSET_BEGINNING or start < high):
                    targets[partition] = high
                    assignment.append(TopicPartition(self._topic, partition, start))
            if not assignment:
                return
            consumer.assign(assignment)
            self._drain(consumer, targets, timeout)
        except KafkaException as exc:
            raise DeidError("cannot read the vault topic", reason="vault_unavailable") from exc
        finally:
            consumer.close()

    def _high_watermark(self, consumer: Consumer, partition: int, deadline: float) -> int:
        # A just-created topic may not have partition leaders yet: retried until the deadline.
        return watermarks(consumer, self._topic, partition, deadline - time.monotonic())[1]

    def _drain(self, consumer: Consumer, targets: dict[int, int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(targets)
        while pending:
            if time.monotonic() > deadline:
                raise DeidError("timed out loading the vault topic", reason="vault_unavailable")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise DeidError("error reading the vault topic", reason="vault_unavailable")
            self._apply(msg.key(), msg.value())
            partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
            self._positions[partition] = offset + 1
            if partition in pending and offset + 1 >= pending[partition]:
                del pending[partition]

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        scope_index, _, surrogate_index = key.decode("ascii", "replace").partition(":")
        if value is None:
            self._memory.delete(scope_index, surrogate_index)
        else:
            self._memory.put(VaultEntry.from_json(value))

    # -- writing ----------------------------------------------------------------------------
    def _produce(self, key: str, value: bytes | None) -> None:
        errors: list[Any] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        with self._lock:
            try:
                self._producer.produce(
                    self._topic, key=key.encode("ascii"), value=value, on_delivery=on_delivery
                )
            except (KafkaException, BufferError) as exc:
                raise DeidError(
                    "cannot write to the vault topic", reason="vault_unavailable"
                ) from exc
            remaining = self._producer.flush(self._flush_timeout)
        if remaining or errors:
            raise DeidError("vault write was not acknowledged", reason="vault_unavailable")

    def put(self, entry: VaultEntry) -> None:
        """Write the entry (acknowledged by the broker) and keep it in memory."""
        self._produce(entry.key, entry.to_json())
        self._memory.put(entry)

    def entries(self, scope_index: str) -> list[VaultEntry]:
        """Entries of one scope, from memory."""
        return self._memory.entries(scope_index)

    def delete(self, scope_index: str, surrogate_index: str) -> None:
        """Write a tombstone and forget the entry."""
        self._produce(f"{scope_index}:{surrogate_index}", None)
        self._memory.delete(scope_index, surrogate_index)

    def purge_expired(self, now: float) -> int:
        """Tombstone every expired entry; return how many."""
        expired = self._memory.expired(now)
        for entry in expired:
            self.delete(entry.scope_index, entry.surrogate_index)
        return len(expired)

    def close(self) -> None:
        """Flush outstanding writes."""
        self._producer.flush(self._flush_timeout)
