"""``phi-pipeline demo``: the whole flow on bundled synthetic prompts, readable in a terminal.

It uses the configured Kafka broker, else a running ``phi-pipeline kafka up`` broker, else
starts an embedded one; starts the local provider server on a free loopback port; writes the
demo policy (pointing at that server) and, unless keys are configured, ephemeral development
keys to a temporary directory; runs ``phi-pipeline worker`` as a subprocess; publishes the
prompts (plus one garbage record) and prints, per prompt, what was found, the de-identified
text, the policy decision, the completion and the audit trail.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.errors import PipelineError

WIDTH = 96


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``demo``."""
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for results")
    parser.add_argument(
        "--profile", choices=["fast", "accurate"], default=None, help="detection profile"
    )


def _read_all(settings: Settings, topic: str, timeout_s: float = 10.0) -> list[bytes]:
    """Return every value of ``topic`` up to its current end."""
    from confluent_kafka import Consumer, TopicPartition

    from pipeline.kafka.offsets import watermarks

    conf: dict[str, Any] = dict(settings.kafka.librdkafka_config())
    conf.update({"group.id": f"phi-demo-{uuid.uuid4().hex}", "enable.auto.commit": False})
    consumer = Consumer(conf)
    try:
        parts = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        ends = {}
        assign = []
        for p in parts:
            low, high = watermarks(consumer, topic, p, timeout_s)
            if high > low:
                ends[p] = high
                assign.append(TopicPartition(topic, p, low))
        values: list[bytes] = []
        if assign:
            consumer.assign(assign)
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            values.append(msg.value() or b"")
            if (msg.offset() or 0) + 1 >= ends.get(msg.partition() or 0, 0):
                ends.pop(msg.partition() or 0, None)
        return values
    finally:
        consumer.close()


def _box(title: str) -> str:
    return f"\n{'=' * WIDTH}\n{title}\n{'=' * WIDTH}"


def _wrap(label: str, text: str) -> str:
    import textwrap

    body = textwrap.fill(
        text, WIDTH - 4, initial_indent="    ", subsequent_indent="    ", replace_whitespace=False
    )
    return f"  {label}:\n{body}"


def run(args: argparse.Namespace) -> int:
    """Run the demo; return 0 when every prompt got its expected outcome."""
    from pipeline.deid.keys import generate_key_file
    from pipeline.kafka.launcher import broker_for
    from pipeline.providers.local_server import LocalProviderServer

    settings: Settings = args.settings
    prompts = json.loads(
        resources.files("pipeline").joinpath("data/demo_prompts.json").read_text("utf-8")
    )
    policy_text = (
        resources.files("pipeline").joinpath("policy/examples/demo_policy.yaml").read_text("utf-8")
    )
    with (
        tempfile.TemporaryDirectory(prefix="phi-demo-") as tmp,
        broker_for(settings.kafka) as bootstrap,
        LocalProviderServer() as provider,
    ):
        tmpdir = Path(tmp)
        policy_file = tmpdir / "policy.yaml"
        policy_file.write_text(
            policy_text.replace("http://127.0.0.1:8080/v1", provider.openai_base_url), "utf-8"
        )
        env = dict(os.environ)
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "PHI_PROVIDERS__POLICY_FILE": str(policy_file),
                "PHI_STREAMING__APP_ID": f"phi-demo-{uuid.uuid4().hex[:8]}",
            }
        )
        run_id = uuid.uuid4().hex[:8]
        for name in (
            "raw",
            "detected",
            "deidentified",
            "quarantine",
            "completions",
            "audit",
            "dlq",
        ):
            env[f"PHI_TOPICS__{name.upper()}"] = f"demo.{run_id}.{name}"
        env["PHI_TOPICS__PROVIDER_PREFIX"] = f"demo.{run_id}.provider."
        if args.profile:
            env["PHI_DETECTION__PROFILE"] = args.profile
        if settings.keys.key_file is None and settings.keys.hmac_key is None:
            key_file = tmpdir / "dev-keys.json"
            generate_key_file(key_file)
            env["PHI_KEYS__KEY_FILE"] = str(key_file)
            print("Using ephemeral development keys (set PHI_KEYS__KEY_FILE to keep your own).")
        from pipeline.config import load_settings

        # The demo's own view of the settings, the same the worker builds from its env.
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            demo_settings = load_settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        print(f"Kafka at {bootstrap}; provider server at {provider.openai_base_url}")
        print("Starting the worker (stages detect, deid, route, provider)...")
        worker = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmpdir / "worker.log", "wb"),  # noqa: SIM115 - closed with the dir
        )
        try:
            return _drive(demo_settings, prompts, provider, worker, args.timeout, tmpdir)
        finally:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()


