"""``audit verify`` on an intact archive and on every kind of tampering.

Each tamper test damages a sealed archive the way an attacker (or a bad disk) would and checks
that verify exits non-zero and names the exact segment and, where the damage is in a record,
the record's index and offset.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastavro import reader, writer

from pipeline.audit.__main__ import main
from pipeline.audit.chain import GENESIS, KIND_EVENT, record_hash
from pipeline.audit.check import event_body, event_encoder
from pipeline.audit.layout import manifest_name, segment_name
from pipeline.audit.manifest import Manifest
from pipeline.audit.segment import FORMAT_KEY, FORMAT_VALUE
from pipeline.audit.signing import Signer, public_pem

SEG = segment_name(1, 50)  # partition 1, second segment: offsets 50..99


def run_verify(archive: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["verify", str(archive), *extra])
    return code, capsys.readouterr().out


def writable(path: Path) -> Path:
    path.chmod(0o644)
    return path


def rewrite(archive: Path, name: str, change: Callable[[list[dict[str, Any]]], None]) -> None:
    """Re-write a segment's records (keeping their stored hashes) after ``change``."""
    path = writable(archive / name)
    with path.open("rb") as handle:
        avro = reader(handle)
        schema = json.loads(avro.metadata["avro.schema"])
        records = list(avro)
    change(records)
    out = io.BytesIO()
    writer(out, schema, records, metadata={FORMAT_KEY: FORMAT_VALUE})
    path.write_bytes(out.getvalue())


def test_intact_archive_verifies(sealed_archive: Path, capsys) -> None:
    code, out = run_verify(sealed_archive, capsys)
    assert code == 0
    assert "INTACT: 12 segments, 480 records" in out
    assert "TAMPERED" not in out


def test_flipped_byte_names_the_record(sealed_archive: Path, capsys) -> None:
    path = writable(sealed_archive / SEG)
    data = bytearray(path.read_bytes())
    # Record 7 of the segment is offset 57 = event i 172: flip one letter of its request id.
    at = data.index(b"req-000172")
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    code, out = run_verify(sealed_archive, capsys)
    assert code == 1
    assert f"segment={SEG} record=7 offset=57 hash_mismatch" in out
    assert "digest_mismatch" in out
    assert out.count("hash_mismatch") == 1  # the resync keeps it to the damaged record


def test_deleted_record_is_named(sealed_archive: Path, capsys) -> None:
    rewrite(sealed_archive, SEG, lambda records: records.pop(10))
    code, out = run_verify(sealed_archive, capsys)
    assert code == 1
    # The successor of the deleted record no longer chains; the count is one short.
    assert f"segment={SEG} record=10 offset=61 hash_mismatch" in out
    assert "record_count_mismatch" in out


def test_inserted_record_is_named(sealed_archive: Path, capsys) -> None:
    def insert(records: list[dict[str, Any]]) -> None:
        forged = dict(records[20])
        forged["event"] = dict(forged["event"], tenant="tenant-forged")
        records.insert(21, forged)

    rewrite(sealed_archive, SEG, insert)
    code, out = run_verify(sealed_archive, capsys)
    assert code == 1
    assert f"segment={SEG} record=21 offset=70 offset_order" in out
    assert f"segment={SEG} record=21 offset=70 hash_mismatch" in out


def test_reordered_records_are_named(sealed_archive: Path, capsys) -> None:
    def swap(records: list[dict[str, Any]]) -> None:
        records[30], records[31] = records[31], records[30]

    rewrite(sealed_archive, SEG, swap)
    code, out = run_verify(sealed_archive, capsys)
    assert code == 1
    assert f"segment={SEG} record=30 offset=81 hash_mismatch" in out
    assert f"segment={SEG} record=31 offset=80 offset_order" in out


def test_rechained_rewrite_is_caught_by_the_signed_manifest(sealed_archive: Path, capsys) -> None:
    """An attacker who drops a record and recomputes every later hash still fails."""

    def drop_and_rechain(records: list[dict[str, Any]]) -> None:
        records.pop(5)
        manifest = Manifest.from_json((sealed_archive / manifest_name(1, 50)).read_bytes())
        prev = bytes.fromhex(manifest.prev_tail_hash)
        with (sealed_archive / SEG).open("rb") as handle:
            schema = json.loads(reader(handle).metadata["avro.schema"])
        encoder = event_encoder(next(b for b in schema["fields"][-1]["type"] if b != "null"))
        for record in records:
            kind, body = event_body(encoder, record)
            assert kind == KIND_EVENT
            record["record_hash"] = record_hash(
                prev,
                partition=1,
                offset=record["offset"],
                kafka_timestamp_ms=record["kafka_timestamp_ms"],
                value_sha256=record["value_sha256"],
                kind=kind,
                body=body,
            )
            prev = record["record_hash"]

    rewrite(sealed_archive, SEG, drop_and_rechain)
    code, out = run_verify(sealed_archive, capsys)
    assert code == 1
    assert f"segment={SEG} tail_hash_mismatch" in out
    assert f"segment={SEG} record=49 record_count_mismatch" in out
    assert "hash_mismatch: record hash" not in out  # the chain itself is consistent


