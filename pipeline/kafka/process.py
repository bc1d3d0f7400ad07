"""Process plumbing for the embedded broker: state file, watchdog, clean termination.

The JVM runs in its own process group (its own session), so a Ctrl-C in the terminal reaches
only Python, which then stops the broker in order, and so the whole group can be signalled at
once.

The watchdog covers the case no ``finally`` or ``atexit`` can: the Python parent dying hard
(SIGKILL, ``os._exit``, a crash). It is a tiny Python process whose stdin is the read end of a
pipe whose only write end the parent holds. The parent never writes; when it dies for any
reason the kernel closes the write end, the watchdog reads EOF, and it terminates the JVM's
process group (SIGTERM, then SIGKILL after a grace period). Unlike polling the parent's pid this
needs no timer and cannot be fooled by pid reuse; unlike ``PR_SET_PDEATHSIG`` it works on macOS
and does not fire when merely the thread that started the broker exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from pipeline.errors import KafkaLauncherError

#: The watchdog program (run with ``python -I -S -c``). argv: pgid, grace seconds.
WATCHDOG_CODE = """
import os, signal, sys, time
pgid, grace = int(sys.argv[1]), float(sys.argv[2])
try:
    while sys.stdin.buffer.read(4096):
        pass
except OSError:
    pass
try:
    os.killpg(pgid, signal.SIGTERM)
except ProcessLookupError:
    sys.exit(0)
deadline = time.monotonic() + grace
while time.monotonic() < deadline:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        sys.exit(0)
    time.sleep(0.2)
try:
    os.killpg(pgid, signal.SIGKILL)
except ProcessLookupError:
    pass
"""


@dataclass(frozen=True)
class BrokerState:
    """What a separate invocation needs to find, inspect and stop a running broker.

    Attributes:
        pid: the JVM's pid (also its process-group id).
        broker_port: the client listener port.
        controller_port: the KRaft controller listener port.
        data_dir: the broker's data directory.
        log_file: where the JVM's output goes.
        version: the Apache Kafka version.
        started_at: Unix time of the start.
    """

    pid: int
    broker_port: int
    controller_port: int
    data_dir: str
    log_file: str
    version: str
    started_at: float

    @property
    def bootstrap_servers(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"127.0.0.1:{self.broker_port}"

    @property
    def properties_file(self) -> Path:
        """The ``server.properties`` the JVM was started with (identifies it in ``ps``)."""
        return Path(self.data_dir) / "server.properties"

    def write(self, path: Path) -> None:
        """Write the state atomically (a reader never sees half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> BrokerState | None:
        """Return the state stored at ``path``, or None if there is none.

        Raises:
            KafkaLauncherError: the file exists but is not a valid state file.
        """
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                pid=int(raw["pid"]),
                broker_port=int(raw["broker_port"]),
                controller_port=int(raw["controller_port"]),
                data_dir=str(raw["data_dir"]),
                log_file=str(raw["log_file"]),
                version=str(raw["version"]),
                started_at=float(raw["started_at"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KafkaLauncherError(
                f"broker state file {path} is unreadable; delete it", reason="bad_state_file"
            ) from exc

    def is_alive(self) -> bool:
        """Return True if the recorded pid is still our JVM (not a reused pid)."""
        return is_broker_process(self.pid, self.properties_file)


def is_broker_process(pid: int, properties_file: Path) -> bool:
    """Return True if ``pid`` is a live JVM started with ``properties_file``."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return str(properties_file) in proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def jvms_using(data_dir: Path) -> list[int]:
    """Return pids of running processes whose command line names a file in ``data_dir``.

    Used to prove that no broker JVM outlives a stop.
    """
    needle = str(data_dir)
    found: list[int] = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        if any(needle in part for part in cmdline) and "kafka.Kafka" in cmdline:
            found.append(int(proc.info["pid"]))
    return found


def start_watchdog(pgid: int, grace_s: float = 10.0) -> tuple[subprocess.Popen[bytes], int]:
    """Start a watchdog that terminates process group ``pgid`` when this process dies.

    Returns:
        The watchdog process and the pipe's write end, which the caller must keep open for as
        long as the broker should live (and must not let children inherit).
    """
    read_fd, write_fd = os.pipe()  # both non-inheritable by default (PEP 446)
    try:
        watchdog = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", WATCHDOG_CODE, str(pgid), str(grace_s)],
            stdin=read_fd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            # Its own session: a terminal Ctrl-C must not kill the watchdog before the parent
            # has had the chance to stop the broker in order.
            start_new_session=True,
        )
    except OSError as exc:
        os.close(write_fd)
        raise KafkaLauncherError(f"cannot start the broker watchdog: {exc}") from exc
    finally:
        os.close(read_fd)
    return watchdog, write_fd


def stop_watchdog(watchdog: subprocess.Popen[bytes], write_fd: int) -> None:
    """Stop a watchdog without letting it signal the group (the caller stops the broker)."""
    if watchdog.poll() is None:
        watchdog.kill()
    watchdog.wait()
    with contextlib.suppress(OSError):
        os.close(write_fd)


def terminate_group(
    pid: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None
) -> bool:
    """Stop the process group led by ``pid``: SIGTERM, wait, then SIGKILL.

    Args:
        pid: the group leader (the JVM started with ``start_new_session=True``).
        timeout_s: how long a clean shutdown may take before SIGKILL.
        proc: the ``Popen`` of ``pid`` when it is our child, so it is reaped properly.

    Returns:
        True if it stopped cleanly within ``timeout_s``, False if it had to be killed.
    """
    if not _signal_group(pid, signal.SIGTERM):
        if proc is not None:
            proc.wait()
        return True
    if wait_exit(pid, timeout_s, proc):
        return True
    _signal_group(pid, signal.SIGKILL)
    wait_exit(pid, 10.0, proc)
    return False


def _signal_group(pid: int, sig: signal.Signals) -> bool:
    """Signal the group of ``pid``; return False if it no longer exists."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        raise KafkaLauncherError(f"not allowed to signal broker process {pid}") from exc
    return True


def wait_exit(pid: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait for ``pid`` to exit; return True if it did within ``timeout_s``.

    A zombie counts as gone (dead, merely not yet reaped by its parent or init).
    """
    if proc is not None:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False
