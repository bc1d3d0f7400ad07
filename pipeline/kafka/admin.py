"""Topic administration: create the pipeline's topics idempotently.

Auto-creation is off on the embedded broker (and should be in production), so every stage
declares the topics it writes with :func:`ensure_topics` before producing.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.config import KafkaSettings
from pipeline.errors import ConfigError, PipelineError

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

log = logging.getLogger(__name__)

_TOPIC_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class TopicAdminError(PipelineError):
    """Topics could not be created, inspected or deleted."""

    reason = "topic_admin_error"


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create.

    Attributes:
        name: the topic name (Kafka's legal characters, at most 249).
        partitions: number of partitions.
        replication_factor: replicas per partition (1 on the single-node embedded broker).
        config: topic configs, e.g. ``{"retention.ms": "86400000", "cleanup.policy": "delete"}``.
    """

    name: str
    partitions: int = 1
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not _TOPIC_NAME_RE.fullmatch(self.name) or self.name in {".", ".."}:
            raise ConfigError(f"invalid topic name {self.name!r}", reason="bad_topic_name")
        if self.partitions < 1 or self.replication_factor < 1:
            raise ConfigError(
                f"topic {self.name}: partitions and replication_factor must be >= 1",
                reason="bad_topic_spec",
            )
        for key, value in self.config.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ConfigError(
                    f"topic {self.name}: config keys and values must be strings ({key!r})",
                    reason="bad_topic_spec",
                )


def admin_client(settings: KafkaSettings) -> AdminClient:
    """Return a confluent-kafka ``AdminClient`` for ``settings`` (security settings included).

    Raises:
        ConfigError: no bootstrap address is configured.
    """
    from confluent_kafka.admin import AdminClient

    # The stubs type config values as scalars; librdkafka's Python binding also takes a logger.
    conf: dict[str, Any] = dict(settings.librdkafka_config())
    conf["logger"] = logging.getLogger("pipeline.kafka.librdkafka")
    return AdminClient(conf)


def ensure_topics(
    settings: KafkaSettings, specs: Sequence[TopicSpec], *, timeout_s: float = 30.0
) -> list[str]:
    """Create the topics in ``specs`` that do not exist yet; leave existing ones alone.

    Existing topics are not altered (changing partitions or configs of a live topic is an
    operator's decision); a warning is logged when one has fewer partitions than its spec.
    Returns once every topic has a leader for each partition, so producing can start at once.

    Args:
        settings: how to reach the broker.
        specs: the topics.
        timeout_s: overall time budget.

    Returns:
        The names of the topics this call created.

    Raises:
        TopicAdminError: a topic could not be created or did not become ready in time.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    if not specs:
        return []
    admin = admin_client(settings)
    deadline = time.monotonic() + timeout_s
    existing = _topic_partitions(admin, timeout_s)
    missing = [spec for spec in specs if spec.name not in existing]
    for spec in specs:
        have = existing.get(spec.name)
        if have is not None and have < spec.partitions:
            log.warning(
                "topic %s exists with %d partitions, spec wants %d; left unchanged",
                spec.name,
                have,
                spec.partitions,
            )
    created: list[str] = []
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=spec.replication_factor,
                    config=dict(spec.config),
                )
                for spec in missing
            ],
            request_timeout=timeout_s,
        )
        for name, future in futures.items():
            try:
                future.result(timeout=max(0.1, deadline - time.monotonic()))
                created.append(name)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                # Another worker created it between our listing and our request: fine.
                if getattr(error, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise TopicAdminError(f"could not create topic {name}: {error}") from exc
            except TimeoutError as exc:
                raise TopicAdminError(f"creating topic {name} timed out") from exc
    _wait_for_leaders(admin, [spec.name for spec in specs], deadline)
    if created:
        log.info("created topics %s", ", ".join(sorted(created)))
    return created


def delete_topics(
    settings: KafkaSettings, names: Iterable[str], *, timeout_s: float = 30.0
) -> None:
    """Delete the named topics; topics that do not exist are ignored.

    Raises:
        TopicAdminError: a deletion failed for another reason.
    """
    from confluent_kafka import KafkaError, KafkaException

    names = list(names)
    if not names:
        return
    admin = admin_client(settings)
    futures = admin.delete_topics(names, request_timeout=timeout_s)
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if getattr(error, "code", lambda: None)() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            raise TopicAdminError(f"could not delete topic {name}: {error}") from exc
        except TimeoutError as exc:
            raise TopicAdminError(f"deleting topic {name} timed out") from exc


def _topic_partitions(admin: AdminClient, timeout_s: float) -> dict[str, int]:
    """Return ``{topic: partition count}`` for every topic the broker knows."""
    from confluent_kafka import KafkaException

    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise TopicAdminError("could not list topics (is the broker reachable?)") from exc
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def _wait_for_leaders(admin: AdminClient, names: Sequence[str], deadline: float) -> None:
    """Wait until every partition of ``names`` has a leader in the broker's metadata."""
    from confluent_kafka import KafkaException

    pending = set(names)
    while pending:
        for name in sorted(pending):
            try:
                topic = admin.list_topics(topic=name, timeout=5.0).topics.get(name)
            except KafkaException:
                topic = None
            if (
                topic is not None
                and topic.error is None
                and topic.partitions
                and all(p.leader >= 0 for p in topic.partitions.values())
            ):
                pending.discard(name)
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise TopicAdminError(f"topics without a leader in time: {', '.join(sorted(pending))}")
        time.sleep(0.1)
