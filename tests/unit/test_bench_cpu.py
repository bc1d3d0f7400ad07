"""The benchmark's CPU accounting: worker threads by role, the broker, the VM (``/proc``)."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from benchmarks.pipeline_e2e_cpu import (
    ACKS,
    CHILD,
    EVENT_LOOP,
    LIBRDKAFKA,
    OTHER,
    STAGES,
    CpuTicks,
    MachineWatch,
    _task_cpu,
    cpu_delta,
    find_broker_pid,
    role,
    thread_cpu,
    threads_ms_per_prompt,
)
from pipeline.streaming.threadnames import STAGE_THREAD, name_os_thread

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def test_roles_come_from_the_main_thread_and_the_os_names() -> None:
    assert role(100, 100, "python") == EVENT_LOOP
    assert role(100, 101, "phi-stages") == STAGES
    assert role(100, 102, "produce-acks") == ACKS
    assert role(100, 103, "rdk:broker1") == LIBRDKAFKA
    assert role(100, 104, "python") == OTHER  # Faust's consumer thread, executor threads


def test_a_task_stat_line_is_read_after_the_command_name() -> None:
    # utime 250 and stime 50 ticks (fields 14 and 15); the name holds a space and a ')'.
    fields = ["S", *["0"] * 10, "250", "50", *["0"] * 30]
    line = "4242 (odd ) name) " + " ".join(fields)
    assert _task_cpu(line) == pytest.approx(300 / os.sysconf("SC_CLK_TCK"))


def test_steal_is_a_share_of_all_cpu_time_in_between() -> None:
    before, after = CpuTicks(total=1000, steal=10), CpuTicks(total=1400, steal=30)
    assert before.steal_pct(after) == 5.0
    assert before.steal_pct(before) is None  # no time passed


def test_thread_cpu_is_summed_by_worker_kind_and_role_per_prompt() -> None:
    workers = [
        {"name": "w0-detect+deid+route", "threads_cpu_s": {STAGES: 3.0, EVENT_LOOP: 0.5}},
        {"name": "w0-provider", "threads_cpu_s": {EVENT_LOOP: 2.0}},
        {"name": "w1-detect+deid+route", "threads_cpu_s": {STAGES: 3.5, CHILD: 0.25}},
    ]
    assert threads_ms_per_prompt(workers, 1000) == {
        "detect+deid+route": {CHILD: 0.25, EVENT_LOOP: 0.5, STAGES: 6.5},
        "provider": {EVENT_LOOP: 2.0},
    }
    assert threads_ms_per_prompt(workers, 0) == {}
    assert cpu_delta({STAGES: 1.0}, {STAGES: 1.5, ACKS: 0.25}) == {ACKS: 0.25, STAGES: 0.5}


@linux_only
def test_a_busy_named_thread_is_counted_in_its_role() -> None:
    before = thread_cpu(os.getpid())

    def busy() -> None:
        name_os_thread(STAGE_THREAD)
        start = time.thread_time()
        while time.thread_time() - start < 0.1:
            pass
        done.wait()

    done = threading.Event()
    thread = threading.Thread(target=busy)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while thread_cpu(os.getpid()).get(STAGES, 0.0) < 0.08 and time.monotonic() < deadline:
            time.sleep(0.05)
        during = thread_cpu(os.getpid())
    finally:
        done.set()
        thread.join()
    assert during[STAGES] - before.get(STAGES, 0.0) >= 0.08  # ticks are 10 ms at most
    assert EVENT_LOOP in during  # this test's own (main) thread


@linux_only
def test_machine_figures_without_a_local_broker() -> None:
    assert find_broker_pid("127.0.0.1:1") is None  # nothing listens there
    assert find_broker_pid("no-port") is None
    assert CpuTicks.read() is not None
    watch = MachineWatch(None, ["Mr. Smith saw Dr. Jones on 2024-01-02."] * 50)
    watch.start()
    figures = watch.stop(completed=10)
    assert figures["vm_probe_ms"] is not None and figures["vm_probe_ms"] > 0
    assert figures["broker_cpu_pct"] is None and figures["broker_cpu_ms_per_prompt"] is None
