"""Unit tests of the embedded-broker launcher: no broker, no real JVM, seconds."""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest
import yaml

from pipeline.cli import build_parser
from pipeline.config import KafkaSettings, load_settings
from pipeline.errors import ConfigError, KafkaLauncherError
from pipeline.kafka import broker_config, fetch, launcher
from pipeline.kafka.admin import TopicSpec
from pipeline.kafka.process import BrokerState, is_broker_process, jvms_using, wait_exit

REPO = Path(__file__).resolve().parents[2]


def parse_properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- configuration rendering -------------------------------------------------------------


def test_server_properties_single_node_kraft_on_loopback(tmp_path):
    props = parse_properties(
        broker_config.render_server_properties(
            broker_port=19092, controller_port=19093, data_dir=tmp_path
        )
    )

    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert "0.0.0.0" not in "".join(props.values())
    assert props["log.dirs"] == str(tmp_path / "kraft-logs")
    # One node: every internal topic must accept a single replica, or groups/transactions hang.
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"


def test_server_properties_auto_create_can_be_enabled(tmp_path):
    props = parse_properties(
        broker_config.render_server_properties(
            broker_port=1, controller_port=2, data_dir=tmp_path, auto_create_topics=True
        )
    )
    assert props["auto.create.topics.enable"] == "true"


def test_log4j2_config_is_valid_yaml_at_warn():
    config = yaml.safe_load(broker_config.render_log4j2_yaml())["Configuration"]
    assert config["Loggers"]["Root"]["level"] == "WARN"
    assert config["Appenders"]["Console"]["target"] == "SYSTEM_OUT"


def test_cluster_ids_are_kafka_uuids():
    ids = {broker_config.new_cluster_id() for _ in range(300)}
    assert len(ids) == 300
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_free_ports_are_distinct_and_bindable():
    ports = broker_config.free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


# --- fetching ------------------------------------------------------------------------------


def test_pom_names_the_broker_artifacts():
    root = ET.fromstring(fetch.render_pom("4.1.1"))
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = {
        (d.findtext("m:groupId", namespaces=ns), d.findtext("m:artifactId", namespaces=ns)): (
            d.findtext("m:version", namespaces=ns)
        )
        for d in root.iterfind("m:dependencies/m:dependency", ns)
    }
    assert deps == {
        ("org.apache.kafka", "kafka_2.13"): "4.1.1",
        ("org.apache.kafka", "kafka-server"): "4.1.1",
        ("org.apache.logging.log4j", "log4j-slf4j-impl"): fetch.LOG4J_SLF4J_VERSION,
    }


@pytest.mark.parametrize("version", ["4.1", "4.1.1</version>", "../4.1.1", "latest", ""])
def test_odd_versions_are_refused(version):
    with pytest.raises(KafkaLauncherError):
        fetch.render_pom(version)


def test_cached_jars_are_not_fetched_again(tmp_path):
    libs = tmp_path / "4.1.1" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-4.1.1.jar").write_bytes(b"jar")
    (libs / fetch.MARKER).write_text("4.1.1\n")

    # A Maven that cannot run proves the cache was used.
    assert fetch.ensure_jars(tmp_path, "4.1.1", mvn="/nonexistent/mvn") == libs


def test_incomplete_cache_triggers_fetch_and_maven_failure_is_reported(tmp_path):
    libs = tmp_path / "4.1.1" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-4.1.1.jar").write_bytes(b"half")  # no marker: interrupted fetch

    with pytest.raises(KafkaLauncherError) as info:
        fetch.ensure_jars(tmp_path, "4.1.1", mvn="/nonexistent/mvn")
    assert info.value.reason == "maven_missing"
    assert not fetch.is_cached(tmp_path, "4.1.1")
    assert not list((tmp_path / "4.1.1").glob(".libs-*"))  # staging cleaned up


# --- state file ----------------------------------------------------------------------------


