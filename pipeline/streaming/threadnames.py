"""Names for a worker's threads where the operating system shows them.

CPython (3.11) names its threads for Python only: ``top -H``, ``ps -L`` and
``/proc/<pid>/task/<tid>/comm`` show every one of them under the process's name. The threads
the pipeline starts name themselves here, so an operator (and ``benchmarks/pipeline_e2e.py``,
which reports a worker's CPU by thread) can tell the stage thread from the event loop.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

#: The kernel keeps at most 15 bytes of a thread's name.
MAX_NAME_BYTES = 15

#: The stage thread (``stage_runner.ThreadRunner``) and the delivery-report thread
#: (``delivery.DeliveredProducer``).
STAGE_THREAD = "phi-stages"
ACKS_THREAD = "produce-acks"


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` in the OS (Linux; elsewhere nothing happens).

    Longer names are cut to 15 bytes, as the kernel would.
    """
    with contextlib.suppress(OSError):
        Path("/proc/thread-self/comm").write_bytes(name.encode("ascii", "replace")[:MAX_NAME_BYTES])
