"""Idempotence by request id: a record delivered twice never yields a second completion.

At-least-once delivery means any stage may see a record again (a replay after a crash, a
producer retry, a client that re-sends). Here the redelivery is made explicit: records
already processed are produced again, byte for byte, onto the topic they came from, and
the same prompt is published twice. Every request must still have exactly one completion,
and a redelivered provider request must not call the provider again.
"""

from __future__ import annotations

from tests.e2e.harness import PUBLIC, Pipeline, wait_until


def _redeliver(pipe: Pipeline, topic: str, request_id: str) -> None:
    """Produce the record of ``request_id`` on ``topic`` once more, unchanged."""
    copies = [m for m in pipe.read(topic) if request_id.encode() in (m.value() or b"")]
    assert len(copies) == 1
    producer = pipe.raw_producer()
    producer.produce(topic, key=copies[0].key(), value=copies[0].value())
    assert producer.flush(30) == 0


def test_redelivered_records_do_not_duplicate_completions(pipeline: Pipeline) -> None:
    t = pipeline.settings.topics
    ok = pipeline.send("Summarise the attached discharge guideline.", tenant="analytics-b")
    blocked = pipeline.send("Card for SSN 512-73-4398 please.", tenant="clinic-a")
    stranded = pipeline.send("Summarise the attached guideline.", tenant="stranded-d")
    statuses = {rid: pipeline.wait(rid)["status"] for rid in (ok, blocked, stranded)}
    assert statuses == {ok: "ok", blocked: "blocked", stranded: "quarantined"}

    _redeliver(pipeline, pipeline.runtime.provider_topic(PUBLIC), ok)
    _redeliver(pipeline, t.deidentified, ok)
    _redeliver(pipeline, t.detected, blocked)
    _redeliver(pipeline, t.detected, stranded)
    # A client re-sending the same request id.
    again = pipeline.producer.send(
        "Summarise the attached discharge guideline.", tenant="analytics-b", request_id=ok
    )
    assert again == ok
    pipeline.producer.flush()
    # One more prompt behind the copies; once it is answered and every input topic is
    # committed to its end, the copies have been handled.
    last = pipeline.send("Summarise the ward rota.", tenant="analytics-b")
    assert pipeline.wait(last)["status"] == "ok"
    wait_until("every input topic committed", pipeline.drained, 60.0)

    counts = pipeline.completion_counts()
    assert {rid: counts.get(rid, 0) for rid in (ok, blocked, stranded)} == {
        ok: 1,
        blocked: 1,
        stranded: 1,
    }
    assert pipeline.server.attempts(ok) == 1
