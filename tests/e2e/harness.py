"""The end-to-end harness: a whole pipeline on a real broker against a real loopback provider.

Pieces, each usable on its own:

* :func:`policy_yaml` - the routing policy of the e2e tests, its providers pointing at one
  :class:`RecordingServer` port;
* :func:`e2e_settings` - settings with a unique topic prefix and Faust app id, so tests sharing
  a broker never share a topic or a consumer group;
* :class:`InProcessWorker` - the Faust app of :func:`pipeline.streaming.app.create_app` on its
  own event loop in a background thread (fast; the test can swap runtime parts);
* :class:`SubprocessWorker` - ``python -m pipeline.cli worker`` with env variables, for the
  SIGKILL test;
* :class:`Pipeline` - settings, server, worker and the SDK producer/consumer, plus readers that
  return every record present on a topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import faust
from aiohttp import web
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from pipeline.config import (
    DetectionSettings,
    KafkaSettings,
    KeySettings,
    ProviderSettings,
    Settings,
    StreamingSettings,
    TopicSettings,
    load_settings,
)
from pipeline.kafka.admin import delete_topics, ensure_topics
from pipeline.kafka.offsets import watermarks
from pipeline.providers.local_server import LocalProviderServer
from pipeline.serde import RecordType
from pipeline.streaming.app import create_app, topic_specs
from pipeline.streaming.runtime import STAGES, Runtime, build_runtime
from pipeline.streaming.sdk import CompletionConsumer, PromptProducer

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

#: Provider names of the test policy.
BAA = "local-baa"
PUBLIC = "local-public"
RETRY_PROVIDERS = ("retry-429", "retry-500", "retry-timeout")

#: Which record type each topic role carries (the provider topics carry ProviderRequest).
TOPIC_TYPES: dict[str, RecordType] = {
    "raw": RecordType.PROMPT_REQUEST,
    "detected": RecordType.DETECTED_PROMPT,
    "deidentified": RecordType.DEIDENTIFIED_PROMPT,
    "quarantine": RecordType.QUARANTINED_PROMPT,
    "completions": RecordType.COMPLETION,
    "audit": RecordType.AUDIT_EVENT,
    "dlq": RecordType.DEAD_LETTER,
}


def policy_yaml(port: int) -> str:
    """Return the YAML policy of the e2e tests; every provider is the server on ``port``.

    Tenants: ``clinic-a`` (raw to the BAA provider for at most 3 names/dates/MRNs, SSN blocks,
    else de-identified to the BAA provider), ``analytics-b`` (always de-identified, to the
    provider without a BAA), ``stranded-d`` (requires a region no provider has: nothing is
    eligible), ``ops-e`` (may name the retry providers, used for fault injection) and ``reid-f``
    (pseudonymized for the provider without a BAA, completions re-identified).
    """
    endpoint = f"http://127.0.0.1:{port}/v1"
    retry = "\n".join(
        f"""  - name: {name}
    kind: local
    endpoint: {endpoint}
    models: [echo-retry]
    region: us-east-1"""
        for name in RETRY_PROVIDERS
    )
    return f"""schema_version: 1
