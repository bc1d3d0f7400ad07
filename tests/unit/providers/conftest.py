"""Fixtures for provider tests: the real loopback provider server, started per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.providers.local_server import LocalProviderServer


@pytest.fixture
def server() -> Iterator[LocalProviderServer]:
    with LocalProviderServer("127.0.0.1", 0) as running:
        yield running


class SleepRecorder:
    """Stands in for asyncio.sleep in backoff: records delays, yields once, never waits."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        import asyncio

        self.delays.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()
