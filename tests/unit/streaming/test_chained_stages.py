"""Chained stages (PHI_STREAMING__CHAIN_STAGES): detect -> deid -> route in memory.

A chained worker must produce what the same stages produce through their topics, minus the
intermediate records, and keep every safety property: fail closed, dead letters naming the
consumed record, nothing with PHI on a topic without encryption.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from pipeline.errors import StreamingError
from pipeline.serde import RecordType
from pipeline.streaming.records import Origin, Out
from pipeline.streaming.runtime import Runtime
from pipeline.streaming.stages import (
    chained_stages,
    deid_record,
    detect_batch,
    follow_chain,
    route_record,
)
from tests.unit.streaming.test_streaming_stages import (
    NAME,
    ORIGIN,
    SSN,
    _Failing,
    by_topic,
    decode,
    prompt,
)
from tests.unit.streaming.test_streaming_stages import rt as rt  # the module fixture

ALL = ("detect", "deid", "route")


def chained(rt: Runtime, stages: Sequence[str] = ALL) -> tuple[Runtime, dict[str, Any]]:
    links = chained_stages(stages, rt.settings.topics)
    return dataclasses.replace(rt, chained=frozenset(links)), links


def through_topics(rt: Runtime, value: bytes) -> list[Out]:
    """What the three stages produce when each reads the topic the one before wrote."""
    t = rt.settings.topics
    produced: list[Out] = []
    pending = detect_batch(rt, [(value, ORIGIN)])[0]
    while pending:
        out = pending.pop(0)
        produced.append(out)
        if out.topic == t.detected:
            pending += deid_record(rt, out.value, ORIGIN)
        elif out.topic == t.deidentified:
            pending += route_record(rt, out.value, ORIGIN)
    return produced


def in_memory(rt: Runtime, value: bytes, stages: Sequence[str] = ALL) -> list[Out]:
    crt, links = chained(rt, stages)
    (outs,) = detect_batch(crt, [(value, ORIGIN)])
    return follow_chain(crt, outs, links, ORIGIN)


def test_only_adjacent_stages_of_one_worker_chain(rt: Runtime) -> None:
    t = rt.settings.topics
    assert set(chained_stages(ALL, t)) == {t.detected, t.deidentified}
    assert set(chained_stages(("detect", "deid"), t)) == {t.detected}
    assert set(chained_stages(("deid", "route", "provider"), t)) == {t.deidentified}
    assert chained_stages(("detect", "route"), t) == {}  # not adjacent: deid runs elsewhere
    assert chained_stages(("provider",), t) == {}


@pytest.mark.parametrize(
    ("text", "tenant", "outcome"),
    [
        (f"Mr. {NAME} (phone 617-555-0143) asks about 03/04/2024.", "analytics", "public"),
        (f"Mr. {NAME} reviewed his plan.", "clinic", "baa"),  # allow_raw to the BAA provider
        (f"Mr. {NAME} SSN {SSN}.", "clinic", "blocked"),
    ],
)
def test_chained_stages_produce_what_the_topics_would_minus_the_intermediates(
    rt: Runtime, text: str, tenant: str, outcome: str
) -> None:
    t = rt.settings.topics
    value = prompt(rt, text, tenant=tenant)
    apart = through_topics(rt, value)
    together = in_memory(rt, value)
    intermediate = {t.detected, t.deidentified}
    assert [o.topic for o in together] == [o.topic for o in apart if o.topic not in intermediate]
    assert all(o.handoff is None and o.value for o in together)

    # The audit trail tells the same story, stage by stage.
    def audit(outs: list[Out]) -> list[dict[str, Any]]:
        return [
            {
                k: e[k]
                for k in ("stage", "phi_categories", "policy_decision", "policy_reason")
                if k in e
            }
            for e in (decode(rt, o, RecordType.AUDIT_EVENT) for o in by_topic(outs, t.audit))
        ]

    assert audit(together) == audit(apart)
    if outcome == "blocked":
        (answer,) = by_topic(together, t.completions)
        assert decode(rt, answer, RecordType.COMPLETION)["status"] == "blocked"
        assert not [o for o in together if o.topic.startswith(t.provider_prefix)]
        return
    (request,) = by_topic(together, rt.provider_topic(outcome))
    (reference,) = by_topic(apart, rt.provider_topic(outcome))
    mine = decode(rt, request, RecordType.PROVIDER_REQUEST)
    theirs = decode(rt, reference, RecordType.PROVIDER_REQUEST)
    for key in ("raw_allowed", "phi_categories", "policy_decision", "provider", "model"):
        assert mine[key] == theirs[key]
    # Still sealed on the provider topic, and de-identified the same way (same scope, keys).
    from pipeline.streaming.records import open_messages

    def opened(record: dict[str, Any]) -> list[dict[str, str]]:
        return open_messages(rt.keyring, record["request_id"], "provider", record["messages"])

    assert opened(mine)[0]["content"].replace(str(mine["request_id"]), "") == opened(theirs)[0][
        "content"
    ].replace(str(theirs["request_id"]), "")
    raw = outcome == "baa"
    assert (NAME in opened(mine)[0]["content"]) is raw
    for out in together:
        assert NAME.encode() not in out.value


def test_a_failing_chained_deidentifier_fails_closed_naming_the_consumed_record(
    rt: Runtime,
) -> None:
    broken = dataclasses.replace(rt, deidentifier=_Failing())
    consumed = Origin(rt.settings.topics.raw, 2, 41)
    crt, links = chained(broken)
    (outs,) = detect_batch(crt, [(prompt(rt, f"Mr. {NAME} asks.", tenant="analytics"), consumed)])
    outs = follow_chain(crt, outs, links, consumed)
    t = rt.settings.topics
    assert {o.topic for o in outs} <= {t.dlq, t.audit}
    (letter,) = by_topic(outs, t.dlq)
    dead = decode(rt, letter, RecordType.DEAD_LETTER)
    assert (dead["stage"], dead["source_topic"], dead["source_offset"]) == ("deid", t.raw, 41)
    assert all(NAME.encode() not in o.value for o in outs)


def test_a_chain_that_disagrees_with_the_runtime_stops_before_producing(rt: Runtime) -> None:
    value = prompt(rt, f"Mr. {NAME} asks.", tenant="analytics")
    crt, _ = chained(rt)
    (outs,) = detect_batch(crt, [(value, ORIGIN)])
    with pytest.raises(StreamingError):
        follow_chain(crt, outs, {}, ORIGIN)  # an in-memory record with no stage to take it
    (encoded,) = detect_batch(rt, [(value, ORIGIN)])
    with pytest.raises(StreamingError):
        follow_chain(rt, encoded, chained(rt)[1], ORIGIN)  # encoded record for a chained stage


def test_a_partial_chain_writes_the_topic_the_next_process_reads(rt: Runtime) -> None:
    # detect + deid in this worker, route elsewhere: the de-identified topic is written.
    t = rt.settings.topics
    outs = in_memory(rt, prompt(rt, f"Mr. {NAME} asks.", tenant="analytics"), ("detect", "deid"))
    (deid,) = by_topic(outs, t.deidentified)
    record = decode(rt, deid, RecordType.DEIDENTIFIED_PROMPT)
    assert NAME not in record["messages"][0]["content"]
    assert not by_topic(outs, t.detected)
