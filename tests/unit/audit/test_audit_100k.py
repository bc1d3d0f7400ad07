"""100,000 audit events archived through the core and verified; then one flipped byte."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.audit.layout import manifest_name
from pipeline.audit.manifest import Manifest
from pipeline.audit.storage import LocalDirectoryStorage
from pipeline.audit.verify import archive_public_keys, verify_archive

N = 100_000
PARTITIONS = 4


def test_100k_events_archive_and_verify(
    new_archiver: Callable[..., Any],
    fast_encode: Callable[[dict[str, Any]], bytes],
    event_factory: Callable[..., dict[str, Any]],
    archive_dir: Path,
) -> None:
    archiver = new_archiver(max_records=5_000)
    sealed = []
    for i in range(N):
        sealed += archiver.append(i % PARTITIONS, i // PARTITIONS, i, fast_encode(event_factory(i)))
    sealed += archiver.seal()
    assert archiver.counters.appended == N
    assert sum(m.record_count for m in sealed) == N
    assert len(sealed) == PARTITIONS * (N // PARTITIONS // 5_000)

    storage = LocalDirectoryStorage(archive_dir)
    report = verify_archive(storage, archive_public_keys(storage))
    assert report.ok, [str(f) for f in report.findings[:5]]
    assert report.records == N
    assert {p: s.last_offset for p, s in report.partitions.items()} == {
        p: N // PARTITIONS - 1 for p in range(PARTITIONS)
    }

    # The same archive with one byte changed deep inside fails at exactly that record.
    manifest = Manifest.from_json((archive_dir / manifest_name(3, 15_000)).read_bytes())
    path = archive_dir / manifest.segment
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    # offset 15_123 of partition 3 is event i = 15_123 * 4 + 3 = 60_495
    at = data.index(b"req-060495")
    data[at + 5] ^= 0x02
    path.write_bytes(bytes(data))
    report = verify_archive(storage, archive_public_keys(storage), partitions={3})
    assert set(report.partitions) == {3}
    located = [(f.segment, f.record, f.offset) for f in report.findings if f.record is not None]
    assert located == [(manifest.segment, 123, 15_123)]
