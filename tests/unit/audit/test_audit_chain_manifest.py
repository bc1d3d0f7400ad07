"""Chain hashes, manifest signing and key handling."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipeline.audit.chain import GENESIS, KIND_EVENT, KIND_UNDECODABLE, normalise, record_hash
from pipeline.audit.manifest import MANIFEST_FORMAT, Manifest
from pipeline.audit.signing import Signer, generate_keypair, key_id, load_public_key, load_signer
from pipeline.audit.storage import LocalDirectoryStorage
from pipeline.errors import AuditError, ConfigError

BASE = {
    "partition": 0,
    "offset": 5,
    "kafka_timestamp_ms": 1000,
    "value_sha256": bytes(range(32)),
    "kind": KIND_EVENT,
    "body": b"body",
}


def test_record_hash_is_deterministic_and_binds_every_input() -> None:
    reference = record_hash(GENESIS, **BASE)
    assert reference == record_hash(GENESIS, **BASE)
    assert len(reference) == 32
    variants = [
        {"partition": 1},
        {"offset": 6},
        {"kafka_timestamp_ms": 1001},
        {"value_sha256": bytes(32)},
        {"kind": KIND_UNDECODABLE},
        {"body": b"bodz"},
    ]
    seen = {reference}
    for change in variants:
        digest = record_hash(GENESIS, **{**BASE, **change})
        assert digest not in seen, change
        seen.add(digest)
    assert record_hash(b"\x01" * 32, **BASE) != reference


def test_record_hash_rejects_short_inputs() -> None:
    with pytest.raises(AuditError):
        record_hash(b"short", **BASE)


def test_normalise_sorts_map_fields_only() -> None:
    event = {"detail": {"b": "1", "a": "2"}, "tenant": "t", "phi_categories": {"NAME": 1}}
    out = normalise(event, ("detail", "phi_categories"))
    assert list(out["detail"]) == ["a", "b"]
    assert list(event["detail"]) == ["b", "a"]  # the input is not mutated


def _manifest() -> Manifest:
    return Manifest(
        format=MANIFEST_FORMAT,
        topic="phi.audit",
        partition=0,
        sequence=0,
        segment="p00000/00000000000000000000.avro",
        first_offset=0,
        last_offset=9,
        record_count=10,
        undecodable_count=0,
        min_event_ts_ms=1,
        max_event_ts_ms=2,
        head_hash="00" * 32,
        tail_hash="11" * 32,
        prev_tail_hash="00" * 32,
        segment_sha256="22" * 32,
        segment_bytes=100,
        created_at="2026-01-01T00:00:00+00:00",
        key_id="",
    )


def test_manifest_signature_round_trip_and_tamper() -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    signed = _manifest().signed(signer)
    assert signed.key_id == signer.key_id
    parsed = Manifest.from_json(signed.to_json())
    assert parsed == signed
    assert parsed.signature_valid(signer.public_key)
    assert not replace(parsed, record_count=11).signature_valid(signer.public_key)
    assert not replace(parsed, signature="not base64!").signature_valid(signer.public_key)
    other = Signer(Ed25519PrivateKey.generate())
    assert not parsed.signature_valid(other.public_key)


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[]", b'{"format": "x"}'],
)
def test_manifest_from_json_rejects_malformed(data: bytes) -> None:
    with pytest.raises(AuditError):
        Manifest.from_json(data)


def test_manifest_from_json_rejects_wrong_types() -> None:
    text = _manifest().to_json().replace(b'"record_count": 10', b'"record_count": "10"')
    with pytest.raises(AuditError):
        Manifest.from_json(text)


def test_keygen_writes_private_0600_and_refuses_overwrite(tmp_path: Path) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    kid = generate_keypair(private, public)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    signer = load_signer(private)
    assert signer.key_id == kid == key_id(load_public_key(public.read_bytes()))
    assert "PRIVATE" not in repr(signer)
    with pytest.raises(ConfigError):
        generate_keypair(private, public)
    assert generate_keypair(private, public, overwrite=True) != kid


def test_load_signer_rejects_missing_and_non_ed25519(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_signer(tmp_path / "absent.pem")
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError):
        load_signer(bad)
    with pytest.raises(AuditError):
        load_public_key(b"nope")


def test_local_storage_is_write_once_and_read_only(tmp_path: Path) -> None:
    storage = LocalDirectoryStorage(tmp_path / "a")
    storage.put("p00000/x.json", b"one")
    assert storage.read("p00000/x.json") == b"one"
    assert storage.list() == ["p00000/x.json"]
    assert not (tmp_path / "a" / "p00000" / "x.json").stat().st_mode & stat.S_IWUSR
    with pytest.raises(AuditError) as info:
        storage.put("p00000/x.json", b"two")
    assert info.value.reason == "exists"
    assert storage.read("p00000/x.json") == b"one"
    for bad in ("../escape", ".staging/x", "", "a//b"):
        with pytest.raises(AuditError):
            storage.exists(bad)
    with pytest.raises(AuditError):
        storage.read("p00000/absent")
    (tmp_path / "a" / "p00000" / "x.json").chmod(0o644)


def test_keygen_command(tmp_path: Path, capsys, monkeypatch) -> None:
    from pipeline.audit.__main__ import main

    monkeypatch.delenv("PHI_KEYS__AUDIT_SIGNING_KEY_FILE", raising=False)

    private = tmp_path / "keys" / "audit.pem"
    assert main(["keygen", "--private", str(private)]) == 0
    out = capsys.readouterr().out
    public = tmp_path / "keys" / "audit.pub.pem"
    assert f"key_id={load_signer(private).key_id}" in out and public.is_file()
    assert main(["keygen", "--private", str(private)]) == 2  # never overwritten by accident
    assert main(["archive", "--archive-dir", str(tmp_path / "a")]) == 2  # no signing key
