"""Adaptive stage batches (``pipeline/streaming/batching.py``) on a Faust agent's own stream.

The agent runs in Faust's test context (its channel in memory, no broker): what is tested is
how events are grouped and that none is acknowledged behind the caller's back. The same code
path runs against the real broker in every e2e test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
import pytest

from pipeline.streaming.batching import ready_batches

pytestmark = pytest.mark.timeout(60)


def run_agent(
    tmp_path: Path,
    max_: int,
    linger_s: float,
    script: Callable[[Any, list[list[int]], asyncio.Event, list[Any]], Awaitable[None]],
) -> None:
    """Run ``script(agent, batches, release, events)`` against an agent using ready_batches.

    The agent records each batch's values, then holds the batch (as a busy stage would) until
    ``release`` is set, then acknowledges it.
    """
    app = faust.App(
        "phi-test-batching",
        broker="kafka://127.0.0.1:9",  # never contacted: the test context feeds the agent
        store="memory://",
        web_enabled=False,
        datadir=str(tmp_path / "faust"),
    )
    batches: list[list[int]] = []
    events: list[Any] = []
    release = asyncio.Event()

    @app.agent()
    async def stage(stream: Any) -> None:
        async for batch in ready_batches(stream, max_, linger_s):
            batches.append([e.value for e in batch])
            events.extend(batch)
            await release.wait()
            release.clear()
            for event in batch:
                await stream.ack(event)

    async def main() -> None:
        async with stage.test_context() as agent:
            await script(agent, batches, release, events)

    asyncio.run(main())


async def settle() -> None:
    """Give the stream a moment (for checks that something did *not* happen)."""
    await asyncio.sleep(0.05)


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait until ``check()`` holds; fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_an_idle_stage_takes_a_record_at_once_and_a_busy_one_batches_what_arrives(tmp_path):
    async def script(agent, batches, release, _events):
        await agent.put(1, wait=False)
        await until(lambda: batches == [[1]])  # no timer: an idle stage gets it at once
        for value in range(2, 8):  # arrive while [1] is being processed
            await agent.put(value, wait=False)
        await settle()
        assert batches == [[1]]
        release.set()
        await until(lambda: len(batches) == 2)
        assert batches == [[1], [2, 3, 4, 5]]  # what arrived meanwhile, up to the maximum
        release.set()
        await until(lambda: len(batches) == 3)
        assert batches == [[1], [2, 3, 4, 5], [6, 7]]  # held back at the maximum, then next
        release.set()

    run_agent(tmp_path, 4, 0.0, script)


def test_linger_holds_a_batch_open_for_more_records(tmp_path):
    async def script(agent, batches, release, _events):
        await agent.put(1, wait=False)
        await settle()
        assert batches == []  # lingering
        await agent.put(2, wait=False)
        await until(lambda: bool(batches))
        assert batches == [[1, 2]]
        release.set()

    run_agent(tmp_path, 16, 2.0, script)


def test_a_full_batch_does_not_wait_out_the_linger(tmp_path):
    async def script(agent, batches, release, _events):
        loop = asyncio.get_running_loop()
        start = loop.time()
        for value in range(4):
            await agent.put(value, wait=False)
        await until(lambda: bool(batches))
        assert batches == [[0, 1, 2, 3]]
        assert loop.time() - start < 10.0  # linger is 60 s: the batch went because it was full
        release.set()

    run_agent(tmp_path, 4, 60.0, script)


def test_events_stay_unacknowledged_until_the_caller_acknowledges_them(tmp_path):
    async def script(agent, batches, release, events):
        for value in range(3):
            await agent.put(value, wait=False)
        await until(lambda: bool(batches))
        await settle()
        assert all(not e.message.acked for e in events)
        release.set()
        await until(lambda: all(e.message.acked for e in events))

    run_agent(tmp_path, 16, 0.0, script)


def test_a_batch_holds_at_least_one_event() -> None:
    async def first() -> None:
        await anext(ready_batches(object(), 0))

    with pytest.raises(ValueError, match="at least one"):
        asyncio.run(first())
