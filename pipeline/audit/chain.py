"""The per-partition hash chain that makes the audit archive tamper-evident.

Every archived record gets ``record_hash = SHA-256(domain || prev_hash || position || body)``
where ``position`` is the Kafka partition, offset and broker timestamp, ``value_sha256`` binds
the exact bytes that were on the topic, and ``body`` is the record's canonical Avro bytes (the
schemaless binary encoding of the decoded audit event, map entries sorted by key). The first
record of a partition chains from :data:`GENESIS`; the first record of every later segment
chains from the previous segment's tail, so the chain runs unbroken across segment files.

Binding the position into the hash is what makes a reordered or moved record visible even when
its content is unchanged. The hash is not keyed on purpose: anyone holding the archive can
recompute it; forgery is prevented by the Ed25519 signature over each segment's manifest.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Mapping
from typing import Any

from fastavro import schemaless_writer

from pipeline.errors import AuditError

#: The ``prev_hash`` of the first record of every partition.
GENESIS = bytes(32)

_DOMAIN = b"phi-audit-chain/v1\x00"
_POSITION = struct.Struct(">iqq")

#: Record kinds: a decoded audit event, or bytes that did not decode (archived as a marker so
#: that the chain has no gap, without keeping the undecodable bytes themselves).
KIND_EVENT = b"\x01"
KIND_UNDECODABLE = b"\x02"


def record_hash(
    prev_hash: bytes,
    *,
    partition: int,
    offset: int,
    kafka_timestamp_ms: int,
    value_sha256: bytes,
    kind: bytes,
    body: bytes,
) -> bytes:
    """Return the chain hash of one archived record.

    Args:
        prev_hash: the previous record's hash in the partition (:data:`GENESIS` for the first).
        partition: Kafka partition of the record.
        offset: Kafka offset of the record.
        kafka_timestamp_ms: the broker/producer timestamp Kafka reported.
        value_sha256: SHA-256 of the record's value bytes exactly as they were on the topic.
        kind: :data:`KIND_EVENT` or :data:`KIND_UNDECODABLE`.
        body: canonical Avro bytes of the event, or the reason code for an undecodable record.

    Raises:
        AuditError: ``prev_hash`` or ``value_sha256`` is not 32 bytes.
    """
    if len(prev_hash) != 32 or len(value_sha256) != 32:
        raise AuditError("chain hashes must be 32 bytes", reason="bad_chain_input")
    digest = hashlib.sha256(_DOMAIN)
    digest.update(prev_hash)
    digest.update(_POSITION.pack(partition, offset, kafka_timestamp_ms))
    digest.update(value_sha256)
    digest.update(kind)
    digest.update(body)
    return digest.digest()


def map_fields(schema: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the names of a record schema's top-level fields whose type is (or may be) a map."""

    def is_map(avro_type: Any) -> bool:
        if isinstance(avro_type, list):
            return any(is_map(t) for t in avro_type)
        return isinstance(avro_type, dict) and avro_type.get("type") == "map"

    return tuple(f["name"] for f in schema["fields"] if is_map(f["type"]))


def normalise(event: Mapping[str, Any], maps: tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of ``event`` with its map fields' entries sorted by key.

    Avro encodes map entries in iteration order, so two equal events could otherwise encode
    to different bytes; sorting makes the encoding (and so the hash) canonical.
    """
    out = dict(event)
    for name in maps:
        value = out.get(name)
        if isinstance(value, Mapping):
            out[name] = dict(sorted(value.items()))
    return out


def canonical_bytes(parsed_schema: Any, event: Mapping[str, Any]) -> bytes:
    """Return the schemaless Avro binary encoding of an (already normalised) event.

    Raises:
        AuditError: the event does not fit the schema (wrapped fastavro error, no values).
    """
    buf = io.BytesIO()
    try:
        schemaless_writer(buf, parsed_schema, dict(event))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise AuditError(
            f"audit event does not encode: {type(exc).__name__}", reason="bad_audit_event"
        ) from exc
    return buf.getvalue()
