"""``audit trace``: the lineage of one request across stages, in time order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.audit.replay import jsonable
from pipeline.audit.sources import AuditItem

#: Pipeline order of the known stages: ties on the timestamp are broken by it.
STAGE_ORDER = (
    "ingest",
    "detect",
    "deid",
    "route",
    "quarantine",
    "provider_call_started",
    "provider_call_finished",
    "completion",
    "reidentify",
    "dlq",
)

_COLUMNS = (
    ("time", 24),
    ("stage", 23),
    ("status", 12),
    ("provider", 10),
    ("decision", 20),
    ("latency_ms", 10),
)


def lineage(items: Iterable[AuditItem]) -> list[AuditItem]:
    """Return the items sorted by event time, then pipeline stage order, then position."""
    rank = {stage: i for i, stage in enumerate(STAGE_ORDER)}

    def key(item: AuditItem) -> tuple[int, int, int, int]:
        stage = str(item.event.get("stage"))
        return (item.timestamp_ms, rank.get(stage, len(rank)), item.partition, item.offset)

    return sorted(items, key=key)


def render_table(items: list[AuditItem]) -> str:
    """Return a fixed-width table of a lineage (metadata columns only)."""
    lines = ["  ".join(name.ljust(width) for name, width in _COLUMNS) + "  categories"]
    for item in items:
        event: dict[str, Any] = jsonable(item.event)
        decision = event.get("policy_decision") or ""
        if event.get("policy_reason"):
            decision = f"{decision}/{event['policy_reason']}"
        cells = [
            str(event.get("timestamp")),
            str(event.get("stage")),
            str(event.get("response_status") or ""),
            str(event.get("api_provider") or ""),
            decision,
            "" if event.get("latency_ms") is None else str(event["latency_ms"]),
        ]
        categories = ",".join(
            f"{k}:{v}" for k, v in sorted(event.get("phi_categories", {}).items())
        )
        row = "  ".join(c.ljust(w) for c, (_, w) in zip(cells, _COLUMNS, strict=True))
        lines.append(f"{row}  {categories}")
    return "\n".join(lines)