def _drive(
    settings: Settings,
    prompts: list[dict[str, Any]],
    provider: Any,
    worker: subprocess.Popen[bytes],
    timeout_s: float,
    tmpdir: Path,
) -> int:
    from confluent_kafka import Producer

    from pipeline.serde import RecordType, build_codec
    from pipeline.streaming.sdk import CompletionConsumer, PromptProducer

    codec = build_codec(settings)
    with CompletionConsumer(settings) as consumer:
        # Wait until the worker created the topics and answers.
        producer = PromptProducer(settings)
        deadline = time.monotonic() + timeout_s
        ids: list[str] = []
        for p in prompts:
            # One request id per prompt, kept across retries: a send whose flush timed out
            # (topics not created yet) may still be delivered, and is then the same request.
            rid = str(uuid.uuid4())
            while True:
                try:
                    producer.send(
                        p["messages"],
                        tenant=p["tenant"],
                        user_id=p["user_id"],
                        session_id=p.get("session_id"),
                        subject_id=p.get("subject_id"),
                        request_id=rid,
                    )
                    producer.flush(10)
                    ids.append(rid)
                    break
                except Exception:  # topics not created yet
                    if worker.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(1.0)
        raw = Producer(dict(settings.kafka.librdkafka_config()))
        raw.produce(settings.topics.raw, key=b"garbage", value=b"\x00\x01 not an avro record")
        raw.flush(10)
        completions: dict[str, dict[str, Any]] = {}
        for rid in ids:  # every prompt is answered, refused ones with the reason
            try:
                completions[rid] = consumer.wait(rid, max(1.0, deadline - time.monotonic()))
            except PipelineError:
                log_tail = (tmpdir / "worker.log").read_text("utf-8", "replace")[-2000:]
                print(f"Timed out waiting for a completion. Worker log tail:\n{log_tail}")
                return 1
    time.sleep(1.0)  # let the last audit and DLQ records land
    audit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for v in _read_all(settings, settings.topics.audit):
        event = codec.decode(RecordType.AUDIT_EVENT, v)
        audit[str(event["request_id"])].append(dict(event))
    deid: dict[str, dict[str, Any]] = {}
    for v in _read_all(settings, settings.topics.deidentified):
        rec = codec.decode(RecordType.DEIDENTIFIED_PROMPT, v)
        deid[str(rec["request_id"])] = dict(rec)
    dlq = [
        dict(codec.decode(RecordType.DEAD_LETTER, v))
        for v in _read_all(settings, settings.topics.dlq)
    ]
    _print_report(prompts, ids, completions, audit, deid, dlq, provider)
    return 0


def _print_report(
    prompts: list[dict[str, Any]],
    ids: list[str],
    completions: dict[str, dict[str, Any]],
    audit: dict[str, list[dict[str, Any]]],
    deid: dict[str, dict[str, Any]],
    dlq: list[dict[str, Any]],
    provider: Any,
) -> None:
    for n, (p, rid) in enumerate(zip(prompts, ids, strict=True), 1):
        print(_box(f"[{n}] {p['title']}"))
        print(f"  request {rid}  tenant={p['tenant']}  user={p['user_id']}")
        for m in p["messages"]:
            print(_wrap(f"input ({m['role']})", m["content"]))
        events = sorted(audit.get(rid, []), key=lambda e: e["timestamp"])
        detect = next((e for e in events if e["stage"] == "detect"), None)
        if detect is not None:
            found = ", ".join(f"{k} x{v}" for k, v in sorted(detect["phi_categories"].items()))
            print(f"  found: {found or 'no PHI'}")
        decision = next((e for e in events if e.get("policy_decision")), None)
        if decision is not None:
            print(
                f"  decision: {decision['policy_decision']} -> {decision.get('api_provider')}"
                f"  (reason {decision['policy_reason']}, BAA {decision.get('baa_reference_id')})"
            )
        if rid in deid:
            for m in deid[rid]["messages"]:
                print(_wrap(f"de-identified ({m['role']})", m["content"]))
        c = completions.get(rid)
        if c is not None:
            note = ""
            if c.get("reidentified"):
                note = " (re-identified for this tenant; sealed on the topic)"
            elif c.get("completion_encrypted"):
                note = " (sealed on the topic: raw PHI was allowed)"
            print(f"  completion: status={c['status']} provider={c.get('provider')}{note}")
            if c.get("completion"):
                print(_wrap("text", str(c["completion"])))
            elif c.get("error_reason"):
                print(f"    reason: {c['error_reason']}")
        for d in dlq:
            if d.get("request_id") == rid:
                print(
                    f"  dead letter: stage={d['stage']} reason={d['reason']} "
                    f"error={d['error_class']}"
                )
        print("  audit trail:")
        for e in events:
            extra = {
                k: e[k]
                for k in ("response_status", "latency_ms", "input_token_count", "policy_reason")
                if e.get(k) is not None
            }
            print(f"    {e['timestamp']:%H:%M:%S.%f}"[:-3] + f"  {e['stage']:<24} {extra}")
    orphans = [d for d in dlq if d.get("request_id") is None]
    print(_box("Records that were not even readable"))
    for d in orphans:
        print(
            f"  {d['source_topic']}[{d['source_partition']}]@{d['source_offset']}: "
            f"stage={d['stage']} reason={d['reason']} error={d['error_class']}"
        )
    print(_box("What the provider received"))
    for body in provider.recorded():
        msgs = body.get("body", body).get("messages", [])
        last = msgs[-1]["content"] if msgs else ""
        print(_wrap(f"{body.get('api', 'request')}", str(last)))
