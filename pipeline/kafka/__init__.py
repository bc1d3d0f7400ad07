"""Apache Kafka plumbing: an embedded broker for development and tests, and topic admin.

Importing this package is cheap: the Kafka clients are imported where they are used.
"""

from __future__ import annotations

from pipeline.kafka.admin import TopicSpec, delete_topics, ensure_topics
from pipeline.kafka.launcher import EmbeddedKafka, broker_for, running_daemon
from pipeline.kafka.process import BrokerState

__all__ = [
    "BrokerState",
    "EmbeddedKafka",
    "TopicSpec",
    "broker_for",
    "delete_topics",
    "ensure_topics",
    "running_daemon",
]
