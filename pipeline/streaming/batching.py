"""Adaptive batches: a stage takes whatever has arrived when it is free, up to a maximum.

Faust's ``Stream.noack_take(max_, within)`` returns a batch when ``max_`` events are buffered
or when ``within`` seconds have passed, and while the agent processes a batch no event enters
the next one. At a few dozen records a second per agent a batch never fills, so every record
waited on that timer (up to 20 ms a hop), and records that arrived during processing waited for
the next timer too.

:func:`ready_batches` batches the way a network stack does: the first record of an idle stage
is handed over at once; records that arrive while a batch is being processed are buffered (up
to ``max_``, then the stream is held back) and make the next batch as soon as the stage is
free. Batches are small when the stage keeps up and grow by themselves under load, where they
amortise the per-batch costs. ``linger_s`` optionally holds a batch open a little longer after
its first record, for deployments that prefer bigger batches to lower latency.

Events are not acknowledged here, exactly as with ``noack_take``: the caller acknowledges each
one once its outputs are delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from faust.types import EventT


async def ready_batches(
    stream: Any, max_: int, linger_s: float = 0.0
) -> AsyncIterator[list[EventT]]:
    """Yield lists of at most ``max_`` unacknowledged events of ``stream`` as they are ready.

    Args:
        stream: the agent's Faust stream.
        max_: the most events a batch holds (also the most buffered while one is processed).
        linger_s: how long a batch may wait for more events after its first one (0: none).
    """
    if max_ < 1:
        raise ValueError("a batch holds at least one event")
    buffer: list[EventT] = []
    arrived = asyncio.Event()  # the buffer has an event
    full = asyncio.Event()  # the buffer has max_ events
    room = asyncio.Event()  # the buffer has room for another event
    room.set()

    async def add_to_buffer(value: Any) -> Any:
        # A Faust stream processor: runs for every event the stream's passive drainer pulls.
        while len(buffer) >= max_:
            room.clear()
            await room.wait()
        event = stream.current_event
        if event is None:
            raise RuntimeError("the stream has no current event")
        buffer.append(event)
        arrived.set()
        if len(buffer) >= max_:
            full.set()
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False  # acknowledged by the caller, once delivered
    stream.add_processor(add_to_buffer)
    # The same passive draining noack_take uses: the stream is iterated in the background and
    # every event runs through the processors above.
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            if await stream.wait_for_stopped(arrived):
                break
            if linger_s > 0 and len(buffer) < max_:
                await stream.wait_for_stopped(full, timeout=linger_s)
            if not buffer:
                continue
            batch = buffer[:]
            buffer.clear()
            arrived.clear()
            full.clear()
            room.set()
            yield batch
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
