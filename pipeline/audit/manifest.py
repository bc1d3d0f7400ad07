"""Segment manifests: what a sealed segment holds, signed with Ed25519.

A manifest is a JSON object stored next to its segment. ``signature`` is the base64 Ed25519
signature of the *canonical JSON* of every other field (keys sorted, no whitespace, ASCII), so
the file's own formatting is irrelevant and any changed value breaks the signature.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pipeline.audit.signing import Signer, verify_signature
from pipeline.errors import AuditError

#: Format tag of manifests written by this version.
MANIFEST_FORMAT = "phi-audit-segment/1"


@dataclass(frozen=True)
class Manifest:
    """One sealed segment's description.

    Attributes:
        format: :data:`MANIFEST_FORMAT`.
        topic: the Kafka topic archived.
        partition: the Kafka partition.
        sequence: 0 for the partition's first segment, then 1, 2, ...
        segment: storage name of the segment file.
        first_offset: Kafka offset of the first record.
        last_offset: Kafka offset of the last record.
        record_count: number of records in the segment.
        undecodable_count: records archived as "undecodable" markers.
        min_event_ts_ms: smallest event timestamp in the segment (for replay pruning).
        max_event_ts_ms: largest event timestamp in the segment.
        head_hash: chain hash of the first record (hex).
        tail_hash: chain hash of the last record (hex).
        prev_tail_hash: tail hash of the previous segment, or the genesis hash (hex).
        segment_sha256: SHA-256 of the segment file bytes (hex).
        segment_bytes: size of the segment file.
        created_at: ISO 8601 UTC time the segment was sealed.
        key_id: id of the signing key.
        signature: base64 Ed25519 signature over :meth:`signed_payload`.
    """

    format: str
    topic: str
    partition: int
    sequence: int
    segment: str
    first_offset: int
    last_offset: int
    record_count: int
    undecodable_count: int
    min_event_ts_ms: int | None
    max_event_ts_ms: int | None
    head_hash: str
    tail_hash: str
    prev_tail_hash: str
    segment_sha256: str
    segment_bytes: int
    created_at: str
    key_id: str
    signature: str = ""

    def signed_payload(self) -> bytes:
        """Return the canonical JSON bytes the signature covers (every field but the signature)."""
        body = asdict(self)
        body.pop("signature")
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def signed(self, signer: Signer) -> Manifest:
        """Return a copy carrying ``signer``'s key id and signature."""
        unsigned = replace(self, key_id=signer.key_id, signature="")
        signature = signer.sign(unsigned.signed_payload())
        return replace(unsigned, signature=base64.b64encode(signature).decode("ascii"))

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        """Return whether the signature verifies under ``public_key``."""
        try:
            signature = base64.b64decode(self.signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        return verify_signature(public_key, signature, self.signed_payload())

    def to_json(self) -> bytes:
        """Return the manifest file content (indented JSON; formatting is not signed)."""
        return (json.dumps(asdict(self), sort_keys=True, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse a manifest file.

        Raises:
            AuditError: not JSON, or fields are missing, unknown, or of the wrong type.
        """
        try:
            raw: Any = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AuditError("manifest is not valid JSON", reason="bad_manifest") from exc
        names = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) != names:
            raise AuditError("manifest fields are missing or unexpected", reason="bad_manifest")
        for f in fields(cls):
            value = raw[f.name]
            expected = str(f.type)
            ok = (
                isinstance(value, str)
                if expected == "str"
                else (value is None or _is_int(value))
                if expected == "int | None"
                else _is_int(value)
            )
            if not ok:
                raise AuditError(f"manifest field {f.name} has a wrong type", reason="bad_manifest")
        return cls(**raw)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
