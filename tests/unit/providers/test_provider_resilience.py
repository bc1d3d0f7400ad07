"""Retries, Retry-After, timeouts, circuit breaker and concurrency limit, over real HTTP."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from pipeline.errors import ProviderError
from pipeline.providers import AdapterConfig, ChatRequest, OpenAIChatAdapter
from pipeline.providers.resilience import (
    BreakerState,
    CircuitBreaker,
    RequestRateLimiter,
    RetryPolicy,
    parse_retry_after,
)

REQUEST = ChatRequest.from_prompt("echo-1", "a de-identified prompt")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _config(server, **overrides):
    values = {"name": "local", "endpoint": server.openai_base_url, "backoff_max_s": 5.0}
    values.update(overrides)
    return AdapterConfig(**values)


def _one(server, sleeps, request=REQUEST, **overrides):
    async def go():
        adapter = OpenAIChatAdapter(_config(server, **overrides), sleep=sleeps)
        try:
            return await adapter.complete(request)
        finally:
            await adapter.aclose()

    return asyncio.run(go())


def test_provider_429_with_retry_after_then_success(server, sleeps):
    server.fail_next(2, 429, retry_after="2")
    response = _one(server, sleeps, max_retries=3)
    assert response.attempts == 3
    assert sleeps.delays == [2.0, 2.0]  # the server's Retry-After, not our backoff
    assert server.stats()["requests"] == 3
    # Every attempt carried the same body.
    bodies = [r["body"] for r in server.recorded()]
    assert bodies[0] == bodies[1] == bodies[2]


def test_provider_retry_after_http_date(server, sleeps):
    when = datetime.now(UTC) + timedelta(seconds=3)
    server.fail_next(1, 503, retry_after=format_datetime(when, usegmt=True))
    response = _one(server, sleeps, max_retries=1)
    assert response.attempts == 2
    [delay] = sleeps.delays
    assert 0.0 <= delay <= 3.0


def test_provider_retry_after_longer_than_max_fails_fast(server, sleeps):
    server.fail_next(1, 429, retry_after="3600")
    with pytest.raises(ProviderError) as info:
        _one(server, sleeps, max_retries=5, backoff_max_s=10)
    assert info.value.reason == "retry_after_too_long"
    assert sleeps.delays == []
    assert server.stats()["requests"] == 1


def test_provider_500s_exhaust_retries(server, sleeps):
    server.fail_next(10, 500)
    with pytest.raises(ProviderError) as info:
        _one(server, sleeps, max_retries=3, backoff_base_s=0.1, backoff_max_s=0.3)
    assert info.value.reason == "http_5xx"
    assert "after 4 attempts" in str(info.value)
    assert server.stats()["requests"] == 4
    # Full jitter: each delay within [0, min(max, base * 2**n)].
    ceilings = [0.1, 0.2, 0.3]
    assert len(sleeps.delays) == 3
    assert all(0.0 <= d <= c for d, c in zip(sleeps.delays, ceilings, strict=True))


def test_provider_4xx_is_not_retried(server, sleeps):
    server.fail_next(1, 400)
    with pytest.raises(ProviderError) as info:
        _one(server, sleeps, max_retries=3)
    assert info.value.reason == "http_4xx"
    assert server.stats()["requests"] == 1


def test_provider_timeout(server, sleeps):
    server.hang_next(1, seconds=30)
    with pytest.raises(ProviderError) as info:
        _one(server, sleeps, max_retries=0, timeout_s=0.3)
    assert info.value.reason == "timeout"


def test_provider_timeout_then_retry_succeeds(server, sleeps):
    server.hang_next(1, seconds=30)
    response = _one(server, sleeps, max_retries=1, timeout_s=0.3)
    assert response.attempts == 2
    assert server.stats()["requests"] == 2


def test_provider_connection_refused_is_retried_then_fails(sleeps):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def go():
        config = AdapterConfig(name="gone", endpoint=f"http://127.0.0.1:{port}/v1", max_retries=2)
        adapter = OpenAIChatAdapter(config, sleep=sleeps)
        try:
            return await adapter.complete(REQUEST)
        finally:
            await adapter.aclose()

    with pytest.raises(ProviderError) as info:
        asyncio.run(go())
    assert info.value.reason == "connection_error"
    assert len(sleeps.delays) == 2


def test_provider_circuit_breaker_opens_and_recovers(server, sleeps):
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=30, clock=clock)

    async def go():
        adapter = OpenAIChatAdapter(_config(server, max_retries=0), breaker=breaker, sleep=sleeps)
        try:
            server.fail_next(3, 500)
            for _ in range(3):
                with pytest.raises(ProviderError) as failed:
                    await adapter.complete(REQUEST)
                assert failed.value.reason == "http_5xx"
            assert breaker.state is BreakerState.OPEN
            # Open: fails at once, the server sees nothing.
            with pytest.raises(ProviderError) as rejected:
                await adapter.complete(REQUEST)
            assert rejected.value.reason == "circuit_open"
            assert server.stats()["requests"] == 3

            # After the reset timeout: half-open, one probe goes through; it fails -> open.
            clock.now += 30
            assert breaker.state is BreakerState.HALF_OPEN
            server.fail_next(1, 502)
            with pytest.raises(ProviderError):
                await adapter.complete(REQUEST)
            assert breaker.state is BreakerState.OPEN
            assert server.stats()["requests"] == 4

            # Next half-open probe succeeds -> closed, calls flow again.
            clock.now += 30
            response = await adapter.complete(REQUEST)
            assert response.text.startswith("ECHO")
            assert breaker.state is BreakerState.CLOSED
            await adapter.complete(REQUEST)
            assert server.stats()["requests"] == 6
        finally:
            await adapter.aclose()

    asyncio.run(go())


def test_provider_breaker_half_open_admits_one_probe():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=5, clock=clock)
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 5
    breaker.before_call("p")  # the probe
    with pytest.raises(ProviderError) as info:
        breaker.before_call("p")  # a second caller while the probe is in flight
    assert info.value.reason == "circuit_open"
    breaker.record_success()
    breaker.before_call("p")
    assert breaker.state is BreakerState.CLOSED


def test_provider_breaker_counts_consecutive_failures_only():
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=5, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


@pytest.mark.parametrize(("limit", "calls"), [(2, 8), (1, 4)])
def test_provider_concurrency_limit_respected(server, limit, calls):
    server.set_latency(150)

    async def go():
        adapter = OpenAIChatAdapter(_config(server, max_concurrency=limit))
        try:
            return await asyncio.gather(*(adapter.complete(REQUEST) for _ in range(calls)))
        finally:
            await adapter.aclose()

    responses = asyncio.run(go())
    assert len(responses) == calls
    stats = server.stats()
    assert stats["requests"] == calls
    assert stats["max_in_flight"] == limit


def test_provider_server_measures_unlimited_concurrency(server):
    # Control for the test above: without a tight limit the server does see parallel calls.
    server.set_latency(300)

    async def go():
        adapter = OpenAIChatAdapter(_config(server, max_concurrency=16))
        try:
            return await asyncio.gather(*(adapter.complete(REQUEST) for _ in range(6)))
        finally:
            await adapter.aclose()

    asyncio.run(go())
    assert server.stats()["max_in_flight"] > 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
    ],
)
def test_provider_parse_retry_after(value, expected):
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected


def test_provider_backoff_full_jitter_bounds():
    policy = RetryPolicy(max_retries=10, base_s=0.5, max_s=4.0)
    rng = random.Random(7)
    for retry in range(10):
        ceiling = min(4.0, 0.5 * 2**retry)
        samples = [policy.backoff(retry, rng) for _ in range(50)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1  # jittered, not fixed


def test_provider_rate_limiter_paces_requests():
    clock = FakeClock()
    limiter = RequestRateLimiter(per_minute=60, clock=clock)  # one per second
    assert [limiter.reserve() for _ in range(3)] == [0.0, 1.0, 2.0]
    clock.now += 10  # idle: the next request goes at once again
    assert limiter.reserve() == 0.0


def test_provider_rate_limiter_burst():
    clock = FakeClock()
    limiter = RequestRateLimiter(per_minute=120, burst=2, clock=clock)  # one per 0.5 s
    assert [limiter.reserve() for _ in range(4)] == [0.0, 0.0, 0.5, 1.0]


def test_provider_rate_limit_applied_to_calls(server, sleeps):
    async def go():
        config = _config(server, requests_per_minute=6)  # one per 10 s
        adapter = OpenAIChatAdapter(config, sleep=sleeps)
        try:
            return await asyncio.gather(*(adapter.complete(REQUEST) for _ in range(3)))
        finally:
            await adapter.aclose()

    assert len(asyncio.run(go())) == 3
    # The first goes at once; the others waited for their slots (10 s apart, minus the
    # negligible real time that passed between reservations).
    assert len(sleeps.delays) == 2
    assert 5.0 < sleeps.delays[0] <= 10.0
    assert 15.0 < sleeps.delays[1] <= 20.0
