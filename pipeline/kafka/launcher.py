"""A real Apache Kafka broker for development and tests, without Docker.

:class:`EmbeddedKafka` fetches the broker jars with Maven (:mod:`pipeline.kafka.fetch`),
formats a KRaft data directory, starts ``kafka.Kafka`` as a single broker+controller node on two
free loopback ports (:mod:`pipeline.kafka.broker_config`), waits until it answers a metadata
request, and stops it cleanly. Two modes:

* **owned** (tests, demos): a temporary data directory removed on stop, an ``atexit`` hook and a
  watchdog so that no JVM outlives the Python process, however it dies;
* **daemon** (``phi-pipeline kafka up``): a persistent data directory under
  ``embedded_home/daemon`` and a state file there, so ``kafka status`` / ``kafka down`` find the
  broker from separate invocations.

:func:`broker_for` is what a harness or demo calls: it yields the configured external broker
(``KafkaSettings.bootstrap_servers`` / ``KAFKA_BOOTSTRAP_SERVERS``) when there is one, the
running ``kafka up`` daemon otherwise, and only then starts an owned broker.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

from pipeline.config import KafkaSettings
from pipeline.errors import KafkaLauncherError
from pipeline.kafka import broker_config, fetch, process
from pipeline.kafka.process import BrokerState

log = logging.getLogger(__name__)

_BIND_FAILURE_MARKERS = ("Address already in use", "BindException")
_START_ATTEMPTS = 3


def daemon_dir(settings: KafkaSettings) -> Path:
    """Return the data directory of the ``kafka up`` daemon."""
    return settings.embedded_home / "daemon"


def state_path(data_dir: Path) -> Path:
    """Return the state file of the broker whose data directory is ``data_dir``."""
    return data_dir / "state.json"


def find_java() -> str:
    """Return the ``java`` executable (``$JAVA_HOME/bin/java`` first, then ``PATH``).

    Raises:
        KafkaLauncherError: no Java runtime was found.
    """
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise KafkaLauncherError(
            "java (17 or newer) is not installed; install it or set KAFKA_BOOTSTRAP_SERVERS",
            reason="java_missing",
        )
    return found


def log_tail(log_file: Path, max_chars: int = 3000) -> str:
    """Return the end of the broker log (broker diagnostics only; it never holds records)."""
    try:
        with log_file.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - max_chars))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


class EmbeddedKafka:
    """One Apache Kafka KRaft node (broker + controller) running from Maven-fetched jars.

    Use as a context manager, or call :meth:`start` and :meth:`stop`::

        with EmbeddedKafka(settings.kafka) as kafka:
            produce_to(kafka.bootstrap_servers)

    Args:
        settings: where the jars are cached, which version, heap size.
        data_dir: the data directory; default a fresh temporary one, removed on stop.
        daemon: start a broker meant to outlive this process (no watchdog, no ``atexit``).
        auto_create_topics: let producing to an unknown topic create it (off by default).
        start_timeout_s: how long the broker may take to answer its first metadata request.
        stop_timeout_s: how long a clean shutdown may take before SIGKILL.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        data_dir: Path | None = None,
        daemon: bool = False,
        auto_create_topics: bool = False,
        start_timeout_s: float = 120.0,
        stop_timeout_s: float = 30.0,
    ) -> None:
        self._settings = settings
        self._version = fetch.validate_version(settings.embedded_version)
        self._data_dir_arg = data_dir
        self._daemon = daemon
        self._auto_create = auto_create_topics
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._owns_data_dir = False
        self._data_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: tuple[subprocess.Popen[bytes], int] | None = None
        self._state: BrokerState | None = None

    def __repr__(self) -> str:
        where = self._state.bootstrap_servers if self._state else "stopped"
        return f"EmbeddedKafka(version={self._version!r}, {where})"

    @property
    def bootstrap_servers(self) -> str:
        """The ``host:port`` clients connect to.

        Raises:
            KafkaLauncherError: the broker is not running.
        """
        if self._state is None:
            raise KafkaLauncherError("the embedded broker is not running")
        return self._state.bootstrap_servers

    @property
    def state(self) -> BrokerState | None:
        """The running broker's state (pid, ports, data directory), or None."""
        return self._state

    @property
    def data_dir(self) -> Path | None:
        """The data directory while the broker runs."""
        return self._data_dir

    def __enter__(self) -> EmbeddedKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> str:
        """Fetch the jars if needed, start the broker and wait until it serves metadata.

        Returns:
            The bootstrap address.

        Raises:
            KafkaLauncherError: Java or Maven is missing, or the broker did not come up; the
                message names the log file to read.
        """
        if self._state is not None:
            return self._state.bootstrap_servers
        libs = fetch.ensure_jars(self._settings.embedded_home, self._version)
        java = find_java()
        if self._data_dir_arg is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="phi-kafka-"))
            self._owns_data_dir = True
        else:
            self._data_dir = self._data_dir_arg
            self._data_dir.mkdir(parents=True, exist_ok=True)
        if not self._daemon:
            # Registered before the JVM exists so that an interrupt during startup still
            # cleans up; stop() is a no-op for what was never started.
            atexit.register(self.stop)
        try:
            for attempt in range(1, _START_ATTEMPTS + 1):
                if self._try_start(java, libs, self._data_dir):
                    break
                log.warning("broker port was taken before it bound; retry %d", attempt)
            else:
                raise KafkaLauncherError(
                    f"no free port pair after {_START_ATTEMPTS} attempts",
                    reason="broker_start_failed",
                )
        except KafkaLauncherError:
            # Keep the data directory: the error message points at the log inside it.
            self._stop(keep_data=True)
            raise
        except BaseException:  # e.g. Ctrl-C during startup: leave nothing behind
            self._stop(keep_data=False)
            raise
        if self._state is None:  # _try_start returned True, so it set the state
            raise KafkaLauncherError("the broker started but recorded no state")
        log.info("Kafka %s ready at %s", self._version, self._state.bootstrap_servers)
        return self._state.bootstrap_servers

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and remove what this instance owns.

        Safe to call more than once and on a broker that never started.
        """
        self._stop(keep_data=False)

    def _stop(self, *, keep_data: bool) -> None:
        """Stop the JVM and its watchdog; remove the owned data directory unless ``keep_data``."""
        if not self._daemon:
            atexit.unregister(self.stop)
        if self._watchdog is not None:
            process.stop_watchdog(*self._watchdog)
            self._watchdog = None
        if self._proc is not None:
            clean = process.terminate_group(self._proc.pid, self._stop_timeout_s, self._proc)
            if not clean:
                log.warning("broker did not stop within %.0fs; killed", self._stop_timeout_s)
            self._proc = None
        if self._data_dir is not None:
            with suppress(FileNotFoundError):
                state_path(self._data_dir).unlink()
            if self._owns_data_dir and not keep_data:
                shutil.rmtree(self._data_dir, ignore_errors=True)
        self._state = None

    def _try_start(self, java: str, libs: Path, data_dir: Path) -> bool:
        """Start the JVM once; return False if it lost a race for its ports."""
        broker_port, controller_port = broker_config.free_ports(2)
        properties = data_dir / "server.properties"
        properties.write_text(
            broker_config.render_server_properties(
                broker_port=broker_port,
                controller_port=controller_port,
                data_dir=data_dir,
                auto_create_topics=self._auto_create,
            ),
            encoding="utf-8",
        )
        log4j = data_dir / "log4j2.yaml"
        log4j.write_text(broker_config.render_log4j2_yaml(), encoding="utf-8")
        classpath = str(libs / "*")  # expanded by the JVM itself, not by a shell
        self._format_storage(java, classpath, properties, data_dir)
        log_file = data_dir / "kafka.log"
        cmd = [
            java,
            f"-Xmx{self._settings.embedded_heap_mb}m",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(properties),
        ]
        with log_file.open("ab") as out:
            try:
                self._proc = subprocess.Popen(
                    cmd,
                    cwd=data_dir,  # where a crashing JVM drops its hs_err file
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    close_fds=True,
                    start_new_session=True,
                )
            except OSError as exc:
                raise KafkaLauncherError(f"cannot start java: {exc}") from exc
        if not self._daemon:
            self._watchdog = process.start_watchdog(self._proc.pid, grace_s=self._stop_timeout_s)
        state = BrokerState(
            pid=self._proc.pid,
            broker_port=broker_port,
            controller_port=controller_port,
            data_dir=str(data_dir),
            log_file=str(log_file),
            version=self._version,
            started_at=time.time(),
        )
        if not self._wait_ready(self._proc, state, log_file):
            return False
        state.write(state_path(data_dir))
        self._state = state
        return True

    def _format_storage(self, java: str, classpath: str, properties: Path, data_dir: Path) -> None:
        """Format the KRaft log directory once (a formatted directory is kept as is)."""
        if (data_dir / "kraft-logs" / "meta.properties").is_file():
            return
        # With controller.quorum.voters set the quorum is static: no --standalone.
        cmd = [
            java,
            "-Xmx256m",
            "-XX:TieredStopAtLevel=1",  # a one-shot tool: the C1 compiler alone starts faster
            f"-Dlog4j2.configurationFile={data_dir / 'log4j2.yaml'}",
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            broker_config.new_cluster_id(),
            "-c",
            str(properties),
            "--ignore-formatted",
        ]
        try:
            done = subprocess.run(
                cmd, cwd=data_dir, capture_output=True, text=True, timeout=120, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise KafkaLauncherError(
                f"formatting Kafka storage in {data_dir} failed", reason="broker_start_failed"
            ) from exc
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip()[-2000:]
            raise KafkaLauncherError(
                f"formatting Kafka storage in {data_dir} failed (exit {done.returncode}): {tail}",
                reason="broker_start_failed",
            )

    def _wait_ready(
        self, proc: subprocess.Popen[bytes], state: BrokerState, log_file: Path
    ) -> bool:
        """Wait until the broker answers a metadata request.

        Returns:
            True when ready, False when the JVM exited because a port was taken.

        Raises:
            KafkaLauncherError: the JVM exited for another reason, or the timeout passed.
        """
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                self._proc = None
                if self._watchdog is not None:
                    process.stop_watchdog(*self._watchdog)
                    self._watchdog = None
                tail = log_tail(log_file)
                if any(marker in tail for marker in _BIND_FAILURE_MARKERS):
                    return False
                raise KafkaLauncherError(
                    f"Kafka broker exited with code {code} during startup; see {log_file}; "
                    f"its last lines:\n{tail[-1500:]}",
                    reason="broker_start_failed",
                )
            if _port_open(state.broker_port) and answers_metadata(state.bootstrap_servers):
                return True
            time.sleep(0.25)
        raise KafkaLauncherError(
            f"Kafka broker did not answer within {self._start_timeout_s:.0f}s; see {log_file}",
            reason="broker_start_timeout",
        )


def _port_open(port: int) -> bool:
    """Return True if something accepts TCP connections on loopback ``port``."""
    try:
        with socket.create_connection((broker_config.HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def answers_metadata(bootstrap: str, timeout_s: float = 5.0) -> bool:
    """Return True if the broker at ``bootstrap`` returns metadata listing itself."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    # librdkafka logs every refused connection; route that to our logger instead of stderr.
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "logger": logging.getLogger("pipeline.kafka.librdkafka"),
    }
    admin = AdminClient(conf)
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def running_daemon(settings: KafkaSettings) -> BrokerState | None:
    """Return the state of the ``kafka up`` daemon if it is running, else None.

    A state file left by a broker that died is removed.
    """
    path = state_path(daemon_dir(settings))
    state = BrokerState.read(path)
    if state is None:
        return None
    if state.is_alive():
        return state
    log.info("removing stale broker state file %s (pid %d is gone)", path, state.pid)
    with suppress(FileNotFoundError):
        path.unlink()
    return None


