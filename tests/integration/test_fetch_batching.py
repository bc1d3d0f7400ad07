"""The worker consumer's fetch batching (``pipeline/streaming/transport.py``) on the real broker.

Faust exposes neither ``fetch_min_bytes`` nor ``fetch_max_wait_ms``; the transport sets them on
the aiokafka consumer before it starts. These tests prove they reach the fetcher that builds
the fetch requests of a running app, and that records still flow with them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipeline.config import Settings, StreamingSettings
from pipeline.streaming.transport import App
from tests.support.faust_app import faust_app_kwargs

pytestmark = pytest.mark.timeout(120)


def run_app(
    bootstrap: str, source: str, n: int, tmp_path: Path, **fetch: int
) -> tuple[list[bytes], tuple[int, int]]:
    """Run an App with an agent over ``source`` until it has ``n`` records.

    Returns the values and the (min bytes, max wait) of the running consumer's fetcher.
    """

    async def main() -> tuple[list[bytes], tuple[int, int]]:
        app = App(**faust_app_kwargs(bootstrap, tmp_path), **fetch)
        got: list[bytes] = []
        done = asyncio.Event()

        @app.agent(app.topic(source, value_type=bytes, value_serializer="raw"))
        async def collect(stream):
            async for value in stream:
                got.append(value)
                if len(got) == n:
                    done.set()

        await app.start()
        try:
            async with asyncio.timeout(60):
                await done.wait()
            fetcher = app.consumer._thread._ensure_consumer()._fetcher
            used = (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms)
        finally:
            await app.stop()
        return got, used

    return asyncio.run(main())


def test_the_running_fetcher_uses_the_configured_batching(
    topic_factory, kafka_producer, kafka_bootstrap, tmp_path
):
    source = topic_factory(prefix="fetch-batching")
    values = [f"record-{i}".encode() for i in range(20)]
    for value in values:
        kafka_producer.produce(source, value=value)
    kafka_producer.flush(10.0)

    got, used = run_app(
        kafka_bootstrap, source, len(values), tmp_path, fetch_min_bytes=4096, fetch_max_wait_ms=20
    )

    assert used == (4096, 20)
    # Far less than 4 KiB is there: the broker answers at the wait's end, and nothing is lost.
    assert got == values


def test_without_settings_faust_defaults_stand(
    topic_factory, kafka_producer, kafka_bootstrap, tmp_path
):
    source = topic_factory(prefix="fetch-default")
    kafka_producer.produce(source, value=b"one")
    kafka_producer.flush(10.0)

    got, used = run_app(kafka_bootstrap, source, 1, tmp_path)

    assert used == (1, 1500)  # what Faust itself passes to aiokafka
    assert got == [b"one"]


def test_settings_defaults_and_bounds():
    s = Settings().streaming
    assert (s.fetch_min_bytes, s.fetch_max_wait_ms) == (4096, 20)
    with pytest.raises(ValueError):
        StreamingSettings(fetch_min_bytes=0)
    with pytest.raises(ValueError):
        App("phi-test-bad", fetch_max_wait_ms=-1)
