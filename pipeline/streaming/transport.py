"""Faust's aiokafka transport, with the worker consumer's fetch batching configurable.

Faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` and aiokafka's default
``fetch_min_bytes=1``, and exposes neither: the broker answers a fetch as soon as one record
is there. At a few dozen records a second per worker that is one fetch round trip per record,
each paid three times: aiokafka's protocol code in Faust's consumer thread, Faust's hand-over
of the records to the event loop, and the broker's request handling, all on the same two
cores as the stages.

With ``PHI_STREAMING__FETCH_MIN_BYTES`` (a few records' worth) and
``PHI_STREAMING__FETCH_MAX_WAIT_MS`` the broker holds a fetch until that many bytes are there
or the wait is over, so one round trip carries several records; the wait bounds what a record
can lose at each hop. An idle worker then polls every ``fetch_max_wait_ms`` instead of every
1.5 s. Measured in the README (End-to-end benchmark).

Only the worker consumer (the one that reads the stages' input) changes; everything else is
Faust's.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        fetch = getattr(self.app, "fetch_batching", None)
        if fetch is not None:
            # aiokafka hands both to the Fetcher it builds in start(), which has not run yet.
            consumer._fetch_min_bytes, consumer._fetch_max_wait_ms = fetch
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport whose worker consumer batches fetches as its app says."""

    Consumer = _Consumer


class App(faust.App):
    """A Faust app whose worker consumer waits for ``fetch_min_bytes`` per fetch.

    Args:
        fetch_min_bytes: the least data the broker gathers before it answers a fetch.
        fetch_max_wait_ms: the longest it holds a fetch to gather them.
        *args, **kwargs: as for :class:`faust.App`.
    """

    def __init__(
        self, *args: Any, fetch_min_bytes: int = 1, fetch_max_wait_ms: int = 1500, **kwargs: Any
    ) -> None:
        if fetch_min_bytes < 1 or fetch_max_wait_ms < 0:
            raise ValueError("fetch_min_bytes must be >= 1 and fetch_max_wait_ms >= 0")
        #: (fetch_min_bytes, fetch_max_wait_ms) for the worker consumer.
        self.fetch_batching = (fetch_min_bytes, fetch_max_wait_ms)
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return Transport(self.conf.broker_consumer, self)
