"""Segment files: Avro object container files of archived audit records.

Each record in a segment is an ``ArchivedAuditRecord`` envelope: the Kafka position
(partition, offset, timestamp), the SHA-256 of the value bytes as they were on the topic, the
chain hash, and the decoded audit event (or, for a value that did not decode, only its reason
code: the undecodable bytes are never kept). The envelope schema embeds the current
``schemas/audit_event.avsc``; every container file carries its own writer schema, so a segment
stays readable after the audit schema evolves.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import os
import secrets
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader

from pipeline.errors import AuditError

#: Full name of the envelope record.
ENVELOPE_NAME = "io.phipipeline.archive.v1.ArchivedAuditRecord"

#: Metadata key naming the archive format in every container file.
FORMAT_KEY = "phi.audit.format"
FORMAT_VALUE = "phi-audit-segment/1"


def envelope_schema(audit_schema_json: dict[str, Any]) -> dict[str, Any]:
    """Return the (unparsed) envelope schema embedding ``audit_schema_json``.

    Args:
        audit_schema_json: the audit event schema as JSON (the ``.avsc`` content, not a
            fastavro-parsed schema).
    """
    return {
        "type": "record",
        "name": "ArchivedAuditRecord",
        "namespace": "io.phipipeline.archive.v1",
        "doc": "One audit event as archived: Kafka position, chain hash, decoded event.",
        "fields": [
            {"name": "partition", "type": "int"},
            {"name": "offset", "type": "long"},
            {"name": "kafka_timestamp_ms", "type": "long"},
            {"name": "value_sha256", "type": "bytes"},
            {"name": "record_hash", "type": "bytes"},
            {"name": "error_reason", "type": ["null", "string"], "default": None},
            {"name": "event", "type": ["null", copy.deepcopy(audit_schema_json)], "default": None},
        ],
    }


def event_schema_of(envelope: dict[str, Any]) -> dict[str, Any]:
    """Return the audit event schema (JSON) embedded in an envelope schema (JSON).

    Raises:
        AuditError: the schema is not an archive envelope.
    """
    try:
        fields = {f["name"]: f for f in envelope["fields"]}
        branches = fields["event"]["type"]
        return next(b for b in branches if isinstance(b, dict) and b.get("type") == "record")
    except (KeyError, TypeError, StopIteration) as exc:
        raise AuditError(
            "segment schema is not an audit archive envelope", reason="bad_segment"
        ) from exc


def _zigzag(value: int) -> bytes:
    """Avro ``int``/``long`` encoding: zig-zag, then base-128 varint."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _avro_bytes(value: bytes) -> bytes:
    return _zigzag(len(value)) + value


def encode_envelope(
    *,
    partition: int,
    offset: int,
    kafka_timestamp_ms: int,
    value_sha256: bytes,
    record_hash: bytes,
    error_reason: str | None,
    event_body: bytes | None,
) -> bytes:
    """Return the Avro binary encoding of one envelope, embedding the event's canonical bytes.

    An Avro record is the concatenation of its fields' encodings, so the event's canonical
    body (already computed for the chain hash) is written as-is instead of encoded twice.
    """
    parts = [
        _zigzag(partition),
        _zigzag(offset),
        _zigzag(kafka_timestamp_ms),
        _avro_bytes(value_sha256),
        _avro_bytes(record_hash),
    ]
    parts.append(b"\x00" if error_reason is None else b"\x02" + _avro_bytes(error_reason.encode()))
    parts.append(b"\x00" if event_body is None else b"\x02" + event_body)
    return b"".join(parts)


