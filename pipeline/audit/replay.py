"""``audit replay``: stream audit events as JSON lines or CSV, then summarise them.

Events go to the output (stdout by default); the progress bar and the summary go to stderr,
so ``phi-pipeline audit replay > events.jsonl`` keeps the data clean.
"""

from __future__ import annotations

import csv
import json
import math
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from pipeline.audit.sources import AuditItem

#: Stage names (see ``schemas/audit_event.avsc``) the summary gives a meaning to.
PROVIDER_FINISHED = "provider_call_finished"
QUARANTINE_STAGE = "quarantine"


def jsonable(value: Any) -> Any:
    """Return ``value`` with datetimes as ISO 8601 UTC and UUIDs/bytes as strings."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def item_row(item: AuditItem) -> dict[str, Any]:
    """Return an event as a JSON-ready dict with its Kafka position appended."""
    row = jsonable(item.event)
    row["kafka_partition"] = item.partition
    row["kafka_offset"] = item.offset
    return dict(row)


class EventWriter:
    """Writes events as JSON lines or CSV (maps as JSON text in their column)."""

    def __init__(self, out: TextIO, fmt: str) -> None:
        self._out = out
        self._fmt = fmt
        self._csv: csv.DictWriter[str] | None = None

    def write(self, item: AuditItem) -> None:
        """Write one event."""
        row = item_row(item)
        if self._fmt == "jsonl":
            self._out.write(json.dumps(row, sort_keys=False, separators=(",", ":")) + "\n")
            return
        if self._csv is None:
            # Columns come from the first event; every event has the same schema fields.
            self._csv = csv.DictWriter(self._out, fieldnames=list(row), extrasaction="ignore")
            self._csv.writeheader()
        self._csv.writerow(
            {k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for k, v in row.items()}
        )


def percentile(values: list[int], q: float) -> int | None:
    """Nearest-rank percentile of ``values`` (``None`` when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class ReplaySummary:
    """Aggregates over replayed events (counts and codes only)."""

    events: int = 0
    undecodable: int = 0
    per_tenant: Counter[str] = field(default_factory=Counter)
    per_provider: Counter[str] = field(default_factory=Counter)
    per_category: Counter[str] = field(default_factory=Counter)
    per_stage: Counter[str] = field(default_factory=Counter)
    blocked_requests: set[str] = field(default_factory=set)
    quarantined_requests: set[str] = field(default_factory=set)
    provider_errors: int = 0
    provider_latencies: list[int] = field(default_factory=list)

    def add(self, event: Mapping[str, Any]) -> None:
        """Count one event."""
        self.events += 1
        stage = str(event.get("stage"))
        status = event.get("response_status")
        request_id = str(event.get("request_id"))
        self.per_stage[stage] += 1
        self.per_tenant[str(event.get("tenant"))] += 1
        provider = event.get("api_provider")
        if provider:
            self.per_provider[str(provider)] += 1
        for category, count in (event.get("phi_categories") or {}).items():
            self.per_category[str(category)] += int(count)
        if status == "blocked" or event.get("policy_decision") == "block":
            self.blocked_requests.add(request_id)
        if stage == QUARANTINE_STAGE or status == "quarantined":
            self.quarantined_requests.add(request_id)
        if stage == PROVIDER_FINISHED:
            if status != "ok":
                self.provider_errors += 1
            latency = event.get("latency_ms")
            if isinstance(latency, int):
                self.provider_latencies.append(latency)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready data."""
        return {
            "events": self.events,
            "undecodable": self.undecodable,
            "per_tenant": dict(self.per_tenant.most_common()),
            "per_provider": dict(self.per_provider.most_common()),
            "phi_identifiers_per_category": dict(self.per_category.most_common()),
            "per_stage": dict(self.per_stage.most_common()),
            "blocked_requests": len(self.blocked_requests),
            "quarantined_requests": len(self.quarantined_requests),
            "provider_errors": self.provider_errors,
            "provider_latency_ms": {
                "calls": len(self.provider_latencies),
                "p50": percentile(self.provider_latencies, 50),
                "p99": percentile(self.provider_latencies, 99),
            },
        }

    def render(self) -> str:
        """Return the summary as a few human-readable lines."""
        data = self.as_dict()

        def counts(mapping: dict[str, int]) -> str:
            return ", ".join(f"{k}={v}" for k, v in mapping.items()) or "-"

        lat = data["provider_latency_ms"]
        return "\n".join(
            [
                f"events: {data['events']} (undecodable skipped: {data['undecodable']})",
                f"per tenant: {counts(data['per_tenant'])}",
                f"per provider: {counts(data['per_provider'])}",
                f"PHI identifiers per category: {counts(data['phi_identifiers_per_category'])}",
                f"blocked requests: {data['blocked_requests']}; "
                f"quarantined requests: {data['quarantined_requests']}",
                f"provider errors: {data['provider_errors']}",
                f"provider latency ms: p50={lat['p50']} p99={lat['p99']} "
                f"(over {lat['calls']} calls)",
            ]
        )


def replay(
    items: Iterable[AuditItem], writer: EventWriter | None, summary: ReplaySummary
) -> Iterator[AuditItem]:
    """Write and count each item, passing it on (so a progress bar can wrap the stream)."""
    for item in items:
        if writer is not None:
            writer.write(item)
        summary.add(item.event)
        yield item
