"""Fixtures for the audit archive tests: events, a codec, and archivers over a temp dir."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastavro import schemaless_writer

from pipeline.audit.archiver import ArchiverConfig, AuditArchiver, load_audit_schema_json
from pipeline.audit.signing import Signer
from pipeline.audit.storage import LocalDirectoryStorage
from pipeline.serde import AvroCodec, RecordType
from pipeline.serde.framing import frame_single_object

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def make_event(i: int, **overrides: Any) -> dict[str, Any]:
    """A synthetic, PHI-free audit event; ``i`` drives time, request id and tenant."""
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": uuid.UUID(int=i + 1),
        "timestamp": BASE_TIME + timedelta(milliseconds=10 * i),
        "stage": "detect",
        "request_id": f"req-{i:06d}",
        "tenant": f"tenant-{i % 3}",
        "user_id": None,
        "session_id": None,
        "api_provider": None,
        "model": None,
        "input_token_count": None,
        "output_token_count": None,
        "phi_present": True,
        "phi_categories": {"NAME": 1 + i % 2, "DATE": 1},
        "input_hmac": f"{i:064x}",
        "hmac_key_id": "dev-1",
        "response_status": "ok",
        "latency_ms": i % 50,
        "data_residency_region": None,
        "baa_reference_id": None,
        "policy_decision": None,
        "policy_reason": None,
        "policy_version": None,
        "detector_version": "detect.v1",
        "detail": {"profile": "fast", "offset": str(i)},
    }
    event.update(overrides)
    return event


@pytest.fixture(scope="session")
def codec() -> AvroCodec:
    return AvroCodec()


@pytest.fixture(scope="session")
def audit_schema_json(codec: AvroCodec) -> dict[str, Any]:
    return load_audit_schema_json(codec.schemas.directory)


@pytest.fixture(scope="session")
def fast_encode(codec: AvroCodec) -> Callable[[dict[str, Any]], bytes]:
    """Frame an event as the codec would, skipping its per-record validation (for bulk tests)."""
    info = codec.schemas.get(RecordType.AUDIT_EVENT)

    def encode(event: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        schemaless_writer(buf, info.parsed, event)
        return frame_single_object(info.fingerprint, buf.getvalue())

    return encode


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


class Clock:
    """A hand-driven monotonic clock for time-based rotation."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def archive_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "archive"
    yield path
    # Sealed objects are read-only; make them writable so tmp_path cleanup works.
    for p in path.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)


@pytest.fixture
def new_archiver(
    archive_dir: Path,
    codec: AvroCodec,
    audit_schema_json: dict[str, Any],
    signer: Signer,
    clock: Clock,
) -> Callable[..., AuditArchiver]:
    """``new_archiver(**config)``: a fresh archiver over the same directory (a "restart")."""

    def build(**config: Any) -> AuditArchiver:
        settings = {"topic": "phi.audit", "max_records": 50, **config}
        return AuditArchiver(
            LocalDirectoryStorage(archive_dir),
            signer,
            lambda data: codec.decode(RecordType.AUDIT_EVENT, data),
            audit_schema_json,
            ArchiverConfig(**settings),
            clock=clock,
        )

    return build


@pytest.fixture(scope="session")
def event_factory() -> Callable[..., dict[str, Any]]:
    return make_event


def feed(
    archiver: AuditArchiver,
    encode: Callable[[dict[str, Any]], bytes],
    count: int,
    *,
    partitions: int = 3,
    start: int = 0,
) -> list[Any]:
    """Append events ``start..count-1`` round-robin over partitions (offset = i // partitions)."""
    sealed: list[Any] = []
    for i in range(start, count):
        value = encode(make_event(i))
        sealed += archiver.append(i % partitions, i // partitions, 1_000 + i, value)
    return sealed


@pytest.fixture(scope="session")
def feeder() -> Callable[..., list[Any]]:
    return feed


@pytest.fixture
def sealed_archive(
    new_archiver: Callable[..., AuditArchiver],
    fast_encode: Callable[[dict[str, Any]], bytes],
    archive_dir: Path,
) -> Path:
    """An archive of 480 events: 3 partitions x 160 records, segments of 50 (4 per partition)."""
    archiver = new_archiver(max_records=50)
    feed(archiver, fast_encode, 480)
    archiver.seal()
    return archive_dir