class ContainerWriter:
    r"""A minimal Avro object container file writer for pre-encoded records.

    Writes the standard format (``Obj\x01`` header with ``avro.schema``/``avro.codec``
    metadata, blocks of ``count, size, data, sync``), so any Avro reader (fastavro,
    ``avro-tools``) reads the segments.
    """

    def __init__(
        self, handle: io.BufferedWriter, schema_json: str, codec: str, metadata: dict[str, str]
    ) -> None:
        if codec not in ("null", "deflate"):
            raise AuditError(f"unsupported segment codec {codec}", reason="bad_codec")
        self._handle = handle
        self._codec = codec
        self._sync = secrets.token_bytes(16)
        self._block: list[bytes] = []
        self._block_bytes = 0
        meta = {"avro.schema": schema_json, "avro.codec": codec, **metadata}
        header = [b"Obj\x01", _zigzag(len(meta))]
        for key, value in meta.items():
            header.append(_avro_bytes(key.encode()))
            header.append(_avro_bytes(value.encode()))
        header.append(b"\x00")
        header.append(self._sync)
        handle.write(b"".join(header))

    def write(self, encoded: bytes) -> None:
        """Buffer one encoded record; a block is written once it exceeds 64 KiB."""
        self._block.append(encoded)
        self._block_bytes += len(encoded)
        if self._block_bytes >= 64 * 1024:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records as one block."""
        if not self._block:
            return
        data = b"".join(self._block)
        if self._codec == "deflate":
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = compressor.compress(data) + compressor.flush()
        self._handle.write(_zigzag(len(self._block)) + _zigzag(len(data)) + data + self._sync)
        self._block = []
        self._block_bytes = 0


@dataclass
class OpenSegment:
    """A segment being written to a local staging file.

    Attributes:
        partition: the Kafka partition.
        sequence: the segment's sequence number within the partition.
        first_offset: offset of its first record.
        path: the staging file.
        prev_tail_hash: the previous segment's tail (this segment's chain starts there).
    """

    partition: int
    sequence: int
    first_offset: int
    path: Path
    prev_tail_hash: bytes
    writer: ContainerWriter
    handle: io.BufferedWriter
    opened_monotonic: float
    last_offset: int = -1
    record_count: int = 0
    undecodable_count: int = 0
    approx_bytes: int = 0
    head_hash: bytes = b""
    tail_hash: bytes = b""
    min_event_ts_ms: int | None = None
    max_event_ts_ms: int | None = None

    @classmethod
    def create(
        cls,
        path: Path,
        envelope_json: str,
        *,
        partition: int,
        sequence: int,
        first_offset: int,
        prev_tail_hash: bytes,
        opened_monotonic: float,
        codec: str,
        topic: str,
    ) -> OpenSegment:
        """Open a new staging file and write the container header.

        Raises:
            AuditError: the file cannot be created.
        """
        try:
            handle = open(path, "xb")  # noqa: SIM115 - closed in finish()
            metadata = {
                FORMAT_KEY: FORMAT_VALUE,
                "phi.audit.topic": topic,
                "phi.audit.partition": str(partition),
            }
            writer = ContainerWriter(handle, envelope_json, codec, metadata)
        except OSError as exc:
            raise AuditError(
                f"cannot create staging segment {path.name}", reason="storage_failed"
            ) from exc
        return cls(
            partition=partition,
            sequence=sequence,
            first_offset=first_offset,
            path=path,
            prev_tail_hash=prev_tail_hash,
            writer=writer,
            handle=handle,
            opened_monotonic=opened_monotonic,
        )

    def write(
        self, encoded: bytes, *, offset: int, record_hash: bytes, event_ts_ms: int | None
    ) -> None:
        """Append one encoded envelope and update the running summary."""
        self.writer.write(encoded)
        if self.record_count == 0:
            self.head_hash = record_hash
        self.tail_hash = record_hash
        self.last_offset = offset
        self.record_count += 1
        self.approx_bytes += len(encoded)
        if event_ts_ms is None:
            self.undecodable_count += 1
        else:
            if self.min_event_ts_ms is None or event_ts_ms < self.min_event_ts_ms:
                self.min_event_ts_ms = event_ts_ms
            if self.max_event_ts_ms is None or event_ts_ms > self.max_event_ts_ms:
                self.max_event_ts_ms = event_ts_ms

    def finish(self) -> None:
        """Flush the last block, fsync and close the staging file.

        Raises:
            AuditError: the write or fsync failed.
        """
        try:
            self.writer.flush()
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
        except OSError as exc:
            raise AuditError(
                f"cannot flush staging segment {self.path.name}", reason="storage_failed"
            ) from exc


def to_millis(value: Any) -> int:
    """Return a timestamp (``datetime`` from fastavro, or int millis) as int milliseconds."""
    if isinstance(value, int):
        return value
    return round(value.timestamp() * 1000)


@dataclass(frozen=True)
class SegmentRead:
    """The outcome of reading one segment file.

    Attributes:
        records: the envelopes that decoded, in file order.
        event_schema: the audit event schema (JSON) embedded in the file, if the header read.
        error: why reading stopped early (``None`` when the whole file read).
        raw: each record's exact encoded bytes, parallel to ``records`` (what verify hashes).
    """

    records: list[dict[str, Any]]
    event_schema: dict[str, Any] | None
    error: str | None
    raw: list[bytes] = field(default_factory=list)


def _read_long(buf: io.BytesIO) -> int:
    shift = result = 0
    while True:
        byte = buf.read(1)
        if not byte:
            raise EOFError("varint runs past the end")
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return (result >> 1) ^ -(result & 1)
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _read_exact(buf: io.BytesIO, size: int) -> bytes:
    if size < 0:
        raise ValueError("negative length")
    data = buf.read(size)
    if len(data) != size:
        raise EOFError("bytes run past the end")
    return data


@functools.lru_cache(maxsize=16)
def _parsed_envelope(schema_text: str) -> tuple[Any, dict[str, Any]]:
    envelope = json.loads(schema_text)
    return parse_schema(envelope, named_schemas={}), event_schema_of(envelope)


def _read_header(buf: io.BytesIO) -> tuple[dict[str, bytes], bytes]:
    if buf.read(4) != b"Obj\x01":
        raise ValueError("not an Avro object container file")
    meta: dict[str, bytes] = {}
    while True:
        count = _read_long(buf)
        if count == 0:
            break
        if count < 0:  # a block with a byte size, allowed by the spec
            count = -count
            _read_long(buf)
        for _ in range(count):
            key = _read_exact(buf, _read_long(buf)).decode()
            meta[key] = _read_exact(buf, _read_long(buf))
    return meta, _read_exact(buf, 16)


def read_segment(data: bytes) -> SegmentRead:
    """Decode every envelope of a segment file, record by record, stopping at the first damage.

    A tolerant reader rather than ``fastavro.reader``: it decodes the readable records of a
    truncated block too, so verify names the first record that is missing or unreadable. Never
    raises for corrupt input: the problem is reported in ``error`` (an error class and a short
    description, never data), with the records read before it.
    """
    buf = io.BytesIO(data)
    try:
        meta, sync = _read_header(buf)
        if meta.get(FORMAT_KEY) != FORMAT_VALUE.encode():
            return SegmentRead([], None, "not an audit archive segment")
        codec = meta.get("avro.codec", b"null").decode()
        if codec not in ("null", "deflate"):
            return SegmentRead([], None, f"unsupported codec {codec}")
        envelope, event_schema = _parsed_envelope(meta["avro.schema"].decode())
    except Exception as exc:  # corrupt headers fail in many ways
        return SegmentRead([], None, f"header unreadable ({type(exc).__name__})")
    records: list[dict[str, Any]] = []
    raw: list[bytes] = []
    while buf.tell() < len(data):
        try:
            count = _read_long(buf)
            size = _read_long(buf)
            block = buf.read(size)
            if codec == "deflate":
                block = zlib.decompress(block, -15)
            block_buf = io.BytesIO(block)
            for _ in range(count):
                start = block_buf.tell()
                record = schemaless_reader(block_buf, envelope, None)
                if not isinstance(record, dict):
                    raise TypeError("record is not an envelope")
                records.append(record)
                raw.append(block[start : block_buf.tell()])
            if len(block) < size:
                raise EOFError("block is truncated")
            if block_buf.tell() != len(block):
                raise ValueError("block holds more bytes than its records")
            if _read_exact(buf, 16) != sync:
                raise ValueError("sync marker mismatch")
        except Exception as exc:  # corrupt or truncated blocks fail in many ways
            return SegmentRead(
                records,
                event_schema,
                f"{exc} ({type(exc).__name__})"
                if isinstance(exc, EOFError | ValueError) and str(exc) in _OWN_MESSAGES
                else f"record unreadable ({type(exc).__name__})",
                raw,
            )
    return SegmentRead(records, event_schema, None, raw)


def split_envelope(raw: bytes) -> tuple[bytes, bytes]:
    """Return ``(kind, body)`` for hashing from a record's exact encoded envelope bytes.

    The body is the event's canonical Avro bytes exactly as stored (the tail of the envelope
    after its ``event`` union index), or the reason code of an undecodable marker. Hashing the
    stored bytes, rather than a re-encoding of the decoded values, means any changed byte
    changes the hash.

    Raises:
        ValueError: the bytes are not an envelope.
        EOFError: the bytes end early.
    """
    buf = io.BytesIO(raw)
    for _ in range(3):  # partition, offset, kafka_timestamp_ms
        _read_long(buf)
    _read_exact(buf, _read_long(buf))  # value_sha256
    _read_exact(buf, _read_long(buf))  # record_hash
    reason = b""
    if _read_long(buf) == 1:  # error_reason union: 0 null, 1 string
        reason = _read_exact(buf, _read_long(buf))
    branch = _read_long(buf)
    if branch == 0:
        return b"\x02", reason
    if branch != 1:
        raise ValueError("bad event union index")
    return b"\x01", raw[buf.tell() :]


#: Messages raised by this module itself (safe to show; fastavro's may quote data).
_OWN_MESSAGES = frozenset(
    {
        "varint runs past the end",
        "varint too long",
        "negative length",
        "bytes run past the end",
        "block is truncated",
        "block holds more bytes than its records",
        "sync marker mismatch",
    }
)


def parse_event_schema(event_schema: dict[str, Any]) -> Any:
    """Parse an audit event schema (JSON) with a fresh named-type table."""
    return parse_schema(copy.deepcopy(event_schema), named_schemas={})
