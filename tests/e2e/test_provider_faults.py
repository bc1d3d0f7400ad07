"""Provider 429 / 500 / timeouts: retried, then reported on the completion and in the audit.

Faults are injected into the real loopback server (``fail_next``, ``hang_next``); the shared
pipeline runs with ``providers.max_retries=2`` (3 attempts) and ``timeout_s=1.5``. Each case
targets its own provider name so one case's failures never open another's circuit breaker.
The server's per-request-id count shows every retry.
"""

from __future__ import annotations

import pytest

from tests.e2e.harness import Pipeline

PROMPT = "Summarise the attached discharge guideline."


def _finished(pipe: Pipeline, request_id: str) -> dict[str, object]:
    events = pipe.audit(request_id, until={"provider_call_started", "provider_call_finished"})
    (finished,) = [e for e in events if e["stage"] == "provider_call_finished"]
    return finished


@pytest.mark.parametrize(
    ("provider", "status", "retry_after"),
    [("retry-429", 429, "0"), ("retry-500", 500, None)],
)
def test_transient_errors_are_retried_until_the_call_succeeds(
    pipeline: Pipeline, provider: str, status: int, retry_after: str | None
) -> None:
    attempts = pipeline.settings.providers.max_retries + 1
    pipeline.server.fail_next(attempts - 1, status, retry_after)
    rid = pipeline.send(PROMPT, tenant="ops-e", provider=provider)
    completion = pipeline.wait(rid)

    assert completion["status"] == "ok"
    assert completion["provider"] == provider
    assert pipeline.server.attempts(rid) == attempts
    finished = _finished(pipeline, rid)
    assert finished["response_status"] == "ok"
    assert finished["detail"] == {"attempts": str(attempts)}


@pytest.mark.parametrize(
    ("provider", "fault", "reason"),
    [
        ("retry-429", "429", "rate_limited"),
        ("retry-500", "500", "http_5xx"),
        ("retry-timeout", "hang", "timeout"),
    ],
)
def test_persistent_errors_are_reported_after_the_retries(
    pipeline: Pipeline, provider: str, fault: str, reason: str
) -> None:
    attempts = pipeline.settings.providers.max_retries + 1
    if fault == "hang":
        # Held past the client timeout, every attempt.
        pipeline.server.hang_next(attempts, pipeline.settings.providers.timeout_s * 3)
    else:
        pipeline.server.fail_next(attempts, int(fault), "0" if fault == "429" else None)
    rid = pipeline.send(PROMPT, tenant="ops-e", provider=provider)
    completion = pipeline.wait(rid)

    assert completion["status"] == "error"
    assert completion["error_reason"] == reason
    assert completion["completion"] is None
    assert completion["completion_encrypted"] is None
    assert completion["provider"] == provider
    assert pipeline.server.attempts(rid) == attempts
    finished = _finished(pipeline, rid)
    assert finished["response_status"] == f"error:{reason}"
    assert finished["api_provider"] == provider
    assert finished["input_token_count"] is None
    assert finished["latency_ms"] is not None
    # A later request to the same provider is not affected (the breaker did not open).
    again = pipeline.send(PROMPT, tenant="ops-e", provider=provider)
    assert pipeline.wait(again)["status"] == "ok"
