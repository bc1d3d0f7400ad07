"""Retries with backoff and jitter, a per-provider concurrency limit and a circuit breaker.

:class:`Resilience` wraps one attempt function (an HTTP exchange) and applies, in order:

1. the circuit breaker: while open, calls fail at once with reason ``circuit_open``;
2. the request-rate limit (``requests_per_minute``, paced evenly) and the concurrency limit (an
   ``asyncio.Semaphore``), held only while an attempt is in flight, not while backing off;
3. retries on :class:`RetryableError` (429, 5xx, timeouts, connection errors): exponential
   backoff with full jitter (``uniform(0, min(max, base * 2**n))``), or exactly the server's
   ``Retry-After`` when it sent one. A ``Retry-After`` longer than ``backoff_max_s`` fails the call
   at once (reason ``retry_after_too_long``) rather than holding a worker for minutes.

Each failed attempt counts towards the breaker; a non-retryable error (4xx other than 429, a
malformed response) does not, since it says nothing about the provider's health.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

from pipeline.errors import ProviderError

if TYPE_CHECKING:
    from pipeline.providers.base import AdapterConfig

log = logging.getLogger("pipeline.providers")

T = TypeVar("T")


class RetryableError(ProviderError):
    """One attempt failed in a way worth retrying.

    Attributes:
        retry_after_s: the server's ``Retry-After`` in seconds, if it sent one.
    """

    reason = "retryable"

    def __init__(self, message: str, *, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after_s = retry_after_s


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delay-seconds or an HTTP-date.

    Args:
        value: the header value.
        now: the current time for HTTP-dates (defaults to the wall clock).

    Returns:
        Seconds to wait (never negative), or ``None`` if absent or unparseable.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN check
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times and how long to retry."""

    max_retries: int = 3
    base_s: float = 0.2
    max_s: float = 10.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Return the full-jitter delay before retry number ``retry`` (0-based)."""
        ceiling = min(self.max_s, self.base_s * (2**retry))
        return rng.uniform(0.0, ceiling)


class BreakerState(enum.Enum):
    """Circuit breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """A closed / open / half-open circuit breaker.

    Closed -> open after ``failure_threshold`` consecutive failures; half-open after
    ``reset_timeout_s``, when one probe call is let through; its success closes the breaker,
    its failure re-opens it.

    Args:
        failure_threshold: consecutive failures that open the breaker.
        reset_timeout_s: time the breaker stays open.
        clock: monotonic clock (injectable so tests need not sleep).
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = max(1, failure_threshold)
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The current state (moves from open to half-open once the timeout has passed)."""
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.reset_timeout_s
        ):
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = False
        return self._state

    def before_call(self, provider: str) -> None:
        """Admit a call or raise.

        Raises:
            ProviderError: reason ``circuit_open`` while open, or while half-open with the
                probe already in flight.
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return
        raise ProviderError(f"provider {provider}: circuit open", reason="circuit_open")

    def record_success(self) -> None:
        """A call succeeded: close the breaker."""
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_in_flight = False

    def record_failure(self) -> None:
        """A call failed: count it, and open the breaker at the threshold or after a probe."""
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            if self._state is not BreakerState.OPEN:
                log.warning("circuit breaker opened after %d failures", self._failures)
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()
            self._probe_in_flight = False

    def release_probe(self) -> None:
        """A half-open probe ended without a verdict on health (non-retryable error)."""
        self._probe_in_flight = False


class RequestRateLimiter:
    """Paces attempts to at most ``per_minute`` per minute (a GCRA / virtual-scheduling limiter).

    Each caller reserves the next slot before it sleeps, so concurrent callers queue in order
    and nobody spins. ``burst`` slots may be used back to back after an idle period.

    Args:
        per_minute: the request budget per minute.
        burst: requests allowed at once after idling.
        clock: monotonic clock (injectable).
        sleep: the sleep coroutine (injectable).
    """

    def __init__(
        self,
        per_minute: int,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval_s = 60.0 / max(1, per_minute)
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._tat: float | None = None  # theoretical arrival time of the next request

    def reserve(self) -> float:
        """Reserve the next slot; return how long to wait for it (0 when free now)."""
        now = self._clock()
        tat = now if self._tat is None else max(self._tat, now)
        wait = tat - (self.burst - 1) * self.interval_s - now
        self._tat = tat + self.interval_s
        return max(0.0, wait)

    async def acquire(self) -> None:
        """Wait for this caller's slot."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)


class Resilience:
    """Retry + concurrency limit + circuit breaker around one provider's attempts.

    Args:
        provider: provider name (for error messages).
        retry: retry policy.
        max_concurrency: attempts in flight at once.
        breaker: the circuit breaker (a fresh one by default).
        sleep: the sleep coroutine (injectable for tests).
        rng: randomness for jitter.
        rate_limiter: paces attempts (``requests_per_minute``), none by default.
    """

    def __init__(
        self,
        provider: str,
        retry: RetryPolicy,
        max_concurrency: int = 8,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        rate_limiter: RequestRateLimiter | None = None,
    ) -> None:
        self.provider = provider
        self.rate_limiter = rate_limiter
        self.retry = retry
        self.breaker = breaker or CircuitBreaker()
        self._semaphore = asyncio.Semaphore(max(1, max_concurrency))
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    @classmethod
    def for_adapter(
        cls,
        config: AdapterConfig,
        *,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> Resilience:
        """The resilience an adapter's ``config`` asks for (retries, limits, breaker, pacing)."""
        return cls(
            config.name,
            RetryPolicy(config.max_retries, config.backoff_base_s, config.backoff_max_s),
            max_concurrency=config.max_concurrency,
            breaker=breaker or CircuitBreaker(config.breaker_failures, config.breaker_reset_s),
            sleep=sleep,
            rng=rng,
            rate_limiter=(
                RequestRateLimiter(config.requests_per_minute, sleep=sleep)
                if config.requests_per_minute
                else None
            ),
        )

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        """Run ``attempt`` with retries; return its result and the number of attempts made.

        Raises:
            ProviderError: the breaker is open, the error is not retryable, or retries ran out
                (the reason of the last failure, e.g. ``rate_limited``, ``http_5xx``,
                ``timeout``).
        """
        retries = 0
        while True:
            self.breaker.before_call(self.provider)
            try:
                if self.rate_limiter is not None:
                    await self.rate_limiter.acquire()
                async with self._semaphore:
                    result = await attempt()
            except RetryableError as exc:
                self.breaker.record_failure()
                if retries >= self.retry.max_retries:
                    raise ProviderError(
                        f"provider {self.provider}: {exc.reason} after {retries + 1} attempts",
                        reason=exc.reason,
                    ) from exc
                delay = self._delay(exc, retries)
                log.info(
                    "provider %s attempt %d failed (%s); retrying in %.3fs",
                    self.provider,
                    retries + 1,
                    exc.reason,
                    delay,
                )
                retries += 1
                await self._sleep(delay)
                continue
            except BaseException:
                # Non-retryable (a 4xx, a malformed body, cancellation): not a health verdict.
                self.breaker.release_probe()
                raise
            self.breaker.record_success()
            return result, retries + 1

    def _delay(self, exc: RetryableError, retries: int) -> float:
        if exc.retry_after_s is None:
            return self.retry.backoff(retries, self._rng)
        if exc.retry_after_s > self.retry.max_s:
            raise ProviderError(
                f"provider {self.provider}: Retry-After {exc.retry_after_s:.0f}s exceeds "
                f"backoff_max_s",
                reason="retry_after_too_long",
            ) from exc
        return exc.retry_after_s
