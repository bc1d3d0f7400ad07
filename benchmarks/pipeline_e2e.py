"""End-to-end pipeline benchmark: offered load -> sustained prompts/s and latency percentiles.

    python -m benchmarks.pipeline_e2e --rates 50,100,200,300,400 --seconds 20 \
        --out results.json --plot docs/pipeline_e2e.png

What runs: a Kafka broker (``KAFKA_BOOTSTRAP_SERVERS``, else the ``phi-pipeline kafka up``
daemon, else an owned embedded broker; ``--own-broker`` forces the last), the zero-latency
local provider server in this process on a free port, and ``--workers`` worker processes
(``python -m pipeline.cli worker``: all stages in one process, or with ``--split`` one process
per stage, or with ``--split --chain`` one for the chain and one for the provider). Topics
and the app id are unique to the run and deleted afterwards.

For each offered rate, prompts (:mod:`benchmarks.prompts`, tenant ``analytics-b``, which only
ever gets de-identified text) are produced on an open-loop schedule for ``--seconds``; a consumer
stamps every completion on arrival. Latency is completion arrival minus *scheduled* send time.
Correctness is checked while timing: each request completes exactly once with status ``ok``,
and no identifier of a prompt reaches the provider in that prompt's request. The run stops at
the first rate whose throughput falls behind (``--keep-going`` runs them all): the backlog it
leaves would pollute the next rate. ``saturation_rate`` is the highest rate sustained with p99
within ``--p99-bound-ms``; ``throughput_capacity`` ignores latency (and is the ``targets``
block's sustained rate: the issue bounds p99 at 100/s only). The report records the
interpreter (``machine.interpreter``, :mod:`benchmarks.interpreter`), which the workers share.
JSON goes to stdout (and
``--out``); ``--plot`` writes a PNG (needs matplotlib: ``pip install matplotlib``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import yaml

from benchmarks.interpreter import interpreter_info, slow_build_note
from benchmarks.pipeline_e2e_cpu import (
    MachineWatch,
    cpu_delta,
    find_broker_pid,
    thread_cpu,
    threads_ms_per_prompt,
)
from benchmarks.pipeline_e2e_report import markdown_table, plot
from benchmarks.pipeline_e2e_stats import (
    BenchmarkError,
    RateResult,
    Targets,
    open_loop_schedule,
    parse_rates,
    saturation_point,
    summarise_rate,
)
from benchmarks.pipeline_e2e_trace import stage_breakdown
from benchmarks.prompts import SyntheticPrompt, make_prompts
from pipeline.config import Settings, load_settings
from pipeline.errors import PipelineError
from pipeline.serde import RecordType, build_codec

REPO = Path(__file__).resolve().parent.parent
DEMO_POLICY = REPO / "pipeline" / "policy" / "examples" / "demo_policy.yaml"
TENANT = "analytics-b"
STAGES = ("detect", "deid", "route", "provider")


# ------------------------------------------------------------------------------ set-up ----
def write_policy(path: Path, base_url: str, max_concurrency: int) -> None:
    """Copy the demo policy, pointing its local providers at ``base_url``.

    The demo's client-side limits (600 requests/minute, 2-4 in flight) would measure the
    limiter, not the pipeline, so local providers get ``max_concurrency`` and no rate cap.
    """
    doc = yaml.safe_load(DEMO_POLICY.read_text(encoding="utf-8"))
    for provider in doc["providers"]:
        if provider["kind"] == "local":
            provider["endpoint"] = base_url
            provider["rate_limits"] = {"max_concurrency": max_concurrency}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def run_env(bootstrap: str, tmp: Path, run_id: str) -> dict[str, str]:
    """Return the PHI_* environment of this run (workers get it on top of ours)."""
    prefix = f"bench.{run_id}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "PHI_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "PHI_KEYS__KEY_FILE": str(tmp / "keys.json"),
        "PHI_PROVIDERS__POLICY_FILE": str(tmp / "policy.yaml"),
        "PHI_DETECTION__PROFILE": os.environ.get("PHI_DETECTION__PROFILE", "fast"),
        "PHI_STREAMING__APP_ID": f"phi-bench-{run_id}",
        "PHI_TOPICS__PROVIDER_PREFIX": f"{prefix}.provider.",
    }
    for name in ("raw", "detected", "deidentified", "quarantine", "completions", "audit", "dlq"):
        env[f"PHI_TOPICS__{name.upper()}"] = f"{prefix}.{name}"
    return env


@contextlib.contextmanager
def patched_environ(extra: dict[str, str]) -> Iterator[None]:
    """Set ``extra`` in ``os.environ`` for the block (settings of this process read it)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def broker(own: bool) -> Iterator[str]:
    """Yield a bootstrap address (see the module docstring for the order)."""
    from pipeline.kafka import EmbeddedKafka, broker_for

    kafka = load_settings().kafka
    if own:
        with EmbeddedKafka(kafka) as owned:
            yield owned.bootstrap_servers
    else:
        with broker_for(kafka) as bootstrap:
            yield bootstrap


