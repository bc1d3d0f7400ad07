"""``phi-pipeline worker`` and ``phi-pipeline send``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading

from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.streaming.runtime import STAGES

log = logging.getLogger(__name__)

#: Third-party loggers held at WARNING in workers unless ``-v`` is given.
NOISY_LOGGERS = (
    "aiokafka",
    "httpcore",
    "httpx",
    "presidio-analyzer",
    "presidio-anonymizer",
    "faust.transport",
    "kafka",
)


def configure_worker(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``worker``."""
    parser.add_argument(
        "--stages",
        default=",".join(STAGES),
        help=f"comma-separated subset of {','.join(STAGES)} (default: all, in one process)",
    )
    parser.add_argument(
        "--chain",
        action="store_true",
        help="chain adjacent stages in memory (detect -> deid -> route): the topics between "
        "them are not written (PHI_STREAMING__CHAIN_STAGES=true does the same)",
    )
    parser.add_argument("--loglevel", default="warning", help="Faust/worker log level")


def parse_stages(value: str) -> list[str]:
    """Parse ``--stages``."""
    stages = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise ConfigError(f"unknown stages {unknown}; choose from {list(STAGES)}")
    return stages


#: How long a worker whose outputs cannot be delivered may take to stop cleanly.
FATAL_EXIT_GRACE_S = 15.0


def _exit_soon() -> None:
    """Exit the process with status 1 after a grace period, whatever the event loop is doing.

    Faust's clean stop first waits for every delivered event to be acknowledged; the events of
    the batch whose outputs failed never will be. Their offsets are not committed, so exiting
    hard loses nothing: the restarted worker replays them.
    """
    timer = threading.Timer(FATAL_EXIT_GRACE_S, os._exit, args=(1,))
    timer.daemon = True
    timer.start()


def run_worker(args: argparse.Namespace) -> int:
    """Run the Faust worker until interrupted."""
    from faust import Worker

    from pipeline.eventloop import install_event_loop
    from pipeline.kafka.admin import ensure_topics
    from pipeline.streaming.app import create_app, topic_specs
    from pipeline.streaming.runtime import build_runtime, freeze_heap

    settings: Settings = args.settings
    if settings.kafka.bootstrap_servers is None:
        raise ConfigError(
            "set KAFKA_BOOTSTRAP_SERVERS (or run `phi-pipeline kafka up` and export it)",
            reason="no_broker",
        )
    # Before anything creates a loop: Faust's worker and its consumer thread take theirs from
    # the policy set here.
    loop_kind = install_event_loop(settings.streaming.event_loop)
    stages = parse_stages(args.stages)
    if args.chain:
        streaming = settings.streaming.model_copy(update={"chain_stages": True})
        settings = settings.model_copy(update={"streaming": streaming})
    # With the stages in a child process, the child loads the models; this process only
    # needs what the provider stage and the agents use.
    in_child = settings.streaming.stage_executor == "process"
    runtime = build_runtime(
        settings, [s for s in stages if s == "provider"] if in_child else stages
    )
    ensure_topics(settings.kafka, topic_specs(settings, [p.name for p in runtime.policy.providers]))
    app = create_app(settings, runtime, stages, on_fatal=_exit_soon)
    if not args.verbose:
        # Chatty libraries would build (and drop) dozens of DEBUG records per prompt.
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    # How long the stage thread may hold the GIL while the event loop waits to resume after a
    # select() or socket write (with the stage thread; a stage process has a GIL of its own).
    sys.setswitchinterval(settings.streaming.gil_switch_interval_s)
    freeze_heap(settings)
    log.info("worker starting stages=%s loop=%s", ",".join(stages), loop_kind)
    Worker(app, loglevel=args.loglevel, quiet=True).execute_from_commandline()
    return 0


def configure_send(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``send``."""
    parser.add_argument("text", help="the prompt (use - to read it from stdin)")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--user", default="cli")
    parser.add_argument("--session")
    parser.add_argument("--subject", help="patient/subject id, if known")
    parser.add_argument("--provider")
    parser.add_argument("--model")
    parser.add_argument("--timeout", type=float, default=60.0)


def run_send(args: argparse.Namespace) -> int:
    """Publish one prompt and print its completion as JSON."""
    from pipeline.streaming.sdk import CompletionConsumer, PromptProducer

    settings: Settings = args.settings
    text = sys.stdin.read() if args.text == "-" else args.text
    with CompletionConsumer(settings) as consumer:
        producer = PromptProducer(settings)
        rid = producer.send(
            text,
            tenant=args.tenant,
            user_id=args.user,
            session_id=args.session,
            subject_id=args.subject,
            provider=args.provider,
            model=args.model,
        )
        producer.flush()
        completion = consumer.wait(rid, timeout_s=args.timeout)
    completion.pop("completion_encrypted", None)
    print(json.dumps(completion, default=str, indent=2))
    return 0 if completion["status"] == "ok" else 1
