"""Static checks of docker-compose.yml and the Dockerfile (Docker itself is optional)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def test_services(services):
    assert set(services) == {"kafka", "schema-registry", "provider", "worker"}
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["schema-registry"]["image"].startswith("confluentinc/cp-schema-registry:")
    assert services["worker"]["build"] == "."
    assert services["worker"]["command"][-1].endswith("exec phi-pipeline worker")
    # The stub binds loopback only; it shares the worker's network namespace instead.
    assert services["provider"]["command"] == [
        "provider",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "8080",
    ]
    assert services["provider"]["network_mode"] == "service:worker"


def test_every_published_port_is_bound_to_loopback(services):
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published, "the stack publishes the broker, the registry and the provider"
    for port in published:
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), port
    assert "127.0.0.1:8080:8080" in services["worker"]["ports"]


@pytest.mark.parametrize("name", ["kafka", "schema-registry", "provider", "worker"])
def test_healthchecks(services, name):
    check = services[name]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert check["retries"] >= 3


def test_start_order_waits_for_health(services):
    assert services["schema-registry"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    worker_deps = services["worker"]["depends_on"]
    for dep in ("kafka", "schema-registry"):
        assert worker_deps[dep]["condition"] == "service_healthy"
    assert services["provider"]["depends_on"]["worker"]["condition"] == "service_started"


def test_worker_has_a_policy_and_keys(services):
    env = services["worker"]["environment"]
    assert env["PHI_PROVIDERS__POLICY_FILE"].endswith("demo_policy.yaml")
    assert env["PHI_KEYS__KEY_FILE"].startswith("/home/phi/keys/")
    assert any(v.endswith(":/home/phi/keys") for v in services["worker"]["volumes"])
    policy = (REPO / "pipeline/policy/examples/demo_policy.yaml").read_text()
    assert "http://127.0.0.1:8080/v1" in policy  # the stub, on the shared loopback


def test_worker_reaches_kafka_and_registry_on_the_compose_network(services):
    env = services["worker"]["environment"]
    assert env["PHI_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["PHI_KAFKA__SCHEMA_REGISTRY_URL"] == "http://schema-registry:8081"
    kafka_env = services["kafka"]["environment"]
    assert "INTERNAL://kafka:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert "EXTERNAL://127.0.0.1:9094" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]


def test_kafka_is_a_single_kraft_node_like_the_embedded_one(services):
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_dockerfile_installs_models_extra_and_runs_unprivileged():
    lines = [
        line.strip()
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    assert any("pip install" in line and ".[models]" in line for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    assert lines[-2:] == ['ENTRYPOINT ["phi-pipeline"]', 'CMD ["worker"]']


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env"} <= ignored


def _compose_client() -> list[str] | None:
    """The compose command that works here, if any (no Docker engine is needed for config)."""
    candidates = [["docker", "compose"], ["docker-compose"]]
    for cmd in candidates:
        if shutil.which(cmd[0]) is None:
            continue
        probe = subprocess.run([*cmd, "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return cmd
    return None


def test_docker_compose_config_validates():
    cmd = _compose_client()
    if cmd is None:
        pytest.skip("no docker compose client here")
    done = subprocess.run(
        [*cmd, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
