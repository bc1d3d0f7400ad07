"""Canary: synthetic PHI sent in must never come out where it does not belong.

Prompts carrying unique canary identifiers take every route (de-identified to the provider
without a BAA, raw to the BAA provider, blocked, quarantined, dead-lettered). Afterwards the
raw bytes of every record on every topic of the pipeline, the decoded records, the bodies the
provider without a BAA received, and every log line and byte written to stdout/stderr are
scanned for the canaries. Only the raw prompt topic may hold them in clear.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.audit.canary import scan_archive
from pipeline.audit.storage import LocalDirectoryStorage
from pipeline.serde import RecordType
from tests.e2e.harness import Pipeline, running_pipeline, settings_env, wait_until

# Unique synthetic identifiers; none of them may appear outside phi.prompts.raw.
CANARY_NAME = "Evander Pallisgrove"
CANARY_SURNAME = "Pallisgrove"
CANARY_MRN = "84736251"
CANARY_PHONE = "617-555-0199"
CANARY_EMAIL = "e.pallisgrove@example.org"
CANARY_SSN = "512-73-4398"
CANARY_DOB = "03/14/1958"
CANARIES = (
    CANARY_NAME,
    CANARY_SURNAME,
    CANARY_MRN,
    CANARY_PHONE,
    CANARY_EMAIL,
    CANARY_SSN,
    CANARY_DOB,
)

FULL = (
    f"Mr. {CANARY_NAME} (MRN: {CANARY_MRN}, DOB {CANARY_DOB}) called from {CANARY_PHONE}; "
    f"reply to {CANARY_EMAIL}. Summarise his follow-up plan."
)


def _leaks(data: bytes | str) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [c for c in CANARIES if c in text]


@pytest.fixture(scope="module", params=["topics", "chained"])
def pipeline(
    request: pytest.FixtureRequest,
    pipeline: Pipeline,
    kafka_bootstrap: str,
    e2e_key_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    """The shared pipeline (stages through their topics), then one whose worker chains
    detect -> deid -> route in memory: the canaries must stay in the raw topic either way."""
    if request.param == "topics":
        yield pipeline
        return
    yield from running_pipeline(
        kafka_bootstrap, e2e_key_file, tmp_path_factory.mktemp("e2e-chained"), chain_stages=True
    )


def test_canary_phi_never_leaves_the_raw_topic(
    pipeline: Pipeline,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    sent = {
        # de-identified, to the provider without a BAA
        "deid": pipeline.send(FULL, tenant="analytics-b"),
        "deid_chat": pipeline.send(
            [
                {"role": "system", "content": "You are a clinical summariser."},
                {"role": "user", "content": FULL},
            ],
            tenant="analytics-b",
            subject_id=CANARY_MRN,
        ),
        # raw, to the BAA provider (its completion echoes the name: sealed on the topic)
        "raw": pipeline.send(f"Mr. {CANARY_NAME} reviewed his plan.", tenant="clinic-a"),
        # blocked (SSN) and quarantined (no eligible provider)
        "blocked": pipeline.send(f"{FULL} SSN {CANARY_SSN}.", tenant="clinic-a"),
        "quarantined": pipeline.send(FULL, tenant="stranded-d"),
    }
    statuses = {k: pipeline.wait(rid)["status"] for k, rid in sent.items()}
    assert statuses == {
        "deid": "ok",
        "deid_chat": "ok",
        "raw": "ok",
        "blocked": "blocked",
        "quarantined": "quarantined",
    }
    # dead-lettered (unknown tenant): no completion, a DLQ record
    lost = pipeline.send(FULL, tenant="no-such-tenant")
    pipeline.dead_letters(lambda d: d["request_id"] == lost, 1)
    for rid in sent.values():
        pipeline.audit(rid, until={"detect"})

    def calls_finished() -> bool:
        stages = [e["stage"] for e in pipeline.records("audit")]
        return stages.count("provider_call_finished") >= 3

    wait_until("the audit of the provider calls", calls_finished)

    # 1. The raw topic holds them (the test would prove nothing otherwise) ...
    raw_topic = pipeline.settings.topics.raw
    assert _leaks(b"".join(m.value() or b"" for m in pipeline.read(raw_topic)))
    # ... and no other topic does, in its bytes (keys and values) or its decoded records.
    checked = 0
    for topic in pipeline.topics():
        if topic == raw_topic:
            continue
        for msg in pipeline.read(topic):
            checked += 1
            assert not _leaks((msg.key() or b"") + b"|" + (msg.value() or b"")), topic
    assert checked > 0
    for role in ("detected", "deidentified", "quarantine", "completions", "audit", "dlq"):
        for record in pipeline.records(role):
            assert not _leaks(repr(record)), role
    for provider in pipeline.runtime.policy.providers:
        for record in pipeline.provider_records(provider.name):
            assert not _leaks(repr(record)), provider.name

    # 2. The provider without a BAA never received any of them.
    public_bodies = [b for b in pipeline.server.bodies() if b.get("model") == "echo-public"]
    assert len(public_bodies) >= 2
    for body in public_bodies:
        assert not _leaks(repr(body))
    # The BAA provider did get the raw prompt: the route was exercised, not skipped.
    assert _leaks(repr(pipeline.server.bodies(sent["raw"])))

    # 3. Nothing in the logs or on stdout/stderr.
    assert caplog.records, "the worker logged nothing at DEBUG: the scan would be vacuous"
    for entry in caplog.records:
        assert not _leaks(entry.getMessage() + (entry.exc_text or "")), entry.name
    out, err = capfd.readouterr()
    assert not _leaks(out + err)

    # 4. The audit archive (what an auditor keeps for six years) holds none of them either,
    #    and it verifies.
    archive, key = tmp_path / "archive", tmp_path / "audit-signing.pem"
    env = {**os.environ, **settings_env(pipeline.settings)}
    cli = [sys.executable, "-m", "pipeline.cli", "audit"]
    subprocess.run([*cli, "keygen", "--private", str(key)], env=env, check=True, timeout=60)
    archived = subprocess.run(
        [
            *cli,
            "archive",
            "--archive-dir",
            str(archive),
            "--signing-key",
            str(key),
            "--stop-at-end",
        ],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    assert not _leaks(archived.stdout + archived.stderr)
    storage = LocalDirectoryStorage(archive)
    assert any(name.endswith(".avro") for name in storage.list())
    assert scan_archive(storage, CANARIES) == []
    verified = subprocess.run(
        [*cli, "verify", str(archive)], env=env, timeout=120, capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout[-2000:]
    assert not _leaks(verified.stdout + verified.stderr)

    # 5. The sealed completion of the raw route still decrypts for a key holder.
    assert CANARY_NAME in pipeline.wait(sent["raw"])["completion"]
    raw_completions = [
        pipeline.runtime.codec.decode(RecordType.COMPLETION, m.value() or b"")
        for m in pipeline.read(pipeline.settings.topics.completions)
        if m.key() == sent["raw"].encode()
    ]
    assert raw_completions[0]["completion"] is None
