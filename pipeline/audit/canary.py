"""Canary scans: prove that no PHI reached the audit topic or archive.

A test (or an operator drill) sends prompts containing known synthetic PHI strings through the
pipeline, then scans every audit record, on the topic and in the archive, for those strings:
as raw bytes (catches text in any field, map key or metadata) and, for archived events, in
every decoded string value and map key (catches a compressed segment too). A hit names where
it was found and the index of the canary, never the canary text itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.audit.layout import parse_name
from pipeline.audit.segment import read_segment
from pipeline.audit.storage import ArchiveStorage


@dataclass(frozen=True)
class CanaryHit:
    """Where a canary was found.

    Attributes:
        where: object name or ``topic``.
        index: record index (in the segment, or in the scanned value sequence), if any.
        field: the event field, for decoded scans.
        canary: index of the canary in the list scanned for.
    """

    where: str
    index: int | None
    field: str | None
    canary: int


def _encoded(canaries: Sequence[str]) -> list[bytes]:
    return [c.lower().encode() for c in canaries]


def scan_values(values: Iterable[bytes | None], canaries: Sequence[str]) -> list[CanaryHit]:
    """Scan raw message values (e.g. everything read from ``phi.audit``), case-insensitively."""
    needles = _encoded(canaries)
    hits: list[CanaryHit] = []
    for index, value in enumerate(values):
        low = (value or b"").lower()
        hits.extend(CanaryHit("topic", index, None, i) for i, n in enumerate(needles) if n in low)
    return hits


def _strings(value: Any, path: str) -> Iterable[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield path, str(key)
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item, path)


def scan_archive(storage: ArchiveStorage, canaries: Sequence[str]) -> list[CanaryHit]:
    """Scan every object of an archive as bytes, and every archived event's strings."""
    needles = _encoded(canaries)
    lowered = [c.lower() for c in canaries]
    hits: list[CanaryHit] = []
    for name in storage.list():
        data = storage.read(name)
        low = data.lower()
        hits.extend(CanaryHit(name, None, None, i) for i, n in enumerate(needles) if n in low)
        ref = parse_name(name)
        if ref is None or ref.is_manifest:
            continue
        for index, record in enumerate(read_segment(data).records):
            for path, text in _strings(record.get("event") or {}, "event"):
                folded = text.lower()
                hits.extend(
                    CanaryHit(name, index, path, i) for i, c in enumerate(lowered) if c in folded
                )
    return hits
