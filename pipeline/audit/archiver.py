"""The archiver core: audit records in, sealed, signed, hash-chained segments out.

:class:`AuditArchiver` knows nothing about Kafka. It is fed ``(partition, offset, timestamp,
value)`` in offset order per partition and returns the manifests of the segments it sealed, so
the caller (the Kafka loop in :mod:`pipeline.audit.consumer`, or a test) can commit offsets
only after a segment is durable.

Exactly-once into the archive: the archive itself, not the consumer group, says where to
resume. A segment is built in a local staging file and becomes part of the archive only when
it is fsynced and published, followed by its manifest. On start, staging files left by a crash
are discarded (their records are still on the topic and are read again), a segment published
without its manifest (a crash between the two) gets its manifest re-derived, and each
partition resumes at the last sealed offset + 1: no gap, no duplicate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastavro import parse_schema

from pipeline.audit.chain import (
    GENESIS,
    KIND_EVENT,
    KIND_UNDECODABLE,
    canonical_bytes,
    map_fields,
    normalise,
    record_hash,
)
from pipeline.audit.check import check_chain
from pipeline.audit.layout import key_name, manifest_name, parse_name, segment_name
from pipeline.audit.manifest import MANIFEST_FORMAT, Manifest
from pipeline.audit.segment import (
    OpenSegment,
    encode_envelope,
    envelope_schema,
    parse_event_schema,
    read_segment,
    to_millis,
)
from pipeline.audit.signing import Signer, public_pem
from pipeline.audit.storage import ArchiveStorage
from pipeline.errors import AuditError, PipelineError

log = logging.getLogger("pipeline.audit.archiver")

#: Decodes one topic value into an audit event; raises a ``PipelineError`` when it cannot.
Decoder = Callable[[bytes], Mapping[str, Any]]

_STAGING_SUFFIX = ".avro.partial"


@dataclass(frozen=True)
class ArchiverConfig:
    """Segment rotation and format.

    Attributes:
        topic: the topic being archived (recorded in manifests).
        max_records: seal a segment once it holds this many records.
        max_bytes: seal a segment once its records take about this many bytes.
        max_seconds: seal a segment this long after its first record (see ``tick``).
        codec: Avro container codec; ``null`` keeps a flipped byte local to one record, so
            verify can name it (``deflate`` is smaller but spoils a whole block).
    """

    topic: str = "phi.audit"
    max_records: int = 10_000
    max_bytes: int = 64 * 1024 * 1024
    max_seconds: float = 300.0
    codec: str = "null"


@dataclass
class _Partition:
    next_sequence: int = 0
    last_offset: int = -1
    tail_hash: bytes = GENESIS
    open: OpenSegment | None = None
    sealed_segments: int = 0


@dataclass
class ArchiveCounters:
    """What this archiver instance has done (for logs and tests; no record content)."""

    appended: int = 0
    duplicates_skipped: int = 0
    undecodable: int = 0
    sealed: int = 0
    recovered_manifests: int = 0
    discarded_staging: int = 0


class AuditArchiver:
    """Turns audit records into sealed, signed, hash-chained segments.

    Not thread-safe: one archiver per process, fed by one consumer loop. Two archivers must
    never own the same partition at once (the consumer group guarantees that).
    """

    def __init__(
        self,
        storage: ArchiveStorage,
        signer: Signer,
        decode: Decoder,
        audit_schema_json: dict[str, Any],
        config: ArchiverConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create the archiver and recover its state from the archive.

        Args:
            storage: where segments go.
            signer: the manifest signing key.
            decode: turns a topic value into an audit event (the serde codec).
            audit_schema_json: the current audit event schema as JSON (``.avsc`` content);
                ``decode`` must return records of this schema.
            config: rotation settings.
            clock: monotonic seconds, for time-based rotation (injectable for tests).

        Raises:
            AuditError: the archive cannot be read or a crash left it inconsistent.
        """
        self.storage = storage
        self.signer = signer
        self.config = config
        self.counters = ArchiveCounters()
        self._decode = decode
        self._clock = clock
        self._event_schema = parse_event_schema(audit_schema_json)
        self._maps = map_fields(audit_schema_json)
        envelope = envelope_schema(audit_schema_json)
        # Parsed once to prove the embedded schema is valid; files carry the JSON text.
        parse_schema(envelope, named_schemas={})
        self._envelope_json = json.dumps(envelope, sort_keys=True)
        self._partitions: dict[int, _Partition] = {}
        self._publish_key()
        self._recover()

    def __repr__(self) -> str:
        return f"AuditArchiver(storage={self.storage!r}, topic={self.config.topic!r})"

    # ----------------------------------------------------------------------------- state

    def resume_offset(self, partition: int) -> int | None:
        """Return the offset to resume ``partition`` at, or ``None`` to start from the beginning."""
        state = self._partitions.get(partition)
        if state is None or state.last_offset < 0:
            return None
        return state.last_offset + 1

    # ------------------------------------------------------------------------- appending

    def append(
        self, partition: int, offset: int, timestamp_ms: int, value: bytes | None
    ) -> list[Manifest]:
        """Archive one record; return the manifests of segments sealed by this call.

        A record at or before the partition's last archived offset is skipped (a redelivery
        after a rebalance), which keeps the archive duplicate-free.

        Raises:
            AuditError: the staging file or the archive could not be written.
        """
        state = self._partitions.setdefault(partition, _Partition())
        if offset <= state.last_offset:
            self.counters.duplicates_skipped += 1
            return []
        if state.open is None:
            state.open = self._open(partition, state, offset)
        raw = value or b""
        value_sha256 = hashlib.sha256(raw).digest()
        event: dict[str, Any] | None
        try:
            if not raw:
                raise AuditError("empty value", reason="empty_value")
            event = normalise(self._decode(raw), self._maps)
            kind, body, error = KIND_EVENT, canonical_bytes(self._event_schema, event), None
        except PipelineError as exc:
            # Kept as a marker so the chain has no hole where this offset was; the bytes
            # themselves are not archived (they are not known to be PHI-free).
            event, error = None, exc.reason
            kind, body = KIND_UNDECODABLE, error.encode()
            self.counters.undecodable += 1
            log.warning(
                "undecodable audit record partition=%d offset=%d reason=%s",
                partition,
                offset,
                error,
            )
        digest = record_hash(
            state.tail_hash,
            partition=partition,
            offset=offset,
            kafka_timestamp_ms=timestamp_ms,
            value_sha256=value_sha256,
            kind=kind,
            body=body,
        )
        encoded = encode_envelope(
            partition=partition,
            offset=offset,
            kafka_timestamp_ms=timestamp_ms,
            value_sha256=value_sha256,
            record_hash=digest,
            error_reason=error,
            event_body=body if event is not None else None,
        )
        event_ts = None if event is None else to_millis(event["timestamp"])
        try:
            state.open.write(encoded, offset=offset, record_hash=digest, event_ts_ms=event_ts)
        except OSError as exc:
            raise AuditError(
                f"cannot write audit record partition={partition} offset={offset}",
                reason="storage_failed",
            ) from exc
        state.tail_hash = digest
        state.last_offset = offset
        self.counters.appended += 1
        seg = state.open
        if seg.record_count >= self.config.max_records or seg.approx_bytes >= self.config.max_bytes:
            return [self._seal(state)]
        return []

    def tick(self) -> list[Manifest]:
        """Seal every open segment older than ``max_seconds``; call this regularly."""
        now = self._clock()
        sealed: list[Manifest] = []
        for state in self._partitions.values():
            seg = state.open
            if seg is not None and now - seg.opened_monotonic >= self.config.max_seconds:
                sealed.append(self._seal(state))
        return sealed

    def seal(self, partitions: list[int] | None = None) -> list[Manifest]:
        """Seal the open segments of ``partitions`` (all when ``None``), e.g. on shutdown."""
        sealed: list[Manifest] = []
        for partition, state in sorted(self._partitions.items()):
            if state.open is not None and (partitions is None or partition in partitions):
                sealed.append(self._seal(state))
        return sealed

    # --------------------------------------------------------------------------- private

    def _open(self, partition: int, state: _Partition, first_offset: int) -> OpenSegment:
        path = self.storage.staging_dir() / f"p{partition:05d}-{first_offset:020d}{_STAGING_SUFFIX}"
        return OpenSegment.create(
            path,
            self._envelope_json,
            partition=partition,
            sequence=state.next_sequence,
            first_offset=first_offset,
            prev_tail_hash=state.tail_hash,
            opened_monotonic=self._clock(),
            codec=self.config.codec,
            topic=self.config.topic,
        )

    def _seal(self, state: _Partition) -> Manifest:
        seg = state.open
        if seg is None:
            raise AuditError("no open segment to seal", reason="internal")
        seg.finish()
        data = _read_file(seg.path)
        manifest = Manifest(
            format=MANIFEST_FORMAT,
            topic=self.config.topic,
            partition=seg.partition,
            sequence=seg.sequence,
            segment=segment_name(seg.partition, seg.first_offset),
            first_offset=seg.first_offset,
            last_offset=seg.last_offset,
            record_count=seg.record_count,
            undecodable_count=seg.undecodable_count,
            min_event_ts_ms=seg.min_event_ts_ms,
            max_event_ts_ms=seg.max_event_ts_ms,
            head_hash=seg.head_hash.hex(),
            tail_hash=seg.tail_hash.hex(),
            prev_tail_hash=seg.prev_tail_hash.hex(),
            segment_sha256=hashlib.sha256(data).hexdigest(),
            segment_bytes=len(data),
            created_at=_now_iso(),
            key_id="",
        ).signed(self.signer)
        # Segment first, manifest second: the manifest is the commit point, and a crash in
        # between is repaired by _recover (it re-derives the manifest from the segment).
        self.storage.publish(manifest.segment, seg.path)
        self.storage.put(manifest_name(seg.partition, seg.first_offset), manifest.to_json())
        state.open = None
        state.next_sequence = seg.sequence + 1
        state.sealed_segments += 1
        self.counters.sealed += 1
        log.info(
            "sealed audit segment %s records=%d offsets=%d..%d",
            manifest.segment,
            manifest.record_count,
            manifest.first_offset,
            manifest.last_offset,
        )
        return manifest

    def _publish_key(self) -> None:
        name = key_name(self.signer.key_id)
        if not self.storage.exists(name):
            self.storage.put(name, public_pem(self.signer.public_key))

    def _recover(self) -> None:
        staging = self.storage.staging_dir()
        for leftover in sorted(staging.glob(f"*{_STAGING_SUFFIX}")):
            leftover.unlink()
            self.counters.discarded_staging += 1
            log.info("discarded unsealed staging segment %s after restart", leftover.name)
        by_partition: dict[int, dict[int, set[bool]]] = {}
        for name in self.storage.list("p"):
            ref = parse_name(name)
            if ref is not None:
                by_partition.setdefault(ref.partition, {}).setdefault(ref.first_offset, set()).add(
                    ref.is_manifest
                )
        for partition, objects in sorted(by_partition.items()):
            state = _Partition()
            for first_offset in sorted(objects):
                kinds = objects[first_offset]
                if True in kinds:
                    manifest = Manifest.from_json(
                        self.storage.read(manifest_name(partition, first_offset))
                    )
                    state.next_sequence = manifest.sequence + 1
                    state.last_offset = manifest.last_offset
                    state.tail_hash = bytes.fromhex(manifest.tail_hash)
                    state.sealed_segments += 1
                else:
                    self._roll_forward(partition, first_offset, state)
            self._partitions[partition] = state

    def _roll_forward(self, partition: int, first_offset: int, state: _Partition) -> None:
        """Write the manifest of a segment published just before a crash."""
        name = segment_name(partition, first_offset)
        data = self.storage.read(name)
        read = read_segment(data)
        if read.error is not None or read.event_schema is None or not read.records:
            raise AuditError(
                f"segment {name} has no manifest and does not read cleanly",
                reason="archive_inconsistent",
            )
        result = check_chain(
            read.records,
            read.raw,
            partition=partition,
            prev_hash=state.tail_hash,
            prev_offset=state.last_offset,
        )
        if result.problems:
            raise AuditError(
                f"segment {name} has no manifest and its chain does not hold",
                reason="archive_inconsistent",
            )
        events = [r["event"] for r in read.records if r.get("event") is not None]
        stamps = [to_millis(e["timestamp"]) for e in events]
        manifest = Manifest(
            format=MANIFEST_FORMAT,
            topic=self.config.topic,
            partition=partition,
            sequence=state.next_sequence,
            segment=name,
            first_offset=first_offset,
            last_offset=int(read.records[-1]["offset"]),
            record_count=len(read.records),
            undecodable_count=sum(1 for r in read.records if r.get("event") is None),
            min_event_ts_ms=min(stamps) if stamps else None,
            max_event_ts_ms=max(stamps) if stamps else None,
            head_hash=result.head_hash.hex(),
            tail_hash=result.tail_hash.hex(),
            prev_tail_hash=state.tail_hash.hex(),
            segment_sha256=hashlib.sha256(data).hexdigest(),
            segment_bytes=len(data),
            created_at=_now_iso(),
            key_id="",
        ).signed(self.signer)
        self.storage.put(manifest_name(partition, first_offset), manifest.to_json())
        state.next_sequence += 1
        state.last_offset = manifest.last_offset
        state.tail_hash = result.tail_hash
        state.sealed_segments += 1
        self.counters.recovered_manifests += 1
        log.info("re-derived the manifest of segment %s after restart", name)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AuditError(
            f"cannot read staging segment {path.name}", reason="storage_failed"
        ) from exc


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_audit_schema_json(schemas_dir: Path) -> dict[str, Any]:
    """Read ``audit_event.avsc`` (the current audit schema) as JSON.

    Raises:
        AuditError: the file is missing or not JSON.
    """
    path = schemas_dir / "audit_event.avsc"
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AuditError("cannot read audit_event.avsc", reason="schema_missing") from exc
    if not isinstance(loaded, dict):
        raise AuditError("audit_event.avsc is not a record schema", reason="schema_missing")
    return loaded