def cleanup_topics(settings: Settings, names: list[str]) -> None:
    """Delete the run's topics and those Faust made for its app ids (``<app id>-__...``)."""
    from pipeline.kafka.admin import admin_client, delete_topics

    app_id = settings.streaming.app_id
    existing = admin_client(settings.kafka).list_topics(timeout=10).topics
    faust_made = [t for t in existing if t.startswith(f"{app_id}-")]
    delete_topics(settings.kafka, [*names, *faust_made])


# ----------------------------------------------------------------------------- workers ----
def process_layout(
    count: int, *, split: bool, chained: bool, provider_count: int | None = None
) -> list[tuple[tuple[str, ...], int]]:
    """The worker processes to start: each kind's stages and how many of that kind.

    Not split: ``count`` processes of all stages. Split: ``count`` processes per stage, or with
    chained stages ``count`` for the chain (detect, deid, route) and ``provider_count``
    (default ``count``) for the provider stage.
    """
    if not split:
        return [(STAGES, count)]
    kinds = [STAGES[:3], STAGES[3:]] if chained else [(s,) for s in STAGES]
    return [(k, provider_count or count if "provider" in k else count) for k in kinds]


class Workers:
    """The worker processes, their logs, and peak-RSS / CPU sampling."""

    def __init__(
        self,
        env: dict[str, str],
        logs: Path,
        count: int,
        split: bool,
        profile: Path | None,
        entry: list[str],
        provider_count: int | None = None,
    ) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.settings = load_settings()
        app_id = env["PHI_STREAMING__APP_ID"]
        chained = env.get("PHI_STREAMING__CHAIN_STAGES") == "true"
        layout = process_layout(count, split=split, chained=chained, provider_count=provider_count)
        # Split, each process kind is a consumer group of its own: Faust assigns one topic set
        # per app.
        kinds = [(stages, n, f"{app_id}-{stages[0]}" if split else app_id) for stages, n in layout]
        #: The consumer groups the workers join, and how many members each will have.
        self.members = {group: n for _, n, group in kinds}
        # Started round-robin over the kinds (w0 of each kind, then w1 of each, ...).
        for i in range(max(n for _, n, _ in kinds)):
            for stages, n, group in kinds:
                if i >= n:
                    continue
                name = f"w{i}-{'+'.join(stages) if split else 'all'}"
                cmd = [sys.executable]
                if profile is not None:
                    cmd += ["-m", "cProfile", "-o", str(profile / f"{name}.prof")]
                cmd += [*entry, "worker", "--stages", ",".join(stages)]
                wenv = {**os.environ, **env, "PHI_STREAMING__APP_ID": group}
                log = logs / f"{name}.log"
                with log.open("wb") as fh:
                    proc = subprocess.Popen(
                        cmd,
                        env=wenv,
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                        cwd=REPO,
                        start_new_session=True,
                    )
                self.procs.append((name, proc, log))
        self._ps = {name: psutil.Process(p.pid) for name, p, _ in self.procs}
        self._peak: dict[str, int] = defaultdict(int)
        self._cpu0: dict[str, float] = {}
        self._threads0: dict[str, dict[str, float]] = {}
        self._t0 = 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample_loop, name="rss", daemon=True)
        self._sampler.start()

    def check_alive(self) -> None:
        """Raise if a worker died (its log tail says why; worker logs carry no record text)."""
        for name, proc, log in self.procs:
            if proc.poll() is not None:
                tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise BenchmarkError(f"worker {name} exited {proc.returncode}:\n{tail}")

    def _family(self, name: str) -> list[psutil.Process]:
        """The worker and its children (a stage process counts as part of its worker)."""
        proc = self._ps[name]
        with contextlib.suppress(psutil.Error):
            return [proc, *proc.children(recursive=True)]
        return [proc]

    def _cpu(self, name: str) -> float:
        total = 0.0
        for proc in self._family(name):
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += float(t.user + t.system)
        return total

    def _sample_loop(self) -> None:
        while not self._stop.wait(0.25):
            for name in self._ps:
                rss = 0
                for proc in self._family(name):
                    with contextlib.suppress(psutil.Error):
                        rss += proc.memory_info().rss
                self._peak[name] = max(self._peak[name], rss)

    def _threads(self, name: str) -> dict[str, float]:
        """CPU seconds of worker ``name`` by thread role (its child processes as one)."""
        proc, *children = self._family(name)
        return thread_cpu(proc.pid, [c.pid for c in children])

    def start_window(self) -> None:
        """Start measuring CPU and peak RSS for one rate."""
        self._peak.clear()
        self._cpu0 = {name: self._cpu(name) for name in self._ps}
        self._threads0 = {name: self._threads(name) for name in self._ps}
        self._t0 = time.monotonic()

    def end_window(self) -> list[dict[str, Any]]:
        """Return per worker: peak RSS (MiB), CPU seconds and percent of one core since start."""
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        out = []
        for name, proc, _ in self.procs:
            cpu = self._cpu(name) - self._cpu0.get(name, 0.0)
            out.append(
                {
                    "name": name,
                    "pid": proc.pid,
                    "peak_rss_mib": round(self._peak[name] / 2**20, 1),
                    "cpu_s": round(cpu, 2),
                    "cpu_pct": round(100 * cpu / elapsed, 1),
                    "threads_cpu_s": cpu_delta(self._threads0.get(name, {}), self._threads(name)),
                }
            )
        return out

    def stop(self) -> None:
        """SIGTERM every worker (cProfile writes its file on a clean exit), then SIGKILL."""
        self._stop.set()
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 30
        for _, proc, _ in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


