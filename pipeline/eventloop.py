"""Which asyncio event loop a worker runs: uvloop when it is installed, else the standard one.

A worker's event loops (Faust's main loop with the agents and provider calls, and the loop of
Faust's consumer thread that runs aiokafka's fetches) spend much of their CPU in asyncio's
own machinery: selector polls, callbacks, socket writes, wake-ups from other threads. uvloop
runs the same asyncio API on libuv, in C. It is chosen through the event loop *policy*, before
Faust creates any loop, so every loop the worker creates afterwards (``get_event_loop`` in the
main thread, ``new_event_loop`` in Faust's consumer thread) is a uvloop loop.

``PHI_STREAMING__EVENT_LOOP``: ``auto`` (uvloop if importable), ``uvloop`` (required: a
:class:`~pipeline.errors.ConfigError` if it is missing) or ``asyncio`` (the standard loop).
The local provider server takes the same choice for the loop of its own thread
(:func:`new_event_loop`), without changing the process's policy.
Measured in the README (End-to-end benchmark).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from types import ModuleType

from pipeline.config import EventLoopChoice
from pipeline.errors import ConfigError

log = logging.getLogger(__name__)


def _uvloop(choice: EventLoopChoice) -> ModuleType | None:
    """Return the uvloop module if ``choice`` asks for it and it imports, else ``None``.

    Raises:
        ConfigError: ``choice`` is ``"uvloop"`` and uvloop cannot be imported, or ``choice``
            is not one of the three names.
    """
    if choice == "asyncio":
        return None
    if choice not in ("auto", "uvloop"):
        raise ConfigError(f"unknown event loop {choice!r}; use auto, uvloop or asyncio")
    try:
        return importlib.import_module("uvloop")
    except ImportError as exc:
        if choice == "uvloop":
            raise ConfigError(
                "streaming.event_loop is uvloop but uvloop is not installed",
                reason="uvloop_missing",
            ) from exc
        log.info("uvloop is not installed: the standard asyncio event loop runs")
        return None


def install_event_loop(choice: EventLoopChoice) -> str:
    """Set the policy for the loops created from now on; return ``"uvloop"`` or ``"asyncio"``.

    Call it before anything creates a loop (Faust's app and worker, aiokafka).

    Raises:
        ConfigError: as :func:`new_event_loop`.
    """
    uvloop = _uvloop(choice)
    if uvloop is None:
        asyncio.set_event_loop_policy(None)  # the standard policy
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def new_event_loop(choice: EventLoopChoice) -> asyncio.AbstractEventLoop:
    """Return a new loop of the chosen kind; the process's policy is left as it is.

    Raises:
        ConfigError: ``choice`` is ``"uvloop"`` and uvloop cannot be imported, or ``choice``
            is not one of the three names.
    """
    uvloop = _uvloop(choice)
    loop: asyncio.AbstractEventLoop = (
        uvloop.new_event_loop()
        if uvloop is not None
        else asyncio.DefaultEventLoopPolicy().new_event_loop()
    )
    return loop
