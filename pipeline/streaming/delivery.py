"""Producing a stage's outputs: confluent-kafka (librdkafka), awaited until the broker acks.

The agents hand every record they produce to one :class:`DeliveredProducer` per worker. It
serves two needs with one librdkafka client:

* **At-least-once without loss.** :meth:`DeliveredProducer.send` returns only once the broker
  acknowledged (``acks=all``, idempotent) every record of the call. The agents await it before
  they ask their stream for the next event or batch, and Faust acknowledges (and later commits)
  an input offset only then, so a committed offset never has an output still in flight.
* **Write-ahead audit.** A provider call's ``provider_call_started`` event is awaited the same
  way before the HTTP request is made (DESIGN.md, write-ahead audit).

Why not Faust's own producer (aiokafka): on this two-core machine the pure-Python produce path
(record batches built in Python, a socket write per request on the event loop) was the largest
framework cost of a worker. librdkafka builds batches and talks to the broker on its own C
threads, outside the GIL and the event loop; each record costs the agent one ``produce()``
call. One daemon thread serves delivery reports and settles the awaiting futures on the loop.

Records keep the partition a Java or aiokafka producer would give their key (``murmur2``), so
a conversation's records land where they always did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaException

from pipeline.config import Settings
from pipeline.errors import AuditError, StreamingError
from pipeline.streaming.records import Out
from pipeline.streaming.threadnames import ACKS_THREAD, name_os_thread

log = logging.getLogger(__name__)

#: Waiting up to a millisecond lets concurrent agents share broker requests.
LINGER_MS = 1


class DeliveredProducer:
    """An idempotent ``acks=all`` confluent-kafka producer whose sends are awaited to the ack.

    Safe to share between the agents of one event loop; created lazily on first use, so
    building the app starts no thread and opens no connection.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: Any = None  # confluent_kafka.Producer (the package has no type stubs)
        self._lock = threading.Lock()
        self._produce_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def _client(self) -> Any:
        with self._lock:
            if self._producer is None:
                from confluent_kafka import Producer

                conf: dict[str, str | bool | int] = dict(self._settings.kafka.librdkafka_config())
                conf.update(
                    {
                        "acks": "all",
                        "enable.idempotence": True,
                        "linger.ms": LINGER_MS,
                        "partitioner": "murmur2_random",
                        "message.timeout.ms": int(
                            self._settings.streaming.delivery_timeout_s * 1000
                        ),
                    }
                )
                self._producer = Producer(conf)
                self._poller = threading.Thread(target=self._poll, name=ACKS_THREAD, daemon=True)
                self._poller.start()
            return self._producer

    def _poll(self) -> None:
        name_os_thread(ACKS_THREAD)
        producer = self._producer
        while not self._stop.is_set():
            producer.poll(0.05)

    async def send(self, outs: Sequence[Out]) -> None:
        """Produce ``outs`` (in order) and return when the broker acknowledged all of them.

        Raises:
            StreamingError: a record was not acknowledged (librdkafka retried until its
                delivery timeout); the caller must not acknowledge its input.
        """
        if not outs:
            return
        producer = self._client()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        failures: list[str] = []
        # Delivery reports all arrive on the one poll thread, which alone counts down; the loop
        # is woken once per call, not once per record.
        pending = [len(outs)]

        def settle() -> None:
            if done.done():
                return
            if failures:
                done.set_exception(
                    StreamingError(
                        f"{len(failures)} record(s) not acknowledged: {failures[0]}",
                        reason="produce_failed",
                    )
                )
            else:
                done.set_result(None)

        def on_delivery(err: object, msg: object) -> None:
            if err is not None:
                # The error names the topic and the broker's reason; never the record.
                failures.append(f"{msg.topic()}: {err}")  # type: ignore[attr-defined]
            pending[0] -= 1
            if pending[0] == 0:
                with contextlib.suppress(RuntimeError):  # the loop closed while in flight
                    loop.call_soon_threadsafe(settle)

        if any(out.handoff is not None for out in outs):
            # A record meant for a chained stage in memory: never write it (it is not encoded).
            raise StreamingError(
                "an in-memory record reached the producer", reason="chain_mismatch"
            )
        # One batch's records at a time, in the order the batches came: a conversation's
        # records stay in order even when a full local queue makes a batch wait below.
        lock = self._produce_locks.setdefault(loop, asyncio.Lock())
        async with lock:
            for out in outs:
                while True:
                    try:
                        producer.produce(
                            out.topic, key=out.key, value=out.value, on_delivery=on_delivery
                        )
                        break
                    except BufferError:
                        # The local queue is full: let librdkafka drain it, then retry.
                        await asyncio.sleep(0.005)
                    except KafkaException as exc:
                        # Refused before sending (a topic the client knows does not exist).
                        # What was produced before it may still arrive: the input is
                        # replayed anyway.
                        done.cancel()
                        raise StreamingError(
                            f"record not accepted for {out.topic}: {exc.args[0]}",
                            reason="produce_failed",
                        ) from None
        await done

    async def write_ahead(self, outs: Sequence[Out]) -> None:
        """Produce write-ahead audit records and return once every one is acknowledged.

        Raises:
            AuditError: the broker did not acknowledge them (no provider call may happen).
        """
        try:
            await self.send(outs)
        except StreamingError as exc:
            raise AuditError("write-ahead audit failed", reason="wal_failed") from exc

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the delivery thread and flush what is left (a clean worker stop)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        if self._producer is not None:
            left = self._producer.flush(timeout_s)
            if left:
                log.warning("producer closed with %d record(s) unacknowledged", left)