providers:
  - name: {BAA}
    kind: local
    endpoint: {endpoint}
    models: [echo-baa]
    baa: {{signed: true, reference: BAA-E2E-0001, effective: 2025-01-01, expires: 2099-12-31}}
    region: us-east-1
    zero_data_retention: true
    training_opt_out: true
    rate_limits: {{max_concurrency: 4}}
  - name: {PUBLIC}
    kind: local
    endpoint: {endpoint}
    models: [echo-public]
    region: us-east-1
    rate_limits: {{max_concurrency: 4}}
{retry}
tenants:
  - name: clinic-a
    allowed_providers: [{BAA}, {PUBLIC}]
    default_provider: {BAA}
    requirements: {{baa: true, regions: [us-east-1]}}
    rules:
      - name: ssn-never-leaves
        when: {{categories: [SSN], min_total: 1}}
        action: block
        reason: ssn_present
      - name: few-identifiers-raw
        when: {{categories: [NAME, DATE, MRN], min_total: 1, max_total: 3, exclusive: true}}
        action: allow_raw
        reason: baa_raw_permitted
    default_action: deidentify
  - name: analytics-b
    allowed_providers: [{PUBLIC}]
    default_provider: {PUBLIC}
    requirements: {{regions: [us-east-1]}}
    default_action: deidentify
  - name: stranded-d
    allowed_providers: [{PUBLIC}]
    default_provider: {PUBLIC}
    requirements: {{regions: [eu-central-1]}}
    default_action: deidentify
  - name: ops-e
    allowed_providers: [{PUBLIC}, {", ".join(RETRY_PROVIDERS)}]
    default_provider: {PUBLIC}
    default_action: deidentify
  - name: reid-f
    allowed_providers: [{PUBLIC}]
    default_provider: {PUBLIC}
    default_action: deidentify
    deidentification: {{profile: pseudonymize, reidentify_completions: true}}
"""


def e2e_settings(
    bootstrap: str,
    key_file: Path,
    policy_file: Path,
    *,
    timeout_s: float = 1.5,
    max_retries: int = 2,
    batch_size: int = 16,
    delivery_timeout_s: float = 120.0,
    chain_stages: bool = False,
    stage_executor: str = "thread",
) -> Settings:
    """Settings with unique topics and app id (one consumer group set per pipeline)."""
    p = f"e2e-{uuid.uuid4().hex[:10]}"
    return load_settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, client_id=p),
        topics=TopicSettings(
            raw=f"{p}.prompts.raw",
            detected=f"{p}.prompts.detected",
            deidentified=f"{p}.prompts.deidentified",
            quarantine=f"{p}.prompts.quarantine",
            provider_prefix=f"{p}.provider.",
            completions=f"{p}.completions",
            audit=f"{p}.audit",
            dlq=f"{p}.dlq",
            vault=f"{p}.vault",
            partitions=3,
        ),
        keys=KeySettings(key_file=key_file),
        providers=ProviderSettings(
            policy_file=policy_file,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_base_s=0.05,
            backoff_max_s=0.5,
        ),
        detection=DetectionSettings(profile="fast"),
        streaming=StreamingSettings(
            app_id=p,
            batch_size=batch_size,
            delivery_timeout_s=delivery_timeout_s,
            chain_stages=chain_stages,
            stage_executor=stage_executor,
        ),
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``PHI_*`` environment that makes ``load_settings()`` rebuild ``settings``."""
    t, p, s = settings.topics, settings.providers, settings.streaming
    env = {
        "PHI_KAFKA__BOOTSTRAP_SERVERS": str(settings.kafka.bootstrap_servers),
        "PHI_KAFKA__CLIENT_ID": settings.kafka.client_id,
        "PHI_KEYS__KEY_FILE": str(settings.keys.key_file),
        "PHI_PROVIDERS__POLICY_FILE": str(p.policy_file),
        "PHI_PROVIDERS__TIMEOUT_S": str(p.timeout_s),
        "PHI_PROVIDERS__MAX_RETRIES": str(p.max_retries),
        "PHI_PROVIDERS__BACKOFF_BASE_S": str(p.backoff_base_s),
        "PHI_PROVIDERS__BACKOFF_MAX_S": str(p.backoff_max_s),
        "PHI_DETECTION__PROFILE": settings.detection.profile,
        "PHI_STREAMING__APP_ID": s.app_id,
        "PHI_STREAMING__BATCH_SIZE": str(s.batch_size),
        "PHI_STREAMING__BATCH_LINGER_S": str(s.batch_linger_s),
        "PHI_STREAMING__PROVIDER_BATCH_LINGER_S": str(s.provider_batch_linger_s),
        "PHI_STREAMING__DELIVERY_TIMEOUT_S": str(s.delivery_timeout_s),
        "PHI_STREAMING__CHAIN_STAGES": str(s.chain_stages).lower(),
        "PHI_STREAMING__STAGE_EXECUTOR": s.stage_executor,
        "PHI_STREAMING__EVENT_LOOP": s.event_loop,
        "PHI_TOPICS__PARTITIONS": str(t.partitions),
    }
    roles = (
        "raw",
        "detected",
        "deidentified",
        "quarantine",
        "completions",
        "audit",
        "dlq",
        "vault",
    )
    for role in roles:
        env[f"PHI_TOPICS__{role.upper()}"] = str(getattr(t, role))
    env["PHI_TOPICS__PROVIDER_PREFIX"] = t.provider_prefix
    return env


