"""Where the machine's CPU goes while a rate runs: worker threads, the broker, the VM itself.

The end-to-end benchmark runs everything on one machine, so a rate that falls behind may be
the pipeline's cost or the machine's. Each rate's JSON therefore also carries:

* each worker's CPU by thread role (:func:`thread_cpu`): the event loop (the main thread), the
  stage thread, the delivery-report thread, librdkafka's threads, the rest (Faust's consumer
  thread, executor threads) and child processes (``--stage-process``). The pipeline's threads
  name themselves in the OS (``pipeline/streaming/threadnames.py``); librdkafka's are ``rdk:*``;
* the broker's CPU (:func:`find_broker_pid`: the local JVM listening on the bootstrap port;
  absent for a remote broker);
* the VM: CPU time the hypervisor stole (:class:`CpuTicks`, ``/proc/stat``) and a fixed
  pure-Python workload timed before the rate (:func:`vm_probe_ms`): the same instructions
  every time, so a higher figure means a slower machine, not a costlier pipeline.

Linux only (``/proc``): elsewhere the readers return empty results and the fields are null.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from pipeline.streaming.threadnames import ACKS_THREAD, STAGE_THREAD

PROC = Path("/proc")

#: Thread roles, as reported.
EVENT_LOOP = "event_loop"
STAGES = "stages"
ACKS = "acks"
LIBRDKAFKA = "librdkafka"
OTHER = "other"
CHILD = "child"

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def role(pid: int, tid: int, comm: str) -> str:
    """Return the role of thread ``tid`` of process ``pid`` named ``comm`` in the OS."""
    if tid == pid:
        return EVENT_LOOP
    if comm.startswith(STAGE_THREAD):
        return STAGES
    if comm.startswith(ACKS_THREAD):
        return ACKS
    if comm.startswith("rdk:"):
        return LIBRDKAFKA
    return OTHER


def _task_cpu(stat: str) -> float:
    """User plus system CPU seconds from a ``/proc/<pid>/task/<tid>/stat`` line."""
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_S


def thread_cpu(pid: int, children: Iterable[int] = ()) -> dict[str, float]:
    """Return CPU seconds of process ``pid`` by thread role, its ``children`` as ``child``.

    Threads that ended are not counted (their time is in the process's total only).
    """
    out: dict[str, float] = {}
    for proc, is_child in [(pid, False), *((c, True) for c in children)]:
        tasks = PROC / str(proc) / "task"
        with contextlib.suppress(OSError):
            for entry in tasks.iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    tid = int(entry.name)
                    cpu = _task_cpu((entry / "stat").read_text())
                    comm = (entry / "comm").read_text().strip()
                    key = CHILD if is_child else role(proc, tid, comm)
                    out[key] = out.get(key, 0.0) + cpu
    return out


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Return ``after - before`` by role (a role that appeared counts from zero)."""
    return {k: round(v - before.get(k, 0.0), 2) for k, v in sorted(after.items())}


@dataclass(frozen=True)
class CpuTicks:
    """The machine's CPU time from the first line of ``/proc/stat``, in ticks."""

    total: int
    steal: int

    @classmethod
    def read(cls) -> CpuTicks | None:
        """Read them now; ``None`` where there is no ``/proc/stat``."""
        try:
            line = (PROC / "stat").read_text().splitlines()[0]
        except (OSError, IndexError):
            return None
        # cpu user nice system idle iowait irq softirq steal guest guest_nice
        values = [int(v) for v in line.split()[1:]]
        steal = values[7] if len(values) > 7 else 0
        # guest time is already in user and nice
        return cls(total=sum(values[:8]), steal=steal)

    def steal_pct(self, later: CpuTicks) -> float | None:
        """Percent of the machine's CPU time stolen by the hypervisor since ``self``."""
        total = later.total - self.total
        if total <= 0:
            return None
        return round(100 * (later.steal - self.steal) / total, 2)


def find_broker_pid(bootstrap: str) -> int | None:
    """Return the pid of the local process listening on the first bootstrap address's port.

    ``None`` when the broker is not on this machine or cannot be seen.
    """
    first = bootstrap.split(",")[0].strip()
    match = re.search(r":(\d+)$", first)
    if match is None:
        return None
    port = int(match.group(1))
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if not any("kafka.Kafka" in part for part in cmdline):
            continue
        with contextlib.suppress(psutil.Error):
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return int(proc.pid)
    return None


def process_cpu(pid: int | None) -> float | None:
    """User plus system CPU seconds of ``pid`` (``None`` when it is gone or unknown)."""
    if pid is None:
        return None
    with contextlib.suppress(psutil.Error):
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    return None


_PROBE_WORD = re.compile(r"[A-Za-z]+")


def vm_probe_ms(texts: list[str], rounds: int = 3) -> float:
    """Return the CPU milliseconds of a fixed workload: the least of ``rounds`` runs.

    The workload (split ``texts`` into words, count them, sort the counts) is the same
    instructions every time, so on this machine and interpreter it only varies with the
    machine's speed (a faster interpreter build runs it faster too: compare runs on one).
    Timed in this thread's CPU time, so waiting for a core does not count; a slower core
    (another guest on it, a lower clock) does.
    """
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w.lower() for w in _PROBE_WORD.findall(text))
        sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        best = min(best, time.thread_time() - start)
    return round(best * 1000, 2)


class MachineWatch:
    """Measures the broker's CPU and the VM over one rate's window (see the module docstring)."""

    def __init__(self, broker_pid: int | None, probe_texts: list[str]) -> None:
        self.broker_pid = broker_pid
        self._texts = probe_texts
        self._probe: float | None = None
        self._ticks: CpuTicks | None = None
        self._broker0: float | None = None
        self._t0 = 0.0

    def start(self) -> None:
        """Time the probe (before the window: it is CPU the rate must not share), then start."""
        self._probe = vm_probe_ms(self._texts)
        self._ticks = CpuTicks.read()
        self._broker0 = process_cpu(self.broker_pid)
        self._t0 = time.monotonic()

    def stop(self, completed: int) -> dict[str, float | None]:
        """Return the window's figures; ``completed`` prompts share the broker's CPU."""
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        ticks = CpuTicks.read()
        steal = self._ticks.steal_pct(ticks) if self._ticks and ticks else None
        broker = process_cpu(self.broker_pid)
        used = broker - self._broker0 if broker is not None and self._broker0 is not None else None
        return {
            "vm_probe_ms": self._probe,
            "steal_pct": steal,
            "broker_cpu_pct": round(100 * used / elapsed, 1) if used is not None else None,
            "broker_cpu_ms_per_prompt": (
                round(1000 * used / completed, 2) if used is not None and completed else None
            ),
        }


def threads_ms_per_prompt(
    workers: list[dict[str, Any]], completed: int
) -> dict[str, dict[str, float]]:
    """Sum the workers' thread CPU by kind (``w0-provider`` -> ``provider``) and role.

    Each figure is milliseconds per completed prompt: what one prompt costs that kind of
    worker's threads of that role, whichever worker of the kind handled it.
    """
    if not completed:
        return {}
    out: dict[str, dict[str, float]] = {}
    for worker in workers:
        roles = out.setdefault(str(worker["name"]).split("-", 1)[-1], {})
        for key, seconds in (worker.get("threads_cpu_s") or {}).items():
            roles[key] = roles.get(key, 0.0) + seconds
    return {
        kind: {r: round(1000 * s / completed, 2) for r, s in sorted(roles.items())}
        for kind, roles in out.items()
    }
