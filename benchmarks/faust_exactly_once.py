"""Does faust-streaming's ``exactly_once`` hold for a forwarding agent killed mid-stream?

Why this exists: the pipeline runs Faust at-least-once with idempotent handling by request id
instead of Faust's ``processing_guarantee="exactly_once"``. This script is the evidence: it
produces N records, runs a Faust agent that forwards each to an output topic under the given
guarantee, SIGKILLs the worker mid-stream, restarts it, and counts the output with a
``read_committed`` consumer. Duplicates under ``exactly_once`` mean the guarantee does not hold
for this topology (Faust picks the transactional producer by the *destination* partition).

    python -m benchmarks.faust_exactly_once [--guarantee exactly_once] [-n 300] [--kill-after 6]

Prints one JSON object: produced, committed, unique, duplicates, lost.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path


def _worker(bootstrap: str, src: str, dst: str, app_id: str, guarantee: str, run_s: float) -> None:
    import faust

    datadir = Path(tempfile.gettempdir()) / "phi-faust-eos"
    datadir.mkdir(exist_ok=True)
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=str(datadir / app_id),
        processing_guarantee=guarantee,
        web_enabled=False,
        topic_replication_factor=1,
        topic_partitions=2,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=20,
        broker_commit_interval=0.5,
    )
    kw = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    source, sink = app.topic(src, **kw), app.topic(dst, **kw)

    @app.agent(source)
    async def forward(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            await asyncio.sleep(0.01)  # so the kill lands mid-stream
            await sink.send(key=event.key, value=event.value)

    async def main() -> None:
        await app.start()
        await asyncio.sleep(run_s)
        await app.stop()

    asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--guarantee", default="exactly_once", choices=["exactly_once", "at_least_once"]
    )
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--kill-after", type=float, default=6.0)
    parser.add_argument("--worker", nargs=5, metavar=("BOOT", "SRC", "DST", "APP", "RUN_S"))
    args = parser.parse_args()
    if args.worker:
        b, s, d, a, r = args.worker
        _worker(b, s, d, a, args.guarantee, float(r))
        return 0

    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from pipeline.config import load_settings
    from pipeline.kafka.launcher import broker_for

    with broker_for(load_settings().kafka) as bootstrap:
        tag = uuid.uuid4().hex[:8]
        src, dst, app_id = f"eos-src-{tag}", f"eos-dst-{tag}", f"eos-{tag}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for f in admin.create_topics([NewTopic(src, 2, 1), NewTopic(dst, 2, 1)]).values():
            f.result()
        producer = Producer({"bootstrap.servers": bootstrap})
        for i in range(args.n):
            producer.produce(src, key=str(i % 7).encode(), value=f"m{i}".encode())
        producer.flush()
        cmd = [sys.executable, "-m", "benchmarks.faust_exactly_once", "--guarantee", args.guarantee]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        first = subprocess.Popen([*cmd, "--worker", bootstrap, src, dst, app_id, "120"], **quiet)
        time.sleep(args.kill_after)
        first.kill()
        first.wait()
        subprocess.run([*cmd, "--worker", bootstrap, src, dst, app_id, "20"], check=True, **quiet)
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"check-{tag}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        consumer.subscribe([dst])
        got: list[bytes] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg.value() or b"")
        consumer.close()
    counts = collections.Counter(got)
    result = {
        "guarantee": args.guarantee,
        "produced": args.n,
        "committed": len(got),
        "unique": len(counts),
        "duplicates": sum(v - 1 for v in counts.values()),
        "lost": args.n - len(counts),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