@pytest.mark.parametrize("cut", ["header", "middle", "tail"])
def test_truncated_segment_is_named(sealed_archive: Path, capsys, cut: str) -> None:
    path = writable(sealed_archive / SEG)
    data = path.read_bytes()
    header_end = data.index(b"req-")  # the first record's request id lies just past the header
    keep = {"header": 100, "middle": (header_end + len(data)) // 2, "tail": len(data) - 40}[cut]
    path.write_bytes(data[:keep])
    code, out = run_verify(sealed_archive, capsys)
    assert code == 1
    if cut == "header":
        assert f"segment={SEG} record=0 unreadable_segment" in out
        return
    # The first record that is missing or cut is named, and the count falls short.
    read = [line for line in out.splitlines() if "truncated_or_corrupt" in line]
    assert len(read) == 1 and f"segment={SEG} record=" in read[0]
    index = int(read[0].split("record=")[1].split()[0])
    assert (0 < index < 50) if cut == "middle" else index == 49
    assert f"segment={SEG} record={index} record_count_mismatch" in out


@pytest.mark.parametrize("which", [0, 50, 150])
def test_missing_segment_is_named(sealed_archive: Path, capsys, which: int) -> None:
    for name in (segment_name(1, which), manifest_name(1, which)):
        writable(sealed_archive / name).unlink()
    code, out = run_verify(sealed_archive, capsys)
    if which == 150:
        # The newest segment's removal leaves a valid, shorter chain: verify cannot see it by
        # itself, but it prints each partition's tail for comparison with the topic.
        assert code == 0
        assert "partition 1: segments=3 records=150 last_offset=149" in out
        return
    assert code == 1
    following = segment_name(1, which + 50)
    assert f"partition=1 segment={following} missing_segment" in out
    assert f"partition=1 segment={following} chain_break" in out
    assert "hash_mismatch" not in out  # the records themselves are intact


def test_missing_segment_file_with_manifest(sealed_archive: Path, capsys) -> None:
    writable(sealed_archive / SEG).unlink()
    code, out = run_verify(sealed_archive, capsys)
    assert code == 1
    assert f"segment={SEG} missing_segment: manifest present but segment file missing" in out


def test_forged_manifest_is_named(sealed_archive: Path, capsys) -> None:
    path = writable(sealed_archive / manifest_name(1, 50))
    manifest = Manifest.from_json(path.read_bytes())
    path.write_bytes(replace(manifest, record_count=49, last_offset=98).to_json())
    code, out = run_verify(sealed_archive, capsys)
    assert code == 1
    assert f"segment={SEG} bad_signature" in out


def test_manifest_resigned_with_another_key_is_rejected(sealed_archive: Path, capsys) -> None:
    intruder = Signer(Ed25519PrivateKey.generate())
    path = writable(sealed_archive / manifest_name(1, 50))
    manifest = Manifest.from_json(path.read_bytes())
    path.write_bytes(replace(manifest, record_count=49).signed(intruder).to_json())
    code, out = run_verify(sealed_archive, capsys)
    assert code == 1
    assert f"segment={SEG} unknown_key" in out
    # Even if the intruder also plants their public key in the archive, a pinned key rejects it.
    (sealed_archive / "keys" / f"{intruder.key_id}.pem").write_bytes(
        public_pem(intruder.public_key)
    )
    code, _ = run_verify(sealed_archive, capsys)
    assert code == 1  # the count no longer matches the segment
    trusted = sealed_archive.parent / "trusted.pem"
    original = next(p for p in (sealed_archive / "keys").iterdir() if intruder.key_id not in p.name)
    trusted.write_bytes(original.read_bytes())
    code, out = run_verify(sealed_archive, capsys, "--public-key", str(trusted))
    assert code == 1
    assert f"segment={SEG} unknown_key" in out


def test_unexpected_object_and_missing_manifest(sealed_archive: Path, capsys) -> None:
    (sealed_archive / "p00001" / "notes.txt").write_text("x")
    writable(sealed_archive / manifest_name(2, 100)).unlink()
    code, out = run_verify(sealed_archive, capsys)
    assert code == 1
    assert "unexpected_object" in out
    assert f"segment={segment_name(2, 100)} missing_manifest" in out


def test_verify_json_report(sealed_archive: Path, capsys) -> None:
    code, out = run_verify(sealed_archive, capsys, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["records"] == 480
    assert report["partitions"]["0"]["last_offset"] == 159
    assert report["partitions"]["0"]["tail_hash"] != GENESIS.hex()


def test_verify_missing_directory_is_an_error(tmp_path: Path) -> None:
    assert main(["verify", str(tmp_path / "absent")]) == 2


def test_manifest_digest_matches_segment(sealed_archive: Path) -> None:
    manifest = Manifest.from_json((sealed_archive / manifest_name(0, 0)).read_bytes())
    data = (sealed_archive / manifest.segment).read_bytes()
    assert manifest.segment_sha256 == hashlib.sha256(data).hexdigest()