def wait_until(what: str, probe: Callable[[], T | None], timeout_s: float = 60.0) -> T:
    """Call ``probe`` until it returns something other than ``None``/``False``; return it."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


# ------------------------------------------------------------------------- provider server ----
class RecordingServer(LocalProviderServer):
    """The loopback provider server, also keeping the ``X-Request-ID`` of every request.

    ``on_request`` (if set) runs inside the server, after the request arrived and before any
    reply is sent: the write-ahead test takes its snapshot of the audit topic there.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._by_request: list[tuple[str, object]] = []
        self.on_request: Callable[[str], None] | None = None

    def _record(self, request: web.Request, api: str, body: object) -> None:
        super()._record(request, api, body)
        rid = request.headers.get("X-Request-ID", "")
        with self._lock:
            self._by_request.append((rid, body))
        hook = self.on_request
        if hook is not None:
            hook(rid)

    def attempts(self, request_id: str) -> int:
        """Return how many HTTP requests carried ``request_id``."""
        with self._lock:
            return sum(1 for rid, _ in self._by_request if rid == request_id)

    def bodies(self, request_id: str | None = None) -> list[dict[str, Any]]:
        """Bodies received (for ``request_id`` only, when given), in arrival order."""
        with self._lock:
            pairs = list(self._by_request)
        return [
            dict(body)
            for rid, body in pairs
            if isinstance(body, dict) and (request_id is None or rid == request_id)
        ]

    def request_ids(self) -> list[str]:
        """The ``X-Request-ID`` of every request received, in arrival order."""
        with self._lock:
            return [rid for rid, _ in self._by_request]


# --------------------------------------------------------------------------------- workers ----
class InProcessWorker:
    """Runs the Faust app on its own event loop in a daemon thread."""

    def __init__(self, settings: Settings, runtime: Runtime) -> None:
        self.app: faust.App = create_app(settings, runtime, STAGES)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="e2e-faust-worker", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.app.start())
        except BaseException as exc:  # surfaced to the test thread by start()
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    def start(self) -> InProcessWorker:
        """Start the app; raise if it failed to start."""
        self._thread.start()
        self._started.wait(60)
        if self._error is not None:
            raise RuntimeError("the in-process worker failed to start") from self._error
        return self

    def stop(self) -> None:
        """Stop the app and its loop."""
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self.app.stop(), self._loop)
        with contextlib.suppress(Exception):
            future.result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


class SubprocessWorker:
    """``python -m pipeline.cli worker`` in its own process group (so SIGKILL hits it whole)."""

    def __init__(self, settings: Settings, log_file: Path, loglevel: str = "info") -> None:
        self._env = {**os.environ, **settings_env(settings), "PYTHONUNBUFFERED": "1"}
        self.log_file = log_file
        self._loglevel = loglevel
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SubprocessWorker:
        """Start the worker process (its output goes to ``log_file``)."""
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "worker", "--loglevel", self._loglevel],
                cwd=REPO,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL the worker: no shutdown hook, no flush, no commit."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()


