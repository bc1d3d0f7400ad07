"""``audit verify``: recompute every chain and signature of an archive.

For each partition, segments are checked in offset order: the manifest's signature (Ed25519,
key chosen by the manifest's ``key_id``), its link to the previous segment (``sequence`` and
``prev_tail_hash``), the segment file's digest, and then every record's chain hash, offset
order and count. Each finding names the partition, the segment and, where the damage is in a
record, the record's index in the segment and its offset.

Detected: a flipped byte (decode error or hash mismatch), a deleted, inserted or reordered
record (hash mismatch and offset order), a truncated segment (unreadable block or short count),
a missing segment (sequence gap and broken ``prev_tail_hash`` link), a forged or edited manifest
(bad signature), a segment without manifest, and unexpected objects. Removing the *newest*
segments of a partition leaves a valid shorter archive: compare the printed per-partition tail
(last offset and tail hash) with the topic or a previously recorded value; S3 Object Lock
prevents that deletion in production.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pipeline.audit.chain import GENESIS
from pipeline.audit.check import check_chain
from pipeline.audit.layout import (
    KEYS_PREFIX,
    manifest_name,
    parse_key_name,
    parse_name,
    segment_name,
)
from pipeline.audit.manifest import MANIFEST_FORMAT, Manifest
from pipeline.audit.segment import read_segment
from pipeline.audit.signing import key_id, load_public_key
from pipeline.audit.storage import ArchiveStorage
from pipeline.errors import AuditError

#: At most this many record-level findings are listed per segment (the rest are counted).
MAX_RECORD_FINDINGS = 20


@dataclass(frozen=True)
class Finding:
    """One verification failure; PHI-free by construction (names, numbers, codes).

    Attributes:
        code: short problem code (``hash_mismatch``, ``bad_signature``, ...).
        detail: a sentence for humans.
        partition: the partition, when known.
        segment: the segment's object name, when the problem is in or about a segment.
        record: 0-based index of the record in its segment, when the problem is in a record.
        offset: the Kafka offset of that record, when known.
    """

    code: str
    detail: str
    partition: int | None = None
    segment: str | None = None
    record: int | None = None
    offset: int | None = None

    def __str__(self) -> str:
        where = [
            f"partition={self.partition}" if self.partition is not None else "",
            f"segment={self.segment}" if self.segment else "",
            f"record={self.record}" if self.record is not None else "",
            f"offset={self.offset}" if self.offset is not None else "",
        ]
        return f"TAMPERED {' '.join(w for w in where if w)} {self.code}: {self.detail}"


@dataclass
class PartitionSummary:
    """What verify saw of one partition."""

    partition: int
    segments: int = 0
    records: int = 0
    last_offset: int = -1
    tail_hash: str = GENESIS.hex()
    last_value_sha256: str | None = None


@dataclass
class VerifyReport:
    """The outcome of :func:`verify_archive`."""

    partitions: dict[int, PartitionSummary] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    key_ids: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    @property
    def segments(self) -> int:
        """Segments checked."""
        return sum(p.segments for p in self.partitions.values())

    @property
    def records(self) -> int:
        """Records checked."""
        return sum(p.records for p in self.partitions.values())


def archive_public_keys(storage: ArchiveStorage) -> dict[str, Ed25519PublicKey]:
    """Return the public keys stored in the archive (``keys/<key_id>.pem``), by key id.

    A stored key whose content does not match its name is skipped (it could only have been
    put there by hand).
    """
    keys: dict[str, Ed25519PublicKey] = {}
    for name in storage.list(KEYS_PREFIX):
        wanted = parse_key_name(name)
        if wanted is None:
            continue
        try:
            key = load_public_key(storage.read(name))
        except AuditError:
            continue
        if key_id(key) == wanted:
            keys[wanted] = key
    return keys


def verify_archive(
    storage: ArchiveStorage,
    public_keys: dict[str, Ed25519PublicKey],
    *,
    partitions: set[int] | None = None,
) -> VerifyReport:
    """Check every partition, segment, manifest and record of an archive.

    Args:
        storage: the archive.
        public_keys: trusted keys by key id (pinned by the auditor, or
            :func:`archive_public_keys`).
        partitions: check only these partitions (all when ``None``).

    Returns:
        The report; ``report.ok`` is true when the archive is intact.
    """
    report = VerifyReport(key_ids=set(public_keys))
    layout: dict[int, dict[int, set[bool]]] = {}
    for name in storage.list():
        ref = parse_name(name)
        if ref is None:
            if not (name.startswith(KEYS_PREFIX) and parse_key_name(name)):
                report.findings.append(
                    Finding("unexpected_object", f"object {name} is not part of the archive")
                )
            continue
        layout.setdefault(ref.partition, {}).setdefault(ref.first_offset, set()).add(
            ref.is_manifest
        )
    for partition in sorted(layout):
        if partitions is not None and partition not in partitions:
            continue
        summary = PartitionSummary(partition)
        report.partitions[partition] = summary
        report.findings.extend(
            _verify_partition(storage, partition, layout[partition], public_keys, summary)
        )
    return report


def _verify_partition(
    storage: ArchiveStorage,
    partition: int,
    objects: dict[int, set[bool]],
    keys: dict[str, Ed25519PublicKey],
    summary: PartitionSummary,
) -> Iterator[Finding]:
    prev_tail = GENESIS
    prev_last = -1
    expected_seq = 0
    for first_offset in sorted(objects):
        seg = segment_name(partition, first_offset)
        kinds = objects[first_offset]
        summary.segments += 1
        manifest: Manifest | None = None
        if True not in kinds:
            yield Finding("missing_manifest", "segment has no manifest (unsigned)", partition, seg)
        else:
            manifest, problems = _check_manifest(storage, partition, first_offset, seg, keys)
            yield from problems
        if manifest is not None:
            if manifest.sequence != expected_seq:
                missing = manifest.sequence - expected_seq
                yield Finding(
                    "missing_segment",
                    f"segment sequence {manifest.sequence} follows {expected_seq - 1}: "
                    f"{missing} segment(s) before it are missing"
                    if missing > 0
                    else f"segment sequence {manifest.sequence} repeats or goes back",
                    partition,
                    seg,
                )
            if manifest.prev_tail_hash != prev_tail.hex():
                yield Finding(
                    "chain_break",
                    "previous-segment link does not match the preceding segment's "
                    "tail (a segment before it is missing or altered)",
                    partition,
                    seg,
                )
                # Reported once here; check the records against the link the signed manifest
                # vouches for, so they are not all reported again.
                prev_tail = bytes.fromhex(manifest.prev_tail_hash)
        if False not in kinds:
            yield Finding(
                "missing_segment", "manifest present but segment file missing", partition, seg
            )
            if manifest is not None:
                prev_tail = bytes.fromhex(manifest.tail_hash)
                prev_last = manifest.last_offset
                expected_seq = manifest.sequence + 1
                summary.last_offset, summary.tail_hash = prev_last, manifest.tail_hash
            continue
        tail, last, count, last_sha = yield from _verify_segment(
            storage, partition, seg, manifest, prev_tail, prev_last
        )
        summary.records += count
        if last_sha is not None:
            summary.last_value_sha256 = last_sha
        # Continue from what the manifest vouches for, so one damaged segment does not make
        # every later segment look broken too.
        if manifest is not None:
            prev_tail = bytes.fromhex(manifest.tail_hash)
            prev_last = manifest.last_offset
            expected_seq = manifest.sequence + 1
        else:
            prev_tail, prev_last, expected_seq = tail, last, expected_seq + 1
        summary.last_offset, summary.tail_hash = prev_last, prev_tail.hex()


def _check_manifest(
    storage: ArchiveStorage,
    partition: int,
    first_offset: int,
    seg: str,
    keys: dict[str, Ed25519PublicKey],
) -> tuple[Manifest | None, list[Finding]]:
    try:
        manifest = Manifest.from_json(storage.read(manifest_name(partition, first_offset)))
    except AuditError as exc:
        return None, [
            Finding("bad_manifest", f"manifest unreadable ({exc.reason})", partition, seg)
        ]
    problems: list[Finding] = []
    key = keys.get(manifest.key_id)
    if key is None:
        problems.append(
            Finding(
                "unknown_key",
                f"manifest signed by key {manifest.key_id}, which is not trusted",
                partition,
                seg,
            )
        )
    elif not manifest.signature_valid(key):
        problems.append(
            Finding(
                "bad_signature",
                "manifest signature does not verify (forged or edited manifest)",
                partition,
                seg,
            )
        )
    if (
        manifest.format != MANIFEST_FORMAT
        or manifest.partition != partition
        or manifest.first_offset != first_offset
        or manifest.segment != seg
    ):
        problems.append(
            Finding(
                "manifest_mismatch",
                "manifest describes another segment than the one it sits beside",
                partition,
                seg,
            )
        )
    # An unsigned or wrongly signed manifest vouches for nothing: don't chain from it.
    return (manifest if not problems else None), problems


def _verify_segment(
    storage: ArchiveStorage,
    partition: int,
    seg: str,
    manifest: Manifest | None,
    prev_tail: bytes,
    prev_last: int,
) -> Generator[Finding, None, tuple[bytes, int, int, str | None]]:
    data = storage.read(seg)
    read = read_segment(data)
    records = read.records
    if read.event_schema is None:
        yield Finding(
            "unreadable_segment", read.error or "segment unreadable", partition, seg, record=0
        )
        return prev_tail, prev_last, 0, None
    result = check_chain(
        records, read.raw, partition=partition, prev_hash=prev_tail, prev_offset=prev_last
    )
    record_findings = 0
    for problem in result.problems:
        record_findings += 1
        if record_findings <= MAX_RECORD_FINDINGS:
            yield Finding(
                problem.code, problem.detail, partition, seg, problem.index, problem.offset
            )
    if record_findings > MAX_RECORD_FINDINGS:
        yield Finding(
            "more_findings",
            f"{record_findings - MAX_RECORD_FINDINGS} more record findings not listed",
            partition,
            seg,
        )
    last_offset = int(records[-1]["offset"]) if records else prev_last
    if read.error is not None:
        yield Finding(
            "truncated_or_corrupt",
            f"segment stops being readable at this record (after offset "
            f"{last_offset}): {read.error}",
            partition,
            seg,
            record=len(records),
        )
    if manifest is not None:
        if len(records) != manifest.record_count:
            yield Finding(
                "record_count_mismatch",
                f"segment holds {len(records)} readable records, manifest says "
                f"{manifest.record_count} (first missing record is this index)",
                partition,
                seg,
                record=len(records),
            )
        if records and (
            int(records[0]["offset"]) != manifest.first_offset
            or last_offset != manifest.last_offset
        ):
            yield Finding(
                "offset_range_mismatch",
                f"records span offsets {records[0]['offset']}..{last_offset}, manifest "
                f"says {manifest.first_offset}..{manifest.last_offset}",
                partition,
                seg,
            )
        if records and (
            result.head_hash.hex() != manifest.head_hash
            or result.tail_hash.hex() != manifest.tail_hash
        ):
            yield Finding(
                "tail_hash_mismatch",
                "records' head/tail hashes differ from the signed manifest (records rewritten)",
                partition,
                seg,
            )
        digest = hashlib.sha256(data).hexdigest()
        if digest != manifest.segment_sha256 or len(data) != manifest.segment_bytes:
            yield Finding(
                "digest_mismatch",
                "segment file bytes differ from the signed digest",
                partition,
                seg,
            )
    last_sha = bytes(records[-1]["value_sha256"]).hex() if records else None
    return result.tail_hash, last_offset, len(records), last_sha
