"""Recompute the hash chain over the records of one segment.

Shared by ``audit verify`` and by the archiver's crash recovery (which re-derives the manifest
of a segment that was published just before a crash, before its manifest was).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.audit.chain import (
    KIND_EVENT,
    KIND_UNDECODABLE,
    canonical_bytes,
    map_fields,
    normalise,
    record_hash,
)
from pipeline.audit.segment import parse_event_schema, split_envelope
from pipeline.errors import AuditError


@dataclass(frozen=True)
class RecordProblem:
    """A record whose chain does not hold.

    Attributes:
        index: 0-based position of the record in its segment.
        offset: the Kafka offset the record claims (``None`` if unreadable).
        code: a short problem code.
        detail: a PHI-free explanation.
    """

    index: int
    offset: int | None
    code: str
    detail: str


@dataclass(frozen=True)
class ChainResult:
    """Outcome of :func:`check_chain`.

    Attributes:
        problems: every record-level problem found, in file order.
        tail_hash: the last record's stored hash (or ``prev_hash`` for an empty list).
        head_hash: the first record's stored hash (or empty bytes).
    """

    problems: list[RecordProblem]
    tail_hash: bytes
    head_hash: bytes


@functools.lru_cache(maxsize=16)
def _parsed(schema_text: str) -> tuple[Any, tuple[str, ...]]:
    schema = json.loads(schema_text)
    return parse_event_schema(schema), map_fields(schema)


def event_encoder(event_schema: dict[str, Any]) -> tuple[Any, tuple[str, ...]]:
    """Return ``(parsed schema, map fields)`` for an event schema (JSON), parsed once."""
    return _parsed(json.dumps(event_schema, sort_keys=True))


def event_body(encoder: tuple[Any, tuple[str, ...]], record: dict[str, Any]) -> tuple[bytes, bytes]:
    """Return ``(kind, body)`` of an envelope for hashing.

    Args:
        encoder: from :func:`event_encoder` over the segment file's own event schema.
        record: the envelope.

    Raises:
        AuditError: the event does not re-encode under its schema.
    """
    event = record.get("event")
    if event is None:
        return KIND_UNDECODABLE, str(record.get("error_reason") or "").encode()
    parsed, maps = encoder
    return KIND_EVENT, canonical_bytes(parsed, normalise(event, maps))


def check_chain(
    records: Sequence[dict[str, Any]],
    raw: Sequence[bytes],
    *,
    partition: int,
    prev_hash: bytes,
    prev_offset: int,
) -> ChainResult:
    """Recompute every record's hash from its content and its predecessor's stored hash.

    After a mismatch the check continues from the *stored* hash, so one altered record is
    reported once rather than making every later record look altered; a deleted record shows
    at its successor, an inserted or reordered one at itself and at the record after it.

    Args:
        records: the segment's decoded envelopes in file order.
        raw: each record's exact encoded bytes (``SegmentRead.raw``); the hash is over these.
        partition: the partition the segment belongs to.
        prev_hash: the hash the first record must chain from.
        prev_offset: the offset the first record must exceed.
    """
    problems: list[RecordProblem] = []
    prev = prev_hash
    head = b""
    for index, record in enumerate(records):
        offset = record.get("offset")
        stored = record.get("record_hash")
        if not isinstance(offset, int) or not isinstance(stored, bytes):
            problems.append(RecordProblem(index, None, "bad_record", "envelope fields missing"))
            continue
        if index == 0:
            head = stored
        if record.get("partition") != partition:
            problems.append(
                RecordProblem(
                    index, offset, "wrong_partition", "record belongs to another partition"
                )
            )
        if offset <= prev_offset:
            problems.append(
                RecordProblem(
                    index,
                    offset,
                    "offset_order",
                    f"offset does not follow the previous record's offset {prev_offset}",
                )
            )
        try:
            kind, body = split_envelope(raw[index])
            expected = record_hash(
                prev,
                partition=partition,
                offset=offset,
                kafka_timestamp_ms=int(record["kafka_timestamp_ms"]),
                value_sha256=bytes(record["value_sha256"]),
                kind=kind,
                body=body,
            )
        except (AuditError, KeyError, TypeError, ValueError, EOFError, IndexError) as exc:
            problems.append(
                RecordProblem(
                    index, offset, "bad_record", f"record does not re-encode ({type(exc).__name__})"
                )
            )
        else:
            if expected != stored:
                problems.append(
                    RecordProblem(
                        index,
                        offset,
                        "hash_mismatch",
                        "record hash does not match its content and predecessor "
                        "(record altered, or a record before it deleted, inserted or moved)",
                    )
                )
        prev = stored
        prev_offset = offset
    return ChainResult(problems, prev, head)