# ---------------------------------------------------------------------------- collector ---
class Collector:
    """Reads the completions topic in a thread and stamps each completion on arrival."""

    def __init__(self, settings: Settings) -> None:
        from confluent_kafka import Consumer

        self._codec = build_codec(settings)
        conf: dict[str, Any] = dict(settings.kafka.librdkafka_config())
        conf.update(
            {
                "group.id": f"phi-bench-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 20,
            }
        )
        self._consumer = Consumer(conf)
        self.assigned = threading.Event()
        self._consumer.subscribe(
            [settings.topics.completions], on_assign=lambda _c, _p: self.assigned.set()
        )
        self.lock = threading.Lock()
        #: request id -> [(monotonic arrival, status)]
        self.arrivals: dict[str, list[tuple[float, str]]] = defaultdict(list)
        #: request id -> (wall-clock arrival, completion created_at epoch seconds)
        self.wall: dict[str, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="collector", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            # poll() returns with the first record; consume(n, timeout) would wait for n
            # records or the whole timeout, adding up to that much to every latency.
            first = self._consumer.poll(0.05)
            if first is None:
                continue
            now, wall = time.monotonic(), time.time()
            msgs = [first, *self._consumer.consume(500, 0)]
            for msg in msgs:
                if msg.error() or msg.value() is None:
                    continue
                rec = self._codec.decode(RecordType.COMPLETION, msg.value() or b"")
                rid = str(rec["request_id"])
                with self.lock:
                    self.arrivals[rid].append((now, str(rec["status"])))
                    self.wall[rid] = (wall, rec["created_at"].timestamp())

    def count(self, rids: set[str]) -> int:
        """Return how many of ``rids`` have completed."""
        with self.lock:
            return sum(1 for r in rids if r in self.arrivals)

    def close(self) -> None:
        """Stop the thread and leave the group."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()


# ------------------------------------------------------------------------------- load -----
def tagging_server() -> Any:
    """Return a zero-latency :class:`LocalProviderServer` that also records ``X-Request-ID``.

    The stock server leaves headers out of its records (they carry credentials); the request
    id header is needed to check each provider request against the canaries of its own prompt,
    because surrogates of one prompt can coincide with identifiers of another (555-01xx phones).
    """
    from aiohttp import web

    from pipeline.providers.local_server import LocalProviderServer

    class TaggingServer(LocalProviderServer):
        def _record(self, request: web.Request, api: str, body: object) -> None:
            super()._record(request, api, body)
            with self._lock:
                self._recorded[-1]["request_id"] = request.headers.get("X-Request-ID")

    # The workers' event loop choice (PHI_STREAMING__EVENT_LOOP) serves the provider too.
    return TaggingServer(port=0, event_loop=load_settings().streaming.event_loop)


def canary_leaks(bodies: list[dict[str, Any]], canaries: dict[str, tuple[str, ...]]) -> int:
    """Count provider requests whose messages contain an identifier of their own prompt.

    ``canaries`` maps request id -> identifiers; a request without a known id is checked
    against every identifier of the run.
    """
    every = {c for cs in canaries.values() for c in cs}
    leaks = 0
    for entry in bodies:
        body = entry.get("body")
        messages = body.get("messages", []) if isinstance(body, dict) else []
        text = "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
        own = canaries.get(str(entry.get("request_id")), every)
        if any(c in text for c in own):
            leaks += 1
    return leaks


def wait_for_groups(settings: Settings, members: dict[str, int], timeout_s: float) -> None:
    """Wait until each consumer group of ``members`` is stable with that many members."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(dict(settings.kafka.librdkafka_config()))
    deadline = time.monotonic() + timeout_s
    while True:
        described = [f.result(10) for f in admin.describe_consumer_groups(list(members)).values()]
        if all(
            d.state == ConsumerGroupState.STABLE and len(d.members) >= members[d.group_id]
            for d in described
        ):
            return
        if time.monotonic() > deadline:
            raise BenchmarkError("the workers did not all join their consumer groups in time")
        time.sleep(0.5)


def wait_ready(
    producer: Any,
    collector: Collector,
    workers: Workers,
    pool: list[SyntheticPrompt],
    timeout_s: float,
    warmup: int,
) -> dict[str, Any]:
    """Send one prompt a second until the pipeline answers, then ``warmup`` more; time both."""
    started = time.monotonic()
    sent: set[str] = set()
    while not collector.count(sent):
        workers.check_alive()
        if time.monotonic() - started > timeout_s:
            raise BenchmarkError("the pipeline did not answer the warm-up prompt in time")
        rid = f"warmup-{len(sent)}"
        producer.send(pool[0].text, tenant=TENANT, user_id="bench", request_id=rid)
        producer.flush()
        sent.add(rid)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not collector.count(sent):
            time.sleep(0.05)
    first_answer_s = time.monotonic() - started
    # The first answer can come before every worker has joined its group; the rebalance a
    # late worker causes would otherwise land in the first measured window.
    wait_for_groups(workers.settings, workers.members, timeout_s)
    more = {f"warmup-x{i}" for i in range(warmup)}
    for i, rid in enumerate(sorted(more)):
        producer.send(pool[i % len(pool)].text, tenant=TENANT, user_id="bench", request_id=rid)
        time.sleep(0.05)
    producer.flush()
    deadline = time.monotonic() + timeout_s
    while collector.count(more) < len(more) and time.monotonic() < deadline:
        workers.check_alive()
        time.sleep(0.1)
    return {"first_answer_s": round(first_answer_s, 1), "warmup_prompts": warmup}


def run_rate(
    rate: float,
    args: argparse.Namespace,
    producer: Any,
    collector: Collector,
    workers: Workers,
    server: Any,
    pool: list[SyntheticPrompt],
    machine: MachineWatch,
) -> RateResult:
    """Offer ``rate`` prompts/s for ``args.seconds``, drain, and summarise."""
    schedule = open_loop_schedule(rate, args.seconds)
    tag = f"r{rate:g}-{uuid.uuid4().hex[:6]}"
    sent_at: dict[str, float] = {}
    canaries: dict[str, tuple[str, ...]] = {}
    server.reset()
    machine.start()
    workers.start_window()
    me = psutil.Process()
    harness0, started = sum(me.cpu_times()[:2]), time.monotonic()
    max_lag = 0.0
    t0 = time.monotonic() + 0.05
    for i, offset in enumerate(schedule):
        due = t0 + offset
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            max_lag = max(max_lag, -delay)
        prompt = pool[i % len(pool)]
        rid = f"{tag}-{i}"
        sent_at[rid] = due
        producer.send(prompt.text, tenant=TENANT, user_id="bench", request_id=rid)
        canaries[rid] = prompt.canaries
    window_end = t0 + args.seconds
    with contextlib.suppress(PipelineError):  # unacknowledged now still counts as sent
        producer.flush(max(0.1, window_end - time.monotonic()))
    time.sleep(max(0.0, window_end - time.monotonic()))
    load_avg = os.getloadavg()[0]
    drain_until = window_end + args.drain
    rids = set(sent_at)
    while collector.count(rids) < len(rids) and time.monotonic() < drain_until:
        workers.check_alive()
        time.sleep(0.1)
    time.sleep(0.5)  # a late duplicate would land now
    with collector.lock:
        arrivals = {r: list(collector.arrivals.get(r, ())) for r in rids}
    result = summarise_rate(
        offered_rate=rate,
        window_s=args.seconds,
        sent_at=sent_at,
        arrivals=arrivals,
        window_start=t0,
        window_end=window_end,
    )
    result.canary_leaks = canary_leaks(server.recorded(), canaries)
    result.max_send_lag_ms = round(max_lag * 1000, 1)
    result.workers = workers.end_window()
    harness = sum(me.cpu_times()[:2]) - harness0
    result.harness_cpu_pct = round(100 * harness / (time.monotonic() - started), 1)
    result.machine = machine.stop(result.completed)
    if result.completed:
        cpu = sum(w["cpu_s"] for w in result.workers)
        result.worker_cpu_ms_per_prompt = round(1000 * cpu / result.completed, 1)
        result.threads_ms_per_prompt = threads_ms_per_prompt(result.workers, result.completed)
    result.load_avg = round(load_avg, 2)
    return result


# ------------------------------------------------------------------------------- main -----
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.pipeline_e2e",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--rates", default="50,100,200,300,400", help="offered prompts/s, ascending")
    p.add_argument("--seconds", type=float, default=20.0, help="load window per rate")
    p.add_argument("--drain", type=float, default=20.0, help="max wait for stragglers per rate")
    p.add_argument("--workers", type=int, default=1, help="worker processes (per stage: --split)")
    p.add_argument(
        "--split",
        action="store_true",
        help="one process per stage (with --chain: one for the chain, one for the provider)",
    )
    p.add_argument(
        "--provider-workers",
        type=int,
        help="with --split: processes for the provider stage (default: --workers)",
    )
    p.add_argument(
        "--stage-process",
        action="store_true",
        help="run each worker's CPU stages in a child process (PHI_STREAMING__STAGE_EXECUTOR)",
    )
    p.add_argument(
        "--chain",
        action="store_true",
        help="chain detect -> deid -> route in memory (PHI_STREAMING__CHAIN_STAGES)",
    )
    p.add_argument(
        "--partitions", type=int, default=None, help="partitions per topic (default: settings)"
    )
    p.add_argument("--warmup", type=int, default=20, help="prompts sent before measuring")
    p.add_argument("--pool", type=int, default=500, help="distinct prompts, cycled")
    p.add_argument("--max-concurrency", type=int, default=64, help="provider calls in flight")
    p.add_argument("--p99-bound-ms", type=float, default=250.0, help="p99 bound of 'sustained'")
    p.add_argument("--keep-going", action="store_true", help="run every rate past saturation")
    p.add_argument("--own-broker", action="store_true", help="always start an embedded broker")
    p.add_argument("--profile", type=Path, help="cProfile each worker into this directory")
    p.add_argument("--log-dir", type=Path, help="keep worker logs here (default: a temp dir)")
    p.add_argument(
        "--worker-script",
        type=Path,
        help="run this script instead of `-m pipeline.cli` (instrumented copies)",
    )
    p.add_argument("--breakdown", action="store_true", help="per-stage latency from records")
    p.add_argument("--ready-timeout", type=float, default=240.0)
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--plot", type=Path, help="write the PNG plot here (needs matplotlib)")
    args = p.parse_args(argv)
    args.rate_list = parse_rates(args.rates)
    if args.workers < 1 or args.seconds <= 0:
        p.error("--workers and --seconds must be positive")
    if args.provider_workers is not None and (args.provider_workers < 1 or not args.split):
        p.error("--provider-workers must be positive and needs --split")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and return the report."""
    from pipeline.deid.keys import generate_key_file
    from pipeline.kafka.admin import ensure_topics
    from pipeline.streaming.app import topic_specs
    from pipeline.streaming.sdk import PromptProducer

    run_id = f"{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"
    interpreter = interpreter_info()  # the workers run on this interpreter too
    note = slow_build_note(interpreter)
    if note:
        print(note, file=sys.stderr)
    pool = make_prompts(args.pool)
    load_start = os.getloadavg()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="phi-bench-")))
        bootstrap = stack.enter_context(broker(args.own_broker))
        server = stack.enter_context(tagging_server())
        generate_key_file(tmp / "keys.json")
        write_policy(tmp / "policy.yaml", server.openai_base_url, args.max_concurrency)
        env = run_env(bootstrap, tmp, run_id)
        if args.partitions is not None:
            env["PHI_TOPICS__PARTITIONS"] = str(args.partitions)
        if args.chain:
            env["PHI_STREAMING__CHAIN_STAGES"] = "true"
        if args.stage_process:
            env["PHI_STREAMING__STAGE_EXECUTOR"] = "process"
        stack.enter_context(patched_environ(env))
        settings = load_settings()
        providers = [
            p["name"] for p in yaml.safe_load((tmp / "policy.yaml").read_text())["providers"]
        ]
        specs = topic_specs(settings, providers)
        ensure_topics(settings.kafka, specs)
        stack.callback(cleanup_topics, settings, [s.name for s in specs])
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
        logs = args.log_dir or tmp
        logs.mkdir(parents=True, exist_ok=True)
        entry = [str(args.worker_script)] if args.worker_script else ["-m", "pipeline.cli"]
        workers = Workers(
            env, logs, args.workers, args.split, args.profile, entry, args.provider_workers
        )
        stack.callback(workers.stop)
        collector = Collector(settings)
        stack.callback(collector.close)
        collector.assigned.wait(30)
        producer = PromptProducer(settings)
        ready = wait_ready(producer, collector, workers, pool, args.ready_timeout, args.warmup)
        machine = MachineWatch(find_broker_pid(bootstrap), [p.text for p in pool])
        results: list[RateResult] = []
        for rate in args.rate_list:
            # The load generator is not the system under test: a full collection of its heap
            # (about 65 ms, once in a 30 s run here) would land in the latencies it measures.
            gc.collect()
            gc.freeze()
            result = run_rate(rate, args, producer, collector, workers, server, pool, machine)
            results.append(result)
            print(
                f"rate {rate:g}/s: steady {result.steady_rate}/s p99 "
                f"{result.latency.p99_ms} ms errors {result.errors}",
                file=sys.stderr,
            )
            if not args.keep_going and not result.keeps_up():
                break  # a backlog left behind would pollute every higher rate
        breakdown = stage_breakdown(settings, collector) if args.breakdown else None
    return {
        "benchmark": "pipeline_e2e",
        "run_id": run_id,
        "config": {
            "rates": args.rate_list,
            "seconds": args.seconds,
            "workers": args.workers,
            "provider_workers": (args.provider_workers or args.workers) if args.split else None,
            "layout": (
                ("split (chain, provider)" if args.chain else "split (one process per stage)")
                if args.split
                else "all stages per process"
            ),
            "chain_stages": settings.streaming.chain_stages,
            "stage_executor": settings.streaming.stage_executor,
            "gil_switch_interval_s": settings.streaming.gil_switch_interval_s,
            "freeze_heap": settings.streaming.freeze_heap,
            "event_loop": settings.streaming.event_loop,
            "detection_profile": env["PHI_DETECTION__PROFILE"],
            "tenant": TENANT,
            "provider": "local server, zero latency",
            "prompt_pool": args.pool,
            "prompt_chars_mean": round(sum(len(p.text) for p in pool) / len(pool)),
            "provider_max_concurrency": args.max_concurrency,
            "batch_size": settings.streaming.batch_size,
            "batch_linger_s": settings.streaming.batch_linger_s,
            "provider_batch_linger_s": settings.streaming.provider_batch_linger_s,
            "partitions": settings.topics.partitions,
            "latency": "completion arrival at a consumer minus scheduled send time",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_start": round(load_start[0], 2),
            "load_avg_end": round(os.getloadavg()[0], 2),
            "python": sys.version.split()[0],
            "interpreter": interpreter,
        },
        "ready": ready,
        "results": [r.to_json(args.p99_bound_ms) for r in results],
        "saturation_rate": saturation_point(results, args.p99_bound_ms),
        "throughput_capacity": saturation_point(results, None),
        "targets": Targets(p99_ms=args.p99_bound_ms).check(results),
        "correct": all(r.correct for r in results),
        "stage_breakdown": breakdown,
    }


def main(argv: list[str] | None = None) -> int:
    """Run, print the JSON, write ``--out`` and ``--plot``.

    Exit status 1 when a safety or delivery check failed (an identifier reached the provider,
    a duplicate or an ``error`` completion); a fail-closed quarantine is counted, not fatal.
    """
    import json

    args = parse_args(argv)
    report = run(args)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    if args.plot is not None and report["results"]:
        plot(report, args.plot)
    if report["results"]:
        print(markdown_table(report), file=sys.stderr)
    bad = [
        r
        for r in report["results"]
        if r["canary_leaks"] or r["duplicates"] or r["statuses"].get("error")
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