# ------------------------------------------------------------------------------- pipeline ----
def read_topic(bootstrap: str, topic: str, timeout_s: float = 20.0) -> list[Message]:
    """Return every record on ``topic`` up to the high watermarks taken now."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"e2e-reader-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10.0).topics[topic]
        if meta.error is not None:
            return []  # not created yet (a worker that is still starting creates it)
        targets: dict[int, int] = {}
        for p in sorted(meta.partitions):
            low, high = watermarks(consumer, topic, p, 10.0)
            if high > low:
                targets[p] = high
        if not targets:
            return []
        consumer.assign([TopicPartition(topic, p, -2) for p in targets])  # -2: beginning
        out: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while targets:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its watermark")
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            out.append(msg)
            part, offset = msg.partition(), msg.offset()
            if part in targets and offset is not None and offset + 1 >= targets[part]:
                del targets[part]
        return out
    finally:
        consumer.close()


@dataclass
class Pipeline:
    """One running pipeline: settings, provider server, worker and SDK clients."""

    settings: Settings
    server: RecordingServer
    runtime: Runtime
    worker: InProcessWorker | SubprocessWorker | None = None
    _producer: PromptProducer | None = None
    _completions: CompletionConsumer | None = None
    _seen: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- lifecycle -----------------------------------------------------------------------------
    def create_topics(self) -> None:
        """Create every topic of this pipeline (the worker would too; tests read them first)."""
        providers = [p.name for p in self.runtime.policy.providers]
        ensure_topics(self.settings.kafka, topic_specs(self.settings, providers))

    def close(self) -> None:
        """Stop the worker, close clients and delete this pipeline's topics."""
        if self.worker is not None:
            self.worker.stop()
        self.server.stop()
        if self._completions is not None:
            self._completions.close()
        if self._producer is not None:
            self._producer.flush(10)
        # Drop the clients (and the app's producers) now, not when the broker is long gone.
        self.worker = self._producer = self._completions = None
        gc.collect()
        with contextlib.suppress(Exception):  # cleanup must not hide the tests' results
            delete_topics(self.settings.kafka, self.topics(), timeout_s=10.0)

    # -- clients -------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        """The broker address."""
        return str(self.settings.kafka.bootstrap_servers)

    @property
    def producer(self) -> PromptProducer:
        """The SDK prompt producer (built on first use)."""
        if self._producer is None:
            self._producer = PromptProducer(self.settings)
        return self._producer

    @property
    def completions(self) -> CompletionConsumer:
        """The SDK completion consumer (built on first use, kept for the pipeline's life)."""
        if self._completions is None:
            self._completions = CompletionConsumer(self.settings)
        return self._completions

    def send(self, prompt: str | list[dict[str, str]], *, tenant: str, **kwargs: Any) -> str:
        """Publish one prompt with the SDK, wait for its acknowledgement, return its id."""
        rid = self.producer.send(prompt, tenant=tenant, **kwargs)
        self.producer.flush()
        return rid

    def wait(self, request_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Return the (decrypted, when sealed) completion of ``request_id``."""
        if request_id not in self._seen:
            self._seen[request_id] = self.completions.wait(request_id, timeout_s)
        return self._seen[request_id]

    def raw_producer(self, **conf: str | int) -> Producer:
        """A plain producer for hand-made (bad) records."""
        return Producer(
            {"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 0, **conf}
        )

    # -- reading topics ------------------------------------------------------------------------
    def topics(self) -> list[str]:
        """Every topic of this pipeline, the provider topics included."""
        t = self.settings.topics
        names = [str(getattr(t, role)) for role in TOPIC_TYPES]
        return names + [self.runtime.provider_topic(p.name) for p in self.runtime.policy.providers]

    def read(self, topic: str) -> list[Message]:
        """Every record on ``topic`` now."""
        return read_topic(self.bootstrap, topic)

    def records(self, role: str) -> list[dict[str, Any]]:
        """Decode every record of a topic role (``audit``, ``dlq``, ``completions``...)."""
        topic = str(getattr(self.settings.topics, role))
        codec = self.runtime.codec
        return [codec.decode(TOPIC_TYPES[role], m.value() or b"") for m in self.read(topic)]

    def provider_records(self, provider: str) -> list[dict[str, Any]]:
        """Decode every request on a provider topic."""
        codec = self.runtime.codec
        return [
            codec.decode(RecordType.PROVIDER_REQUEST, m.value() or b"")
            for m in self.read(self.runtime.provider_topic(provider))
        ]

    def audit(self, request_id: str, *, until: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Audit events of ``request_id``, waiting until every stage in ``until`` is there."""
        wanted = set(until)

        def probe() -> list[dict[str, Any]] | None:
            events = [e for e in self.records("audit") if e["request_id"] == request_id]
            return events if wanted <= {e["stage"] for e in events} else None

        return wait_until(f"audit stages {sorted(wanted)}", probe, 30.0)

    def drained(self) -> bool:
        """Whether the worker's group has committed every input topic up to its end."""
        t = self.settings.topics
        topics = [t.raw, t.detected, t.deidentified] + [
            self.runtime.provider_topic(p.name) for p in self.runtime.policy.providers
        ]
        consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": self.settings.streaming.app_id}
        )
        try:
            tps = [TopicPartition(topic, p) for topic in topics for p in range(t.partitions)]
            committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, 10)}
            for tp in tps:
                _, high = watermarks(consumer, tp.topic, tp.partition, 10.0)
                if high > 0 and committed[(tp.topic, tp.partition)] < high:
                    return False
            return True
        finally:
            consumer.close()

    def completion_counts(self) -> dict[str, int]:
        """How many completions each request id has on the topic."""
        counts: dict[str, int] = {}
        for msg in self.read(self.settings.topics.completions):
            rid = (msg.key() or b"").decode()
            counts[rid] = counts.get(rid, 0) + 1
        return counts

    def dead_letters(self, match: Callable[[Mapping[str, Any]], bool], n: int) -> list[Any]:
        """Wait until ``n`` DLQ records satisfy ``match``; return them."""

        def probe() -> list[dict[str, Any]] | None:
            found = [d for d in self.records("dlq") if match(d)]
            return found if len(found) >= n else None

        return wait_until(f"{n} dead letters", probe, 60.0)


