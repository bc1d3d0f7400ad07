"""Files the embedded broker runs from: ``server.properties``, the log4j2 config, a cluster id.

The broker is one KRaft node acting as broker and controller, listening on loopback only. Its
settings are those of a single-node development cluster: every internal topic (consumer
offsets, transaction state, share-group state) has replication factor 1 and min ISR 1, so
consumer groups and transactions work with one node, and the first consumer-group rebalance
is not delayed.

Topic auto-creation is **off**: the pipeline creates its topics explicitly
(:func:`pipeline.kafka.admin.ensure_topics`, Faust's own declarations), as a production cluster
with auto-creation disabled would require; a test that forgets to create a topic fails loudly
instead of passing against a topic that would not exist in production. Pass
``auto_create_topics=True`` to the launcher to turn it on.
"""

from __future__ import annotations

import base64
import socket
import uuid
from contextlib import ExitStack
from pathlib import Path

#: Loopback only: the development broker must never listen on a public interface.
HOST = "127.0.0.1"
#: Partition counts of the internal topics. The defaults (50) make the first consumer group or
#: transaction on a fresh broker create 50 partitions, which takes seconds on a small machine.
INTERNAL_TOPIC_PARTITIONS = 3


def free_ports(count: int = 2, host: str = HOST) -> list[int]:
    """Return ``count`` distinct TCP ports that were free on ``host`` a moment ago.

    All sockets are held open until every port is chosen, so the ports are distinct. Another
    process may still take a port before the broker binds it; the launcher retries on a bind
    failure.
    """
    with ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def new_cluster_id() -> str:
    """Return a random KRaft cluster id in Kafka's ``Uuid`` text form.

    Kafka's ``Uuid`` is 16 random bytes in URL-safe base64 without padding; ``Uuid.randomUuid``
    rejects ids whose text starts with ``-`` (they read as command-line options). Generating it
    here saves a JVM start (``kafka.tools.StorageTool random-uuid``) per broker.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):
            return text


def render_server_properties(
    *,
    broker_port: int,
    controller_port: int,
    data_dir: Path,
    auto_create_topics: bool = False,
    node_id: int = 1,
) -> str:
    """Return the ``server.properties`` of a single-node KRaft broker+controller.

    Args:
        broker_port: port of the ``PLAINTEXT`` client listener.
        controller_port: port of the KRaft ``CONTROLLER`` listener.
        data_dir: the broker's data directory; its log segments go to ``data_dir/kraft-logs``.
        auto_create_topics: whether producing to an unknown topic creates it.
        node_id: the KRaft node id.
    """
    internal = INTERNAL_TOPIC_PARTITIONS
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": f"{node_id}@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{broker_port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir / "kraft-logs"),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true" if auto_create_topics else "false",
        "delete.topic.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": str(internal),
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": str(internal),
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # A small machine shared with tests: fewer threads than the defaults sized for servers.
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "log.retention.check.interval.ms": "60000",
    }
    header = "# Written by phi-pipeline's embedded Kafka launcher; rewritten on every start.\n"
    return header + "".join(f"{key}={value}\n" for key, value in lines.items())


def render_log4j2_yaml(level: str = "WARN") -> str:
    """Return a log4j2 YAML config logging to stdout (redirected to the broker's log file).

    The root level is ``level``; the server-lifecycle logger stays at INFO so the log shows when
    the broker started and stopped.
    """
    return f"""Configuration:
  name: phi-pipeline-embedded-kafka
  Appenders:
    Console:
      name: STDOUT
      target: SYSTEM_OUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: {level}
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
        additivity: false
        AppenderRef:
          - ref: STDOUT
"""
