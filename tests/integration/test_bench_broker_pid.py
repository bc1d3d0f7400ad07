"""The benchmark finds the local broker's process by the port it listens on."""

from __future__ import annotations

import sys

import psutil
import pytest

from benchmarks.pipeline_e2e_cpu import find_broker_pid, process_cpu


@pytest.mark.skipif(sys.platform != "linux", reason="reads the broker's sockets")
def test_the_session_broker_is_found_and_its_cpu_read(kafka_bootstrap: str) -> None:
    host = kafka_bootstrap.split(",")[0].rsplit(":", 1)[0]
    if host not in {"127.0.0.1", "localhost"}:
        pytest.skip("the broker is not on this machine")
    pid = find_broker_pid(kafka_bootstrap)
    assert pid is not None
    assert any("kafka.Kafka" in part for part in psutil.Process(pid).cmdline())
    cpu = process_cpu(pid)
    assert cpu is not None and cpu > 0  # a JVM that has started has used CPU