def start_pipeline(
    bootstrap: str,
    key_file: Path,
    workdir: Path,
    *,
    customise: Callable[[Runtime], None] | None = None,
    in_process: bool = True,
    **settings_kw: Any,
) -> Pipeline:
    """Start a provider server, create the topics and (in process) start a worker.

    Args:
        bootstrap: the broker.
        key_file: the key file every component reads.
        workdir: where the policy file (and a subprocess worker's log) go.
        customise: called with the runtime before the worker starts (fault injection).
        in_process: start an :class:`InProcessWorker`; otherwise the caller starts a
            :class:`SubprocessWorker` itself.
        settings_kw: passed to :func:`e2e_settings`.
    """
    server = RecordingServer()
    server.start()
    try:
        policy_file = workdir / "policy.yaml"
        policy_file.write_text(policy_yaml(server.port), encoding="utf-8")
        settings = e2e_settings(bootstrap, key_file, policy_file, **settings_kw)
        runtime = build_runtime(settings, STAGES if in_process else ("route",))
        if customise is not None:
            customise(runtime)
        pipe = Pipeline(settings, server, runtime)
        pipe.create_topics()
        if in_process:
            pipe.worker = InProcessWorker(settings, runtime).start()
    except BaseException:
        server.stop()
        raise
    return pipe


def running_pipeline(
    bootstrap: str, key_file: Path, workdir: Path, **kwargs: Any
) -> Iterator[Pipeline]:
    """:func:`start_pipeline` for a fixture: yields the pipeline, closes it afterwards."""
    pipe = start_pipeline(bootstrap, key_file, workdir, **kwargs)
    try:
        yield pipe
    finally:
        pipe.close()
