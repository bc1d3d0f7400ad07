"""The Faust app: thin agents over the pure stages.

``create_app(settings, runtime)`` has no side effects until the app starts. Each agent decodes
nothing itself: it hands raw values and offsets to a stage function and sends what comes back.

Delivery: at-least-once (a batch's input is acknowledged to Faust, and so committed, only
after the broker acknowledged all its outputs,
:class:`~pipeline.streaming.delivery.DeliveredProducer`; the agent processes the next batch
meanwhile), made idempotent by request id: audit events of
a replayed stage repeat their ``event_id``, and completions are effectively-once through the
:class:`~pipeline.streaming.ledger.CompletionLedger`. Faust's ``exactly_once`` mode is not used:
measured here against Kafka 4.1, it still duplicated outputs after a kill (its transactional id
follows the destination partition, not the source), see the README.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT

from pipeline.config import Settings
from pipeline.errors import ConfigError, StreamingError
from pipeline.kafka.admin import TopicSpec
from pipeline.streaming.batching import ready_batches
from pipeline.streaming.delivery import DeliveredProducer
from pipeline.streaming.ledger import CompletionLedger
from pipeline.streaming.provider_stage import call_provider_batch
from pipeline.streaming.records import Origin, Out
from pipeline.streaming.runtime import Runtime
from pipeline.streaming.stage_runner import stage_runner
from pipeline.streaming.stages import chain_runtime
from pipeline.streaming.transport import App

log = logging.getLogger(__name__)

#: Batches of one agent whose outputs may await the broker's acknowledgement at once.
MAX_BATCHES_IN_FLIGHT = 4


def topic_specs(settings: Settings, providers: Iterable[str]) -> list[TopicSpec]:
    """Every topic of DESIGN.md with its partitions, replication and retention."""
    t = settings.topics
    rf = t.replication_factor

    def spec(name: str, retention_ms: int, **extra: str) -> TopicSpec:
        config = {"retention.ms": str(retention_ms), **extra}
        if rf > 1:
            config["min.insync.replicas"] = str(min(2, rf))
        return TopicSpec(name, t.partitions, rf, config)

    specs = [
        spec(t.raw, t.short_retention_ms),
        spec(t.detected, t.short_retention_ms),
        spec(t.deidentified, t.short_retention_ms),
        spec(t.quarantine, t.dlq_retention_ms),
        spec(t.completions, t.completions_retention_ms),
        spec(t.audit, -1),
        spec(t.dlq, t.dlq_retention_ms),
    ]
    specs += [spec(f"{t.provider_prefix}{p}", t.short_retention_ms) for p in sorted(providers)]
    return specs


def _origin(event: EventT) -> Origin:
    msg = event.message
    return Origin(msg.topic, msg.partition, msg.offset)


def _items(events: Sequence[EventT]) -> list[tuple[bytes, Origin]]:
    return [(bytes(e.value or b""), _origin(e)) for e in events]


def _faust_broker_kwargs(settings: Settings) -> dict[str, Any]:
    kafka = settings.kafka
    if kafka.bootstrap_servers is None:
        raise ConfigError("no Kafka bootstrap servers configured", reason="no_broker")
    kwargs: dict[str, Any] = {
        "broker": ";".join(f"kafka://{b.strip()}" for b in kafka.bootstrap_servers.split(",")),
    }
    if kafka.security_protocol != "PLAINTEXT":
        import ssl

        context = ssl.create_default_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None
        )
        if kafka.ssl_certfile:
            context.load_cert_chain(
                str(kafka.ssl_certfile), str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None
            )
        if kafka.sasl_mechanism:
            kwargs["broker_credentials"] = faust.SASLCredentials(
                username=kafka.sasl_username,
                password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
                mechanism=kafka.sasl_mechanism,
                ssl_context=context if kafka.security_protocol == "SASL_SSL" else None,
            )
        else:
            kwargs["broker_credentials"] = faust.SSLCredentials(context)
    return kwargs


def create_app(
    settings: Settings,
    runtime: Runtime,
    stages: Sequence[str],
    *,
    on_fatal: Callable[[], None] | None = None,
) -> faust.App:
    """Build the Faust app running ``stages`` (any subset of detect, deid, route, provider).

    Args:
        settings: the configuration.
        runtime: what the stages need (detector, keys, policy, adapters).
        stages: the stages this worker runs.
        on_fatal: called once when outputs cannot be delivered, before the app is crashed
            (the CLI worker arms a hard exit there: Faust's own shutdown waits for the
            unacknowledged events of the failed batch and may never finish).
    """
    s = settings.streaming
    # Faust keeps a data directory even with the memory store; not in the working directory.
    datadir = Path.home() / ".cache" / "phi-pipeline" / "faust" / s.app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = App(
        s.app_id,
        fetch_min_bytes=s.fetch_min_bytes,
        fetch_max_wait_ms=s.fetch_max_wait_ms,
        store="memory://",
        processing_guarantee="at_least_once",
        topic_partitions=settings.topics.partitions,
        topic_replication_factor=settings.topics.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=s.web_port is not None,
        web_port=s.web_port or 6066,
        web_bind="127.0.0.1",
        broker_commit_every=s.batch_size,
        broker_session_timeout=s.session_timeout_s,
        broker_heartbeat_interval=max(1.0, s.session_timeout_s / 4),
        broker_commit_interval=1.0,
        datadir=str(datadir),
        **_faust_broker_kwargs(settings),
    )
    t = settings.topics
    topics: dict[str, faust.TopicT] = {}

    def topic(name: str) -> faust.TopicT:
        if name not in topics:
            topics[name] = app.topic(
                name,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                internal=False,
            )
        return topics[name]

    # Outputs go through librdkafka and are awaited to the broker's ack before the agent asks
    # for more input, so Faust never acknowledges an offset whose outputs are in flight.
    producer = DeliveredProducer(settings)

    def close_producer(_app: Any, /, *_args: Any, signal: Any, **_kwargs: Any) -> None:
        producer.close()  # a clean stop flushes what is left

    app.on_before_shutdown.connect(close_producer)
    fatal: list[str] = []  # on_fatal runs once, however many agents fail together

    async def fail(exc: StreamingError) -> None:
        """Stop the worker (exit 1) rather than skip a batch.

        The batch's input was never acknowledged, so the restarted worker replays it.
        """
        log.error("%s (%s); stopping the worker", exc, exc.reason)
        if on_fatal is not None and not fatal:
            fatal.append(exc.reason)
            on_fatal()
        await app.crash(exc)

    async def send_all(outs: Sequence[Out]) -> None:
        try:
            await producer.send(outs)
        except StreamingError as exc:
            # librdkafka retried until its delivery timeout: the broker is gone or refuses the
            # topic.
            await fail(StreamingError("outputs not acknowledged", reason=exc.reason))
            raise

    # Every stage that can answer a request (deid and route with a blocked or quarantined
    # completion, provider with the provider's) shares one ledger, so a replayed record never
    # answers its request twice.
    ledger = CompletionLedger(settings.kafka, t.completions)
    scanned: dict[str, frozenset[Any]] = {}
    catch_up_lock = asyncio.Lock()

    async def caught_up() -> None:
        # The lock makes a second agent wait for a catch-up in flight instead of skipping it.
        async with catch_up_lock:
            assignment = frozenset(app.consumer.assignment())
            if scanned.get("assignment") != assignment:
                # Partitions moved: read every completion acknowledged before we took over.
                await asyncio.get_running_loop().run_in_executor(None, ledger.catch_up)
                scanned["assignment"] = assignment

    def unanswered(outs: list[Out]) -> list[Out]:
        """Drop the outputs of a request whose completion is already written (a replay)."""
        answers = [o for o in outs if o.topic == t.completions]
        if not answers:
            return outs
        request_id = answers[0].key.decode("utf-8", "replace")
        if ledger.seen(request_id):
            return []
        ledger.add(request_id)
        return outs

    # Adjacent stages of this worker may be chained: their records pass in memory and the
    # topic between them is neither written nor read (PHI_STREAMING__CHAIN_STAGES).
    chained = chain_runtime(runtime, stages)
    if chained:
        log.info("chained stages: %s", ", ".join(f.__name__ for f in chained.values()))

    # The CPU-bound stages run off the event loop, one batch at a time (a thread of their own
    # or a child process: PHI_STREAMING__STAGE_EXECUTOR), so provider calls, broker
    # acknowledgements and Faust's heartbeats keep flowing while a batch is detected.
    # Not closed at shutdown (an agent may still hand it a batch then): its thread or child
    # process ends with this process, and a batch in flight is never acknowledged: replayed.
    runner = stage_runner(settings, runtime, stages, chained)

    Handler = Callable[[list[tuple[bytes, Origin]]], Awaitable[list[Out]]]

    async def run_batches(stream: Any, handle: Handler, linger_s: float) -> None:
        """Feed ``stream``'s batches to ``handle``; acknowledge a batch once its outputs are.

        The next batch is processed while the broker acknowledges the previous one's outputs
        (at most ``MAX_BATCHES_IN_FLIGHT``): Faust acknowledges an input only after its
        outputs, and commits an offset only when every offset before it is acknowledged too,
        so a crash still replays, never skips. Outputs are produced in batch order.
        """
        in_flight: set[asyncio.Task[None]] = set()
        failed: list[BaseException] = []

        async def deliver(outs: list[Out], events: Sequence[EventT]) -> None:
            await send_all(outs)
            for event in events:
                await stream.ack(event)

        def settled(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            if not task.cancelled() and task.exception() is not None:
                failed.append(task.exception())  # type: ignore[arg-type]

        async for events in ready_batches(stream, s.batch_size, linger_s):
            if failed:
                raise failed[0]  # the app is already crashing (send_all); take no more
            await caught_up()
            task = asyncio.create_task(deliver(await handle(_items(events)), events))
            in_flight.add(task)
            task.add_done_callback(settled)
            while len(in_flight) >= MAX_BATCHES_IN_FLIGHT:
                await asyncio.wait(set(in_flight), return_when=asyncio.FIRST_COMPLETED)

    def off_loop(stage: str) -> Handler:
        async def handle(items: list[tuple[bytes, Origin]]) -> list[Out]:
            try:
                results = await runner.run(stage, items)
            except Exception:
                # Not a record's failure (those are dead letters): the runner itself broke (a
                # child process died). Stop the worker; the batch is replayed on restart.
                await fail(StreamingError(f"stage {stage} did not run", reason="runner_failed"))
                raise
            # The ledger is read and written on the event loop only (the provider uses it).
            return [o for outs in results for o in unanswered(outs)]

        return handle

    def stage_agent(stage: str, source: str) -> None:
        """Register the agent that runs ``stage`` on batches from ``source``."""

        async def agent(stream: Any) -> None:
            await run_batches(stream, off_loop(stage), s.batch_linger_s)

        app.agent(topic(source), name=stage)(agent)

    if "detect" in stages:
        stage_agent("detect", t.raw)
    if "deid" in stages and t.detected not in chained:
        stage_agent("deid", t.detected)
    if "route" in stages and t.deidentified not in chained:
        stage_agent("route", t.deidentified)
    if {"detect", "deid", "route"} & set(stages):

        @app.task
        async def warm_up_runner() -> None:
            # A child process loads its models while the worker joins its group.
            try:
                await runner.warm_up()
            except Exception:
                await fail(StreamingError("the stage runner did not start", reason="runner_failed"))

    if "provider" in stages:
        provider_topics = [runtime.provider_topic(p.name) for p in runtime.policy.providers]
        wal = producer.write_ahead

        async def close_adapters(_app: Any, /, *_args: Any, signal: Any, **_kwargs: Any) -> None:
            for adapter in runtime.adapters.values():
                await adapter.aclose()  # HTTP sessions, before the event loop goes

        app.on_before_shutdown.connect(close_adapters)

        async def call(items: list[tuple[bytes, Origin]]) -> list[Out]:
            results = await call_provider_batch(runtime, items, ledger, wal)
            return [o for outs in results for o in outs]

        @app.agent(
            app.topic(
                *provider_topics,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
            ),
            name="provider",
        )
        async def provider_agent(stream: Any) -> None:
            await run_batches(stream, call, s.provider_batch_linger_s)

    return app