def make_state(tmp_path: Path, pid: int) -> BrokerState:
    return BrokerState(
        pid=pid,
        broker_port=19092,
        controller_port=19093,
        data_dir=str(tmp_path),
        log_file=str(tmp_path / "kafka.log"),
        version="4.1.1",
        started_at=time.time(),
    )


def test_state_file_round_trip(tmp_path):
    state = make_state(tmp_path, 1234)
    path = tmp_path / "state.json"
    state.write(path)

    assert BrokerState.read(path) == state
    assert state.bootstrap_servers == "127.0.0.1:19092"
    assert json.loads(path.read_text())["pid"] == 1234


def test_missing_state_file_reads_as_none_and_corrupt_one_raises(tmp_path):
    assert BrokerState.read(tmp_path / "none.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(KafkaLauncherError):
        BrokerState.read(bad)


def test_liveness_checks_the_command_line_not_just_the_pid(tmp_path):
    assert not make_state(tmp_path, dead_pid()).is_alive()
    # This test process is alive but is not a JVM running our server.properties (pid reuse).
    assert not make_state(tmp_path, os.getpid()).is_alive()
    assert not is_broker_process(os.getpid(), tmp_path / "server.properties")


def test_stale_daemon_state_is_removed(tmp_path):
    settings = KafkaSettings(embedded_home=tmp_path)
    path = launcher.state_path(launcher.daemon_dir(settings))
    make_state(launcher.daemon_dir(settings), dead_pid()).write(path)

    assert launcher.running_daemon(settings) is None
    assert not path.exists()


def test_jvms_using_finds_nothing_for_an_unused_dir(tmp_path):
    assert jvms_using(tmp_path) == []


# --- watchdog ------------------------------------------------------------------------------


def test_watchdog_kills_the_group_when_its_parent_dies_hard(tmp_path):
    # A parent Python process starts a long "broker" (sleep) in its own session plus a
    # watchdog, then is SIGKILLed: no finally, no atexit runs. The watchdog must end the group.
    parent_code = textwrap.dedent(
        """
        import subprocess, sys, time
        from pipeline.kafka.process import start_watchdog
        child = subprocess.Popen(["sleep", "300"], start_new_session=True)
        start_watchdog(child.pid, grace_s=2.0)
        print(child.pid, flush=True)
        time.sleep(300)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    child_pid = 0
    try:
        child_pid = int(parent.stdout.readline())
        assert psutil.Process(child_pid).is_running()
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_exit(child_pid, timeout_s=20)
    finally:
        if child_pid and not wait_exit(child_pid, timeout_s=0.1):
            os.killpg(child_pid, signal.SIGKILL)  # the watchdog failed: do not leak the sleep
        parent.kill()
        parent.wait()
        parent.stdout.close()


def test_stopped_watchdog_leaves_the_group_alone():
    from pipeline.kafka.process import start_watchdog, stop_watchdog, terminate_group

    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        watchdog, write_fd = start_watchdog(child.pid, grace_s=1.0)
        stop_watchdog(watchdog, write_fd)
        time.sleep(0.5)
        assert child.poll() is None
    finally:
        assert terminate_group(child.pid, 5.0, child)
    assert child.returncode == -signal.SIGTERM


def test_terminate_group_kills_what_ignores_sigterm():
    from pipeline.kafka.process import terminate_group

    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal,time; signal.signal(15, signal.SIG_IGN); "
            "print(1, flush=True); time.sleep(300)",
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    stubborn.stdout.readline()  # the handler is installed
    assert terminate_group(stubborn.pid, 0.5, stubborn) is False
    assert stubborn.returncode == -signal.SIGKILL
    stubborn.stdout.close()


# --- startup failures (a fake `java`, so no JVM is needed) -------------------------------


def fake_java(tmp_path: Path, broker_output: str) -> Path:
    """A JAVA_HOME whose java formats fine but whose broker prints ``broker_output`` and dies."""
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(
        f"#!/bin/sh\ncase \"$*\" in *StorageTool*) exit 0;; esac\necho '{broker_output}'\nexit 1\n"
    )
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    return home


def cached_home(tmp_path: Path) -> Path:
    libs = tmp_path / "home" / "4.1.1" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-4.1.1.jar").write_bytes(b"jar")
    (libs / fetch.MARKER).write_text("4.1.1\n")
    return tmp_path / "home"


def test_broker_that_exits_at_startup_raises_with_the_log_path(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, "FATAL simulated broker failure")))
    data = tmp_path / "data"
    broker = launcher.EmbeddedKafka(
        KafkaSettings(embedded_home=cached_home(tmp_path)), data_dir=data
    )

    with pytest.raises(KafkaLauncherError) as info:
        broker.start()

    assert str(data / "kafka.log") in str(info.value)
    assert "simulated broker failure" in str(info.value)
    assert info.value.reason == "broker_start_failed"
    assert broker.state is None


def test_port_race_is_retried_then_reported(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "JAVA_HOME", str(fake_java(tmp_path, "java.net.BindException: Address already in use"))
    )
    broker = launcher.EmbeddedKafka(KafkaSettings(embedded_home=cached_home(tmp_path)))

    with pytest.raises(KafkaLauncherError, match="no free port pair"):
        broker.start()
    assert (broker.data_dir / "kafka.log").read_text().count("BindException") == 3
    broker.stop()  # removes the kept temporary data directory
    assert not broker.data_dir.exists()


def test_not_running_broker_has_no_bootstrap():
    with pytest.raises(KafkaLauncherError):
        _ = launcher.EmbeddedKafka(KafkaSettings()).bootstrap_servers


# --- topic specs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "bad name"},
        {"name": "x" * 250},
        {"name": ".."},
        {"name": "ok", "partitions": 0},
        {"name": "ok", "replication_factor": 0},
        {"name": "ok", "config": {"retention.ms": 1000}},
    ],
)
def test_invalid_topic_specs_are_refused(kwargs):
    with pytest.raises(ConfigError):
        TopicSpec(**kwargs)


def test_topic_spec_defaults():
    spec = TopicSpec("phi.prompts.raw", partitions=3, config={"retention.ms": "86400000"})
    assert (spec.partitions, spec.replication_factor) == (3, 1)
    assert hash(spec) == hash(TopicSpec("phi.prompts.raw", partitions=3))


# --- command line --------------------------------------------------------------------------


def cli_args(argv: list[str], home: Path) -> argparse.Namespace:
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    args.settings = load_settings(kafka=KafkaSettings(embedded_home=home))
    return args


def test_cli_parses_the_kafka_actions(tmp_path):
    assert cli_args(["kafka", "down", "--purge"], tmp_path).purge is True
    assert cli_args(["kafka", "up", "--auto-create-topics"], tmp_path).auto_create_topics is True
    with pytest.raises(SystemExit):
        cli_args(["kafka", "sideways"], tmp_path)


def test_cli_status_and_down_without_a_broker(tmp_path, capsys):
    from pipeline.kafka import cli

    assert cli.run(cli_args(["kafka", "status"], tmp_path)) == cli.NOT_RUNNING
    assert capsys.readouterr().out.strip() == "stopped"
    assert cli.run(cli_args(["kafka", "down"], tmp_path)) == 0


def test_cli_fetch_prints_the_cached_libs(tmp_path, capsys):
    from pipeline.kafka import cli

    home = cached_home(tmp_path)
    assert cli.run(cli_args(["kafka", "fetch"], home)) == 0
    assert capsys.readouterr().out.strip() == str(home / "4.1.1" / "libs")


def test_broker_for_uses_the_configured_external_broker_without_starting_one(tmp_path):
    settings = KafkaSettings(bootstrap_servers="broker.example:9092", embedded_home=tmp_path)
    with launcher.broker_for(settings) as bootstrap:
        assert bootstrap == "broker.example:9092"
    assert list(tmp_path.iterdir()) == []  # nothing fetched, nothing started


def test_external_bootstrap_env_is_honoured(monkeypatch):
    monkeypatch.delenv("PHI_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "10.0.0.5:9092")
    assert load_settings().kafka.bootstrap_servers == "10.0.0.5:9092"
