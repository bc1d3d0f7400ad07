"""``audit replay`` and ``audit trace`` over an archive: filters, formats, summary, lineage."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.audit.__main__ import main
from pipeline.audit.replay import percentile
from pipeline.audit.sources import EventFilter, parse_time
from pipeline.errors import AuditError

T0 = "2026-01-01T00:00:00Z"


def _stories(event_factory: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """A small, deliberate audit history (times are BASE_TIME + i * 10 ms by index)."""
    specs: list[dict[str, Any]] = [
        # req-A: allowed, sent to openai, ok in 100 ms.
        {"request_id": "req-A", "tenant": "acme", "stage": "ingest", "phi_categories": {}},
        {
            "request_id": "req-A",
            "tenant": "acme",
            "stage": "detect",
            "phi_categories": {"NAME": 2, "SSN": 1},
        },
        {
            "request_id": "req-A",
            "tenant": "acme",
            "stage": "route",
            "api_provider": "openai",
            "policy_decision": "allow_deidentified",
            "phi_categories": {},
        },
        {
            "request_id": "req-A",
            "tenant": "acme",
            "stage": "provider_call_started",
            "api_provider": "openai",
            "phi_categories": {},
        },
        {
            "request_id": "req-A",
            "tenant": "acme",
            "stage": "provider_call_finished",
            "api_provider": "openai",
            "latency_ms": 100,
            "response_status": "ok",
            "phi_categories": {},
        },
        # req-B: blocked by policy and quarantined.
        {
            "request_id": "req-B",
            "tenant": "globex",
            "stage": "detect",
            "phi_categories": {"MRN": 1},
        },
        {
            "request_id": "req-B",
            "tenant": "globex",
            "stage": "route",
            "policy_decision": "block",
            "policy_reason": "no_baa",
            "response_status": "blocked",
            "phi_categories": {},
        },
        {
            "request_id": "req-B",
            "tenant": "globex",
            "stage": "quarantine",
            "response_status": "quarantined",
            "phi_categories": {},
        },
        # req-C: provider error (HTTP 429) at anthropic in 300 ms.
        {
            "request_id": "req-C",
            "tenant": "acme",
            "stage": "provider_call_finished",
            "api_provider": "anthropic",
            "latency_ms": 300,
            "response_status": "http_429",
            "phi_categories": {},
        },
    ]
    events = []
    for i, spec in enumerate(specs):
        base = event_factory(i)
        base.update({"latency_ms": None, "response_status": "ok", "detail": {}})
        base.update(spec)
        events.append(base)
    return events


@pytest.fixture
def story_archive(new_archiver, fast_encode, event_factory, archive_dir: Path) -> Path:
    archiver = new_archiver(max_records=4)
    for i, event in enumerate(_stories(event_factory)):
        # Spread one request's events over partitions, so ordering must merge them.
        archiver.append(i % 2, i // 2, 0, fast_encode(event))
    archiver.seal()
    return archive_dir


def _replay(archive: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["replay", "--archive-dir", str(archive), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_replay_jsonl_in_time_order_with_summary(story_archive: Path, capsys) -> None:
    code, out, err = _replay(story_archive, capsys)
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["stage"] for r in rows][:3] == ["ingest", "detect", "route"]
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    assert rows[0]["timestamp"] == "2026-01-01T00:00:00.000Z"
    assert {"kafka_partition", "kafka_offset", "event_id"} <= set(rows[0])
    assert len(rows) == 9
    assert "events: 9" in err
    assert "per tenant: acme=6, globex=3" in err
    assert "per provider: openai=3, anthropic=1" in err
    assert "NAME=2" in err and "SSN=1" in err and "MRN=1" in err
    assert "blocked requests: 1; quarantined requests: 1" in err
    assert "provider errors: 1" in err
    assert "p50=100 p99=300" in err


def test_replay_filters_and_csv(story_archive: Path, capsys, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    code, out, _ = _replay(
        story_archive,
        capsys,
        "--tenant",
        "acme",
        "--provider",
        "openai",
        "--format",
        "csv",
        "--summary-json",
        str(summary),
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["stage"] for r in rows] == [
        "route",
        "provider_call_started",
        "provider_call_finished",
    ]
    assert json.loads(rows[0]["phi_categories"]) == {}
    data = json.loads(summary.read_text())
    assert data["events"] == 3 and data["per_provider"] == {"openai": 3}

    # Time window: events 5..7 (50 ms .. 70 ms after T0), i.e. req-B's three events.
    code, out, _ = _replay(
        story_archive, capsys, "--from", "2026-01-01T00:00:00.050", "--to", str(parse_time(T0) + 70)
    )
    assert {json.loads(line)["request_id"] for line in out.splitlines()} == {"req-B"}
    assert len(out.splitlines()) == 3


def test_trace_prints_one_request_in_order(story_archive: Path, capsys) -> None:
    assert main(["trace", "req-A", "--archive-dir", str(story_archive)]) == 0
    out = capsys.readouterr().out.splitlines()
    stages = [line.split()[1] for line in out[1:]]
    assert stages == [
        "ingest",
        "detect",
        "route",
        "provider_call_started",
        "provider_call_finished",
    ]
    assert "NAME:2,SSN:1" in out[2]
    assert main(["trace", "req-B", "--archive-dir", str(story_archive), "--format", "jsonl"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["stage"] for r in rows] == ["detect", "route", "quarantine"]
    assert rows[1]["policy_reason"] == "no_baa"
    assert main(["trace", "req-unknown", "--archive-dir", str(story_archive)]) == 1


def test_replay_missing_archive_is_an_error(tmp_path: Path) -> None:
    assert main(["replay", "--archive-dir", str(tmp_path / "absent")]) == 2


def test_parse_time_and_filters() -> None:
    assert parse_time("0") == 0
    assert parse_time("1970-01-01T00:00:01Z") == 1000
    assert parse_time("1970-01-01T00:00:01") == 1000
    assert parse_time("1970-01-01T01:00:01+01:00") == 1000
    with pytest.raises(AuditError):
        parse_time("yesterday")
    flt = EventFilter(from_ms=10, to_ms=20)
    assert flt.time_overlaps(0, 10) and flt.time_overlaps(20, 30) and flt.time_overlaps(None, 1)
    assert not flt.time_overlaps(0, 9) and not flt.time_overlaps(21, 30)


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50,
        99,
        100,
    )
    assert percentile([7], 99) == 7
