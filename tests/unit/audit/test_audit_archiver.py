"""The archiver core: rotation, signing, duplicates, undecodable values, crash recovery."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from fastavro import reader

from pipeline.audit.layout import manifest_name, segment_name
from pipeline.audit.manifest import Manifest
from pipeline.audit.storage import LocalDirectoryStorage
from pipeline.audit.verify import archive_public_keys, verify_archive


def _verify(path: Path):
    storage = LocalDirectoryStorage(path)
    return verify_archive(storage, archive_public_keys(storage))


def test_segments_rotate_by_records_and_are_sealed_read_only(sealed_archive: Path, signer) -> None:
    names = LocalDirectoryStorage(sealed_archive).list("p00000/")
    assert names == [
        segment_name(0, 0),
        manifest_name(0, 0),
        segment_name(0, 50),
        manifest_name(0, 50),
        segment_name(0, 100),
        manifest_name(0, 100),
        segment_name(0, 150),
        manifest_name(0, 150),
    ]
    seg = sealed_archive / segment_name(0, 50)
    assert not seg.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    with seg.open("rb") as handle:  # a standard Avro container any reader can open
        records = list(reader(handle))
    assert [r["offset"] for r in records] == list(range(50, 100))
    assert records[0]["event"]["request_id"] == "req-000150"  # i = offset * 3 + partition
    manifest = Manifest.from_json((sealed_archive / manifest_name(0, 50)).read_bytes())
    assert (manifest.sequence, manifest.first_offset, manifest.last_offset) == (1, 50, 99)
    assert manifest.record_count == 50
    assert manifest.signature_valid(signer.public_key)
    previous = Manifest.from_json((sealed_archive / manifest_name(0, 0)).read_bytes())
    assert manifest.prev_tail_hash == previous.tail_hash
    report = _verify(sealed_archive)
    assert report.ok, [str(f) for f in report.findings]
    assert (report.segments, report.records) == (12, 480)


def test_rotation_by_bytes_and_by_time(new_archiver, fast_encode, event_factory, clock) -> None:
    by_bytes = new_archiver(max_records=10_000, max_bytes=4_000)
    sealed = []
    for i in range(40):
        sealed += by_bytes.append(0, i, 0, fast_encode(event_factory(i)))
    assert sealed, "a size-bounded segment must seal before 40 records"
    assert all(m.record_count < 40 for m in sealed)
    by_bytes.seal()

    timed = new_archiver(max_records=10_000, max_seconds=60)
    timed.append(1, 0, 0, fast_encode(event_factory(0)))
    assert timed.tick() == []
    clock.now += 61
    (manifest,) = timed.tick()
    assert (manifest.partition, manifest.record_count) == (1, 1)
    assert timed.tick() == []


def test_duplicates_are_skipped(new_archiver, fast_encode, event_factory, archive_dir) -> None:
    archiver = new_archiver(max_records=5)
    for offset in (0, 1, 2, 1, 2, 3):
        archiver.append(0, offset, 0, fast_encode(event_factory(offset)))
    archiver.seal()
    assert archiver.counters.duplicates_skipped == 2
    report = _verify(archive_dir)
    assert report.ok and report.records == 4


def test_undecodable_value_is_a_marker_without_its_bytes(
    new_archiver, fast_encode, event_factory, archive_dir, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = b"Jane Q. Canary 123-45-6789"
    archiver = new_archiver(max_records=10)
    archiver.append(0, 0, 0, fast_encode(event_factory(0)))
    archiver.append(0, 1, 0, b"garbage " + canary)
    archiver.append(0, 2, 0, None)
    archiver.append(0, 3, 0, fast_encode(event_factory(3)))
    (manifest,) = archiver.seal()
    assert manifest.undecodable_count == 2 and manifest.record_count == 4
    data = (archive_dir / manifest.segment).read_bytes()
    assert canary not in data
    with (archive_dir / manifest.segment).open("rb") as handle:
        records = list(reader(handle))
    assert [r["error_reason"] for r in records] == [None, "bad_framing", "empty_value", None]
    assert records[1]["event"] is None
    assert "Canary" not in caplog.text and "123-45-6789" not in caplog.text
    assert _verify(archive_dir).ok


def test_crash_mid_segment_resumes_without_gap_or_duplicate(
    new_archiver, fast_encode, archive_dir, feeder
) -> None:
    first = new_archiver(max_records=50)
    feeder(first, fast_encode, 400)  # 133/134 per partition: 2 sealed segments + open ones
    staging = list((archive_dir / ".staging").glob("*.partial"))
    assert len(staging) == 3
    sealed_before = first.counters.sealed
    del first  # the process dies: nothing sealed, nothing flushed

    restarted = new_archiver(max_records=50)
    assert restarted.counters.discarded_staging == 3
    assert not list((archive_dir / ".staging").glob("*.partial"))
    resume = {p: restarted.resume_offset(p) for p in range(3)}
    assert resume == {0: 100, 1: 100, 2: 100}
    # Kafka re-delivers from the resume offsets (and, harmlessly, some earlier records).
    feeder(restarted, fast_encode, 480, start=270)
    restarted.seal()
    assert restarted.counters.duplicates_skipped == 30
    report = _verify(archive_dir)
    assert report.ok, [str(f) for f in report.findings]
    assert report.records == 480
    assert sealed_before == 6
    offsets = []
    storage = LocalDirectoryStorage(archive_dir)
    for name in storage.list("p00001/"):
        if name.endswith(".avro"):
            with (archive_dir / name).open("rb") as handle:
                offsets += [r["offset"] for r in reader(handle)]
    assert offsets == list(range(160))


def test_segment_published_without_manifest_is_rolled_forward(
    new_archiver, fast_encode, archive_dir, feeder
) -> None:
    archiver = new_archiver(max_records=50)
    feeder(archiver, fast_encode, 300)
    archiver.seal()
    # A crash between publishing the last segment and its manifest leaves the segment alone.
    last = archive_dir / manifest_name(2, 50)
    last.chmod(0o644)
    last.unlink()
    assert not _verify(archive_dir).ok

    restarted = new_archiver(max_records=50)
    assert restarted.counters.recovered_manifests == 1
    assert restarted.resume_offset(2) == 100
    report = _verify(archive_dir)
    assert report.ok, [str(f) for f in report.findings]
    assert report.records == 300


def test_empty_archive_starts_at_the_beginning(new_archiver, archive_dir) -> None:
    archiver = new_archiver()
    assert archiver.resume_offset(0) is None
    assert archiver.seal() == []
    report = _verify(archive_dir)
    assert report.ok and report.records == 0


def test_deflate_segments_verify_and_read_with_fastavro(
    new_archiver, fast_encode, archive_dir, feeder
) -> None:
    archiver = new_archiver(max_records=40, codec="deflate")
    feeder(archiver, fast_encode, 90, partitions=1)
    archiver.seal()
    report = _verify(archive_dir)
    assert report.ok and report.records == 90
    with (archive_dir / segment_name(0, 40)).open("rb") as handle:
        avro = reader(handle)
        assert avro.codec == "deflate"
        assert [r["offset"] for r in avro] == list(range(40, 80))
