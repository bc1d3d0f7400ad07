"""Lifecycle of the embedded broker itself: clean stop, hard parent death, the ``kafka`` CLI.

Each test starts its own JVM (a few seconds each), separate from the session broker. They test
the launcher, so they run even when ``KAFKA_BOOTSTRAP_SERVERS`` points at an external broker,
and skip only where Java or the broker jars cannot be had.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from confluent_kafka.admin import AdminClient

from pipeline.config import KafkaSettings
from pipeline.kafka import fetch
from pipeline.kafka.launcher import EmbeddedKafka
from pipeline.kafka.process import BrokerState, jvms_using, wait_exit

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("java") is None, reason="needs a Java runtime"),
]


@pytest.fixture(scope="module")
def jar_home(kafka_settings: KafkaSettings) -> Path:
    """The real jar cache (fetched once), shared by the temporary homes below."""
    if not fetch.is_cached(kafka_settings.embedded_home, kafka_settings.embedded_version):
        if shutil.which("mvn") is None:
            pytest.skip("broker jars are not cached and Maven is missing")
        fetch.ensure_jars(kafka_settings.embedded_home, kafka_settings.embedded_version)
    return kafka_settings.embedded_home


@pytest.fixture
def temp_home(tmp_path: Path, jar_home: Path, kafka_settings: KafkaSettings) -> Path:
    """An ``embedded_home`` of its own (daemon state, data) that reuses the cached jars."""
    home = tmp_path / "home"
    home.mkdir()
    version = kafka_settings.embedded_version
    (home / version).symlink_to(jar_home / version, target_is_directory=True)
    return home


def answers(bootstrap: str) -> bool:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return bool(metadata.brokers)


def test_stop_leaves_no_jvm_and_no_data_dir(kafka_settings, jar_home):
    broker = EmbeddedKafka(kafka_settings)
    bootstrap = broker.start()
    data_dir = broker.data_dir
    pid = broker.state.pid
    try:
        assert answers(bootstrap)
        assert jvms_using(data_dir) == [pid]
    finally:
        broker.stop()

    assert jvms_using(data_dir) == []
    assert not psutil.pid_exists(pid)
    assert not data_dir.exists()
    broker.stop()  # idempotent


def test_watchdog_stops_the_jvm_when_python_dies_hard(kafka_settings, jar_home, tmp_path):
    # The parent is SIGKILLed: neither finally blocks nor atexit run, only the watchdog can act.
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from pipeline.config import KafkaSettings
        from pipeline.kafka.launcher import EmbeddedKafka
        broker = EmbeddedKafka(KafkaSettings(embedded_home=Path({str(jar_home)!r})),
                               data_dir=Path({str(tmp_path / "data")!r}))
        broker.start()
        print(broker.state.pid, broker.bootstrap_servers, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    jvm_pid = 0
    try:
        line = parent.stdout.readline().split()
        assert line, "the child failed to start a broker"
        jvm_pid, bootstrap = int(line[0]), line[1]
        assert answers(bootstrap)

        parent.send_signal(signal.SIGKILL)
        parent.wait()

        assert wait_exit(jvm_pid, timeout_s=60)
        assert jvms_using(tmp_path / "data") == []
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
        if jvm_pid and not wait_exit(jvm_pid, timeout_s=0.1):
            os.killpg(jvm_pid, signal.SIGKILL)  # never leak a JVM, even when the test fails


def cli(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"KAFKA_BOOTSTRAP_SERVERS", "PHI_KAFKA__BOOTSTRAP_SERVERS"}
    }
    env["PHI_KAFKA__EMBEDDED_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "kafka", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


def test_cli_up_status_down_across_invocations(temp_home):
    up = cli(temp_home, "up")
    try:
        assert up.returncode == 0, up.stderr
        bootstrap = up.stdout.strip()
        assert bootstrap.startswith("127.0.0.1:")
        state = BrokerState.read(temp_home / "daemon" / "state.json")
        assert state is not None and state.bootstrap_servers == bootstrap
        # The broker outlived the command that started it.
        assert state.is_alive()
        assert answers(bootstrap)

        again = cli(temp_home, "up")
        assert again.returncode == 0 and again.stdout.strip() == bootstrap

        status = cli(temp_home, "status")
        assert status.returncode == 0
        assert f"bootstrap={bootstrap}" in status.stdout and "answering=yes" in status.stdout
    finally:
        down = cli(temp_home, "down", "--purge")

    assert down.returncode == 0, down.stderr
    assert wait_exit(state.pid, timeout_s=30)
    assert jvms_using(temp_home / "daemon") == []
    assert not (temp_home / "daemon").exists()
    stopped = cli(temp_home, "status")
    assert stopped.returncode == 3 and stopped.stdout.strip() == "stopped"
