"""Where a worker runs its CPU-bound stage work: its event loop, a thread, or a child process.

Detection, de-identification and routing of a batch can take a few hundred milliseconds of
CPU. Run on the event loop, they would hold back provider calls, broker acknowledgements and
Faust's heartbeats for that long. The runners take one batch at a time:

- :class:`InlineRunner` (``inline``) runs them on the event loop anyway: no thread hop and no
  GIL contention, which measured best for one worker whose stages pass records through their
  topics, at the price of provider calls waiting behind each batch.
- :class:`ThreadRunner` (``PHI_STREAMING__STAGE_EXECUTOR=thread``, the default) runs the
  stages on one thread of the worker process, over the worker's own :class:`Runtime` (tests
  inject faults into it). The event loop and Faust's consumer thread still share the GIL with
  it, so each of their system calls may wait up to the GIL switch interval.
- :class:`ProcessRunner` (``process``) runs them in one child process that builds its own
  runtime from the settings: the event loop keeps the worker's GIL to itself and a worker can
  use a second core. The child is started with ``spawn`` (never ``fork`` from a process that
  runs threads), warmed up before the worker takes input, and ends with the worker.

In every case the stage functions are the same pure functions; what crosses to a child process
is the batch's encoded records and the encoded outputs, never anything decoded.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Protocol

from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.streaming.records import Origin, Out
from pipeline.streaming.runtime import Runtime, build_runtime, freeze_heap
from pipeline.streaming.stages import (
    HandoffStage,
    chain_runtime,
    deid_record,
    detect_batch,
    follow_chain,
    route_record,
)
from pipeline.streaming.threadnames import STAGE_THREAD, name_os_thread

#: The stages whose work runs in a runner (the provider stage is I/O on the event loop).
CPU_STAGES = ("detect", "deid", "route")

Batch = list[tuple[bytes, Origin]]


def run_stage(
    runtime: Runtime,
    chained: Mapping[str, HandoffStage],
    stage: str,
    items: Sequence[tuple[bytes, Origin]],
) -> list[list[Out]]:
    """Run ``stage`` (and the stages chained after it) on a batch; one output list per record."""
    if stage == "detect":
        results = detect_batch(runtime, items)
        return [
            follow_chain(runtime, outs, chained, origin)
            for outs, (_, origin) in zip(results, items, strict=True)
        ]
    record_stage = {"deid": deid_record, "route": route_record}.get(stage)
    if record_stage is None:
        raise ConfigError(f"no CPU stage named {stage!r}", reason="bad_stages")
    return [
        follow_chain(runtime, record_stage(runtime, value, origin), chained, origin)
        for value, origin in items
    ]


class StageRunner(Protocol):
    """Runs a stage's batch off the event loop."""

    async def run(self, stage: str, items: Batch) -> list[list[Out]]:
        """Return the outputs of ``stage`` over ``items``, one list per record."""

    async def warm_up(self) -> None:
        """Have everything loaded before the first batch arrives."""

    def close(self) -> None:
        """Release the thread or process."""


class InlineRunner:
    """Runs the stages on the event loop itself (nothing else runs while a batch does)."""

    def __init__(self, runtime: Runtime, chained: Mapping[str, HandoffStage]) -> None:
        self._runtime = runtime
        self._chained = chained

    async def run(self, stage: str, items: Batch) -> list[list[Out]]:
        """See :class:`StageRunner`."""
        return run_stage(self._runtime, self._chained, stage, items)

    async def warm_up(self) -> None:
        """Nothing to load: the runtime is built."""

    def close(self) -> None:
        """Nothing to release."""


class ThreadRunner(InlineRunner):
    """Runs the stages on one thread of this process, over ``runtime``."""

    def __init__(self, runtime: Runtime, chained: Mapping[str, HandoffStage]) -> None:
        super().__init__(runtime, chained)
        self._executor: Executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix=STAGE_THREAD,
            initializer=name_os_thread,
            initargs=(STAGE_THREAD,),
        )

    async def run(self, stage: str, items: Batch) -> list[list[Out]]:
        """See :class:`StageRunner`."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, run_stage, self._runtime, self._chained, stage, items
        )

    def close(self) -> None:
        """Let the thread end once idle (a batch in flight is never acknowledged: replayed)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------------ child process ----
_child: tuple[Runtime, Mapping[str, HandoffStage]] | None = None


def _child_init(settings: Settings, stages: tuple[str, ...]) -> None:
    """Build the child's runtime (detector, keys, policy) once, as a worker would."""
    global _child
    runtime = build_runtime(settings, stages)
    _child = (runtime, chain_runtime(runtime, stages))
    freeze_heap(settings)  # as the worker does: full collections skip the models


def _child_run(stage: str, items: Batch) -> list[list[Out]]:
    if _child is None:
        raise ConfigError("the stage process has no runtime", reason="no_runtime")
    runtime, chained = _child
    return run_stage(runtime, chained, stage, items)


def _child_ready() -> bool:
    return _child is not None


class ProcessRunner:
    """Runs the stages in one child process with a runtime of its own."""

    def __init__(self, settings: Settings, stages: Collection[str]) -> None:
        cpu = tuple(s for s in CPU_STAGES if s in stages)
        self._executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_init,
            initargs=(settings, cpu),
        )

    async def run(self, stage: str, items: Batch) -> list[list[Out]]:
        """See :class:`StageRunner`."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _child_run, stage, items)

    async def warm_up(self) -> None:
        """Start the child and wait until its runtime is built (models loaded)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, _child_ready)

    def close(self) -> None:
        """Stop the child (a batch in flight is never acknowledged: replayed)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def stage_runner(
    settings: Settings,
    runtime: Runtime,
    stages: Collection[str],
    chained: Mapping[str, HandoffStage],
) -> StageRunner:
    """The runner ``PHI_STREAMING__STAGE_EXECUTOR`` asks for."""
    if settings.streaming.stage_executor == "process":
        return ProcessRunner(settings, stages)
    if settings.streaming.stage_executor == "inline":
        return InlineRunner(runtime, chained)
    return ThreadRunner(runtime, chained)
