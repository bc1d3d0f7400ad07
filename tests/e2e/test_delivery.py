"""Delivery: a worker SIGKILLed mid-stream and restarted loses no prompt and duplicates no
completion.

The worker is a real subprocess (``python -m pipeline.cli worker``). The provider answers
slowly and the worker takes small batches, so completions trickle out; once some (not all)
are on the topic the whole process group gets SIGKILL: no shutdown hook, no producer flush,
no offset commit. A second worker with the same app id (consumer group) takes over. After it
has committed every input topic to its end, the completions topic must hold exactly one
completion per prompt. Provider calls may repeat (at-least-once); completions may not.

Most of this test's time is the second worker waiting in JoinGroup for the dead member's
session to expire (Faust's default ``broker_session_timeout`` is 60 s).
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Pipeline, SubprocessWorker, running_pipeline, wait_until

N = 40
LATENCY_MS = 400
CANARY_NAME = "Octavia Brimblecombe"
CANARY_PHONE = "617-555-0162"


def _worker_less_pipeline(
    kafka_bootstrap: str, e2e_key_file: Path, workdir: Path, **settings_kw: float | bool | str
) -> Iterator[Pipeline]:
    """A pipeline with small batches whose (subprocess) workers each test starts itself."""
    yield from running_pipeline(
        kafka_bootstrap, e2e_key_file, workdir, in_process=False, batch_size=4, **settings_kw
    )


@pytest.fixture(
    scope="module",
    params=[(False, "thread"), (True, "thread"), (True, "process")],
    ids=["topics", "chained", "chained-stage-process"],
)
def slow(
    request: pytest.FixtureRequest,
    kafka_bootstrap: str,
    e2e_key_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    """A pipeline with no worker yet, small batches and a slow provider; its stages pass
    records through their topics, or (``chained``) detect -> deid -> route in memory, also
    with those stages in a child process of the worker (the SIGKILL hits its group)."""
    for pipe in _worker_less_pipeline(
        kafka_bootstrap,
        e2e_key_file,
        tmp_path_factory.mktemp("e2e-delivery"),
        timeout_s=10.0,
        chain_stages=request.param[0],
        stage_executor=request.param[1],
    ):
        pipe.server.set_latency(LATENCY_MS)
        yield pipe


def _completion_keys(pipe: Pipeline) -> list[str]:
    return [(m.key() or b"").decode() for m in pipe.read(pipe.settings.topics.completions)]


def test_sigkill_mid_stream_loses_nothing_and_duplicates_no_completion(
    slow: Pipeline, tmp_path: Path
) -> None:
    log_file = tmp_path / "worker.log"
    first = SubprocessWorker(slow.settings, log_file).start()
    slow.worker = first
    ids, expected = [], {}
    for i in range(N):
        # raw (BAA), de-identified (no BAA) and blocked (answered by the deid stage) routes
        tenant = "clinic-a" if i % 4 == 0 else "analytics-b"
        prompt = f"Mr. {CANARY_NAME} (call {CANARY_PHONE}) asks about follow-up {i}."
        if i % 8 == 1:
            tenant, prompt = "clinic-a", f"{prompt} SSN 512-73-{4000 + i}."
        rid = slow.producer.send(prompt, tenant=tenant, request_id=str(uuid.uuid4()))
        ids.append(rid)
        expected[rid] = "blocked" if i % 8 == 1 else "ok"
    slow.producer.flush()

    wait_until("the first completions", lambda: len(_completion_keys(slow)) >= N // 5, 120.0)
    first.kill()
    done_at_kill = len(_completion_keys(slow))
    assert 0 < done_at_kill < N, "the kill must land mid-stream for this test to mean anything"

    second = SubprocessWorker(slow.settings, log_file).start()
    slow.worker = second
    wait_until("every prompt answered", lambda: set(ids) <= set(_completion_keys(slow)), 180.0)
    wait_until("every input topic committed to its end", slow.drained, 60.0)

    counts = slow.completion_counts()
    assert set(counts) == set(ids), "no completion lost, none invented"
    duplicated = {rid: n for rid, n in counts.items() if n != 1}
    assert not duplicated, f"{len(duplicated)} request ids have more than one completion"
    assert {rid: slow.wait(rid)["status"] for rid in ids} == expected
    # Calls are at-least-once: the server may have seen a request twice, never zero times.
    called = {rid for rid, status in expected.items() if status == "ok"}
    assert all(slow.server.attempts(rid) >= 1 for rid in called)
    assert not [rid for rid in set(ids) - called if slow.server.attempts(rid)]
    started = [e for e in slow.records("audit") if e["stage"] == "provider_call_started"]
    assert {e["request_id"] for e in started} == called
    # Write-ahead held through the crash: every HTTP call, the killed worker's included, has
    # its own provider_call_started (no retries here: one call is one HTTP request).
    for rid in called:
        calls = slow.server.attempts(rid)
        assert sum(1 for e in started if e["request_id"] == rid) >= calls
    # The worker's own output (both runs) never held the synthetic PHI.
    logged = log_file.read_text(encoding="utf-8", errors="replace")
    assert logged.count("worker starting") == 2  # both runs logged (the scan is not vacuous)
    # The default event loop choice ("auto") runs the worker on uvloop where it is installed.
    loop_kind = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    assert logged.count(f"loop={loop_kind}") == 2
    assert CANARY_NAME not in logged
    assert CANARY_PHONE not in logged
    # Chained, the records between detect, deid and route never touch a topic.
    chained = slow.settings.streaming.chain_stages
    assert ("chained stages: deid_handoff, route_handoff" in logged) is chained
    t = slow.settings.topics
    assert bool(slow.read(t.detected)) is not chained
    assert bool(slow.read(t.deidentified)) is not chained


@pytest.fixture
def short_delivery(
    kafka_bootstrap: str, e2e_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """A pipeline with no worker yet whose outputs give up after 8 s unacknowledged."""
    yield from _worker_less_pipeline(
        kafka_bootstrap,
        e2e_key_file,
        tmp_path_factory.mktemp("e2e-undeliverable"),
        delivery_timeout_s=8.0,
    )


def test_undeliverable_outputs_stop_the_worker_and_the_restart_loses_nothing(
    short_delivery: Pipeline, tmp_path: Path
) -> None:
    from pipeline.kafka.admin import delete_topics

    pipe = short_delivery
    log_file = tmp_path / "worker.log"
    first = SubprocessWorker(pipe.settings, log_file).start()
    pipe.worker = first
    before = pipe.send(f"Mr. {CANARY_NAME} asks about his appointment.", tenant="analytics-b")
    assert pipe.wait(before, timeout_s=90)["status"] == "ok"

    # The audit topic, which every stage writes and none reads, disappears (no auto-creation
    # on this broker): the next prompt's first audit event cannot be delivered.
    delete_topics(pipe.settings.kafka, [pipe.settings.topics.audit], timeout_s=20.0)
    during = pipe.send(f"Call {CANARY_PHONE} for Mr. {CANARY_NAME}.", tenant="analytics-b")
    assert first.proc is not None
    wait_until("the worker to stop", lambda: first.proc.poll() is not None or None, 90.0)
    assert first.proc.returncode == 1, "a worker that cannot deliver exits with an error"

    # Restarted (it creates missing topics at start-up): the prompt is replayed, not lost.
    second = SubprocessWorker(pipe.settings, log_file).start()
    pipe.worker = second
    assert pipe.wait(during, timeout_s=120)["status"] == "ok"
    wait_until("every input topic committed to its end", pipe.drained, 60.0)
    assert pipe.completion_counts() == {before: 1, during: 1}
    logged = log_file.read_text(encoding="utf-8", errors="replace")
    assert "outputs not acknowledged (produce_failed); stopping the worker" in logged
    assert CANARY_NAME not in logged
    assert CANARY_PHONE not in logged