def start_daemon(settings: KafkaSettings, *, auto_create_topics: bool = False) -> BrokerState:
    """Start the ``kafka up`` broker, or return the one already running.

    Raises:
        KafkaLauncherError: the broker could not be started.
    """
    # Two concurrent `kafka up` must not start two JVMs on one data directory.
    with fetch.file_lock(settings.embedded_home / "daemon.lock"):
        existing = running_daemon(settings)
        if existing is not None:
            return existing
        broker = EmbeddedKafka(
            settings,
            data_dir=daemon_dir(settings),
            daemon=True,
            auto_create_topics=auto_create_topics,
        )
        broker.start()
    state = broker.state
    if state is None:  # start() returned, so the state is set; this keeps mypy honest
        raise KafkaLauncherError("the broker started but recorded no state")
    return state


def stop_daemon(settings: KafkaSettings, *, timeout_s: float = 30.0) -> BrokerState | None:
    """Stop the ``kafka up`` broker; return its state, or None if none was running."""
    state = running_daemon(settings)
    if state is None:
        return None
    if not process.terminate_group(state.pid, timeout_s):
        log.warning("broker pid %d did not stop within %.0fs; killed", state.pid, timeout_s)
    with suppress(FileNotFoundError):
        state_path(daemon_dir(settings)).unlink()
    return state


@contextmanager
def broker_for(settings: KafkaSettings) -> Iterator[str]:
    """Yield a bootstrap address: the external broker, the daemon, or a new owned broker.

    An owned broker is stopped when the ``with`` block ends.
    """
    if settings.bootstrap_servers:
        yield settings.bootstrap_servers
        return
    daemon = running_daemon(settings)
    if daemon is not None:
        yield daemon.bootstrap_servers
        return
    with EmbeddedKafka(settings) as broker:
        yield broker.bootstrap_servers
