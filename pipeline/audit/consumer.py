"""The thin Kafka loop around :class:`~pipeline.audit.archiver.AuditArchiver`.

Offsets are handled by hand: on assignment each partition is positioned at the archive's own
resume point (last sealed offset + 1, or the beginning), never at the group's committed offset,
so what is durable in the archive decides where reading restarts. Offsets are committed after
each segment is sealed, for lag monitoring only. On revocation or shutdown (SIGTERM, SIGINT)
the open segments are sealed first; after a hard kill their staging files are discarded on
restart and the records are read again.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from pipeline.audit.archiver import AuditArchiver
from pipeline.audit.manifest import Manifest
from pipeline.errors import AuditError

log = logging.getLogger("pipeline.audit.consumer")

#: Consumer group of the archiver workers.
DEFAULT_GROUP = "phi-audit-archiver"


@dataclass
class RunStats:
    """What one run of the loop did."""

    consumed: int = 0
    sealed: int = 0


def run_archiver(
    archiver: AuditArchiver,
    consumer_config: dict[str, str],
    topic: str,
    *,
    group: str = DEFAULT_GROUP,
    instance_id: str | None = None,
    stop_at_end: bool = False,
    stop: threading.Event | None = None,
    poll_timeout_s: float = 0.5,
    install_signal_handlers: bool = True,
) -> RunStats:
    """Consume ``topic`` into ``archiver`` until stopped.

    Args:
        archiver: the archiver core (already recovered from the archive).
        consumer_config: librdkafka settings for bootstrap and security.
        topic: the audit topic.
        group: the consumer group (one archiver per partition at a time).
        instance_id: a static group membership id (``group.instance.id``): a worker restarted
            with the same id gets its partitions back at once instead of after the dead
            member's session times out.
        stop_at_end: seal everything and return once every assigned partition is at its end.
        stop: an event that ends the loop gracefully when set.
        poll_timeout_s: how long one poll waits.
        install_signal_handlers: turn SIGTERM/SIGINT into a graceful stop (main thread only).

    Raises:
        AuditError: Kafka reported a fatal error, or the archive could not be written.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    stop = stop or threading.Event()
    stats = RunStats()
    if install_signal_handlers:
        _install_handlers(stop)
    conf: dict[str, Any] = {
        **consumer_config,
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # Never skip silently: if the resume offset is gone (retention deleted records that
        # were not archived yet) the archive would have a gap, so stop loudly instead.
        "auto.offset.reset": "error",
        "enable.partition.eof": True,
        # Only committed audit records: an aborted transaction's records never happened.
        "isolation.level": "read_committed",
    }
    if instance_id:
        conf["group.instance.id"] = instance_id
    consumer = Consumer(conf)
    assigned: set[int] = set()
    at_end: set[int] = set()

    def commit(manifests: Sequence[Manifest]) -> None:
        stats.sealed += len(manifests)
        if not manifests:
            return
        offsets = [TopicPartition(topic, m.partition, m.last_offset + 1) for m in manifests]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except Exception as exc:  # a commit is informational; the archive is the truth
            log.warning(
                "offset commit failed (%s); the archive still resumes correctly", type(exc).__name__
            )

    def on_assign(cons: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            resume = archiver.resume_offset(tp.partition)
            tp.offset = OFFSET_BEGINNING if resume is None else resume
            assigned.add(tp.partition)
            at_end.discard(tp.partition)
        log.info("assigned partitions %s", sorted(tp.partition for tp in partitions))
        cons.assign(partitions)

    def on_revoke(cons: Any, partitions: list[Any]) -> None:
        revoked = [tp.partition for tp in partitions]
        commit(archiver.seal(revoked))
        assigned.difference_update(revoked)
        at_end.difference_update(revoked)
        cons.unassign()

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    try:
        while not stop.is_set():
            msg = consumer.poll(poll_timeout_s)
            commit(archiver.tick())
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    at_end.add(int(msg.partition() or 0))
                    if stop_at_end and assigned and at_end >= assigned:
                        break
                    continue
                if err.code() == KafkaError._AUTO_OFFSET_RESET:
                    raise AuditError(
                        f"partition {msg.partition()} no longer holds the archive's resume "
                        "offset: records were deleted before being archived (check the "
                        "topic's retention.ms, which should be -1)",
                        reason="audit_gap",
                    )
                if err.fatal() or err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise AuditError(
                        f"Kafka error while archiving ({err.name()})", reason="kafka_error"
                    )
                log.warning("Kafka reported %s while archiving", err.name())
                continue
            partition, offset = msg.partition(), msg.offset()
            if partition is None or offset is None:
                continue
            at_end.discard(partition)
            _, ts = msg.timestamp()
            commit(archiver.append(partition, offset, ts, msg.value()))
            stats.consumed += 1
        commit(archiver.seal())
    finally:
        consumer.close()
    log.info("archiver stopped: consumed=%d sealed=%d", stats.consumed, stats.sealed)
    return stats


def _install_handlers(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
