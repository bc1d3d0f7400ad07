"""``phi-pipeline kafka up|down|status|fetch``: manage the embedded development broker.

``up`` starts a broker that outlives the command and prints its bootstrap address on stdout
(alone, so ``export KAFKA_BOOTSTRAP_SERVERS=$(phi-pipeline kafka up)`` works); ``status`` and
``down`` find it through the state file in ``<embedded_home>/daemon``; ``fetch`` only downloads
the jars (CI runs it in a cached step).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from pipeline.config import KafkaSettings, Settings
from pipeline.errors import ConfigError

log = logging.getLogger(__name__)

#: Exit code of ``status`` when no broker runs (as ``systemctl status`` uses for "not running").
NOT_RUNNING = 3


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``up``/``down``/``status``/``fetch`` actions."""
    actions = parser.add_subparsers(dest="kafka_action", required=True, metavar="ACTION")
    up = actions.add_parser(
        "up", help="start the embedded broker in the background; print its bootstrap address"
    )
    up.add_argument(
        "--auto-create-topics",
        action="store_true",
        help="let producing to an unknown topic create it (off by default)",
    )
    down = actions.add_parser("down", help="stop the embedded broker")
    down.add_argument(
        "--purge", action="store_true", help="also delete its data directory (all topics)"
    )
    down.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait before killing it"
    )
    actions.add_parser("status", help="say whether the embedded broker runs, and where")
    actions.add_parser("fetch", help="only download the broker jars with Maven")


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; return the exit code."""
    settings: Settings = args.settings
    kafka = settings.kafka
    action: str = args.kafka_action
    if action == "fetch":
        return _fetch(kafka)
    if action == "up":
        return _up(kafka, auto_create_topics=bool(args.auto_create_topics))
    if action == "down":
        return _down(kafka, purge=bool(args.purge), timeout_s=float(args.timeout))
    if action == "status":
        return _status(kafka)
    raise ConfigError(f"unknown kafka action {action!r}")


def _fetch(kafka: KafkaSettings) -> int:
    from pipeline.kafka.fetch import ensure_jars

    libs = ensure_jars(kafka.embedded_home, kafka.embedded_version)
    print(libs)
    return 0


def _up(kafka: KafkaSettings, *, auto_create_topics: bool) -> int:
    from pipeline.kafka.launcher import running_daemon, start_daemon

    if kafka.bootstrap_servers:
        log.warning(
            "an external broker is configured (%s); clients will use it, not this one",
            kafka.bootstrap_servers,
        )
    existing = running_daemon(kafka)
    state = existing or start_daemon(kafka, auto_create_topics=auto_create_topics)
    verb = "already running" if existing else "started"
    log.info(
        "Kafka %s %s (pid %d, data %s, log %s)",
        state.version,
        verb,
        state.pid,
        state.data_dir,
        state.log_file,
    )
    print(state.bootstrap_servers)
    sys.stdout.flush()
    return 0


def _down(kafka: KafkaSettings, *, purge: bool, timeout_s: float) -> int:
    import shutil

    from pipeline.kafka.launcher import daemon_dir, stop_daemon

    state = stop_daemon(kafka, timeout_s=timeout_s)
    if state is None:
        log.info("no embedded broker is running")
    else:
        log.info("stopped Kafka (pid %d)", state.pid)
    if purge:
        shutil.rmtree(daemon_dir(kafka), ignore_errors=True)
        log.info("deleted %s", daemon_dir(kafka))
    return 0


def _status(kafka: KafkaSettings) -> int:
    from pipeline.kafka.launcher import answers_metadata, running_daemon

    state = running_daemon(kafka)
    if state is None:
        print("stopped")
        return NOT_RUNNING
    uptime = time.time() - state.started_at
    answering = "yes" if answers_metadata(state.bootstrap_servers) else "no"
    print(
        f"running bootstrap={state.bootstrap_servers} answering={answering} pid={state.pid} "
        f"version={state.version} uptime={uptime:.0f}s data={state.data_dir} "
        f"log={state.log_file}"
    )
    return 0
