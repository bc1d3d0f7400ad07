"""The pipeline's threads name themselves in the OS, where ``top -H`` and ``/proc`` show them."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.streaming.threadnames import MAX_NAME_BYTES, STAGE_THREAD, name_os_thread

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="thread names from /proc")


def os_name(native_id: int) -> str:
    return Path(f"/proc/self/task/{native_id}/comm").read_text().strip()


def run_in_thread(target: Callable[[], None]) -> None:
    """Run ``target`` in a new thread and wait for it."""
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()


@linux_only
def test_a_thread_names_itself_and_long_names_are_cut_to_the_kernels_limit() -> None:
    names: dict[str, str] = {}

    def short() -> None:
        name_os_thread("phi-test")
        names["short"] = os_name(threading.get_native_id())

    def long() -> None:
        name_os_thread("a-name-far-longer-than-fifteen")
        names["long"] = os_name(threading.get_native_id())

    run_in_thread(short)
    run_in_thread(long)
    assert names["short"] == "phi-test"
    assert names["long"] == "a-name-far-longer-than-fifteen"[:MAX_NAME_BYTES]
    # The calling thread only: the test's own thread keeps its name.
    assert os_name(threading.get_native_id()) != "phi-test"


@linux_only
def test_the_stage_thread_carries_its_name() -> None:
    from pipeline.streaming.stage_runner import ThreadRunner

    runner = ThreadRunner(None, {})  # type: ignore[arg-type]  # no stage runs here

    async def stage_thread_name() -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            runner._executor, lambda: os_name(threading.get_native_id())
        )

    try:
        assert asyncio.run(stage_thread_name()) == STAGE_THREAD
    finally:
        runner.close()
