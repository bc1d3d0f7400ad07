"""Building blocks shared by the stages: origins, outgoing records, sealing, audit and DLQ.

Nothing here ever puts record text into a log, an exception, an audit event or a dead letter:
audit events carry counts, codes and a keyed HMAC; dead letters carry topic, partition, offset,
stage and error class.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.deid.crypto import NONCE_BYTES, Keyring
from pipeline.errors import PipelineError, safe_reason
from pipeline.serde import AvroCodec, RecordType

#: uuid5 namespace for deterministic audit event ids: a replayed stage (at-least-once) emits
#: the same event id again, so the archive and replay can tell a duplicate from a new event.
AUDIT_NAMESPACE = uuid.UUID("6f1c1a52-52a4-4f55-9a3b-7d0c8e1e3b10")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an input record came from (for the DLQ and the audit trail)."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Out:
    """One record a stage wants produced, already encoded.

    ``handoff`` is set instead of ``value`` for a record bound for a chained stage in the same
    worker (:func:`pipeline.streaming.stages.follow_chain`): the plain record, never encoded,
    never produced.
    """

    topic: str
    key: bytes
    value: bytes
    handoff: Any = None


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC, at millisecond precision."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def message_aad(request_id: str, purpose: str, index: int) -> bytes:
    """Additional authenticated data binding a ciphertext to its request, topic role and slot.

    A ciphertext copied into another request or message position fails authentication.
    """
    return f"phi-pipeline|{purpose}|{request_id}|{index}".encode()


def seal_text(keyring: Keyring, text: str, aad: bytes) -> dict[str, Any]:
    """Encrypt ``text`` (AES-256-GCM) into an ``EncryptedText`` record."""
    blob = keyring.seal(text.encode("utf-8"), aad)
    return {
        "key_id": keyring.key_id,
        "algorithm": "AES-256-GCM",
        "nonce": blob[:NONCE_BYTES],
        "ciphertext": blob[NONCE_BYTES:],
    }


def open_text(keyring: Keyring, record: Mapping[str, Any], aad: bytes) -> str:
    """Decrypt an ``EncryptedText`` record (any key id the key provider knows)."""
    ring = keyring.for_key_id(str(record["key_id"]))
    plain = ring.open(bytes(record["nonce"]) + bytes(record["ciphertext"]), aad)
    return plain.decode("utf-8")


def seal_ref(keyring: Keyring, request_id: str, value: str) -> str:
    """Seal a short value (a vault scope) into an opaque string bound to ``request_id``."""
    blob = keyring.seal(value.encode("utf-8"), f"ref|{request_id}".encode())
    return f"{keyring.key_id}:{base64.urlsafe_b64encode(blob).decode('ascii')}"


def open_ref(keyring: Keyring, request_id: str, ref: str) -> str:
    """Reverse :func:`seal_ref`."""
    key_id, _, data = ref.rpartition(":")
    blob = base64.urlsafe_b64decode(data.encode("ascii"))
    plain = keyring.for_key_id(key_id).open(blob, f"ref|{request_id}".encode())
    return plain.decode("utf-8")


def seal_messages(
    keyring: Keyring, request_id: str, purpose: str, messages: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Encrypt the content of each chat message (role stays readable for routing)."""
    return [
        {
            "role": m["role"],
            "content": seal_text(keyring, str(m["content"]), message_aad(request_id, purpose, i)),
        }
        for i, m in enumerate(messages)
    ]


def open_messages(
    keyring: Keyring, request_id: str, purpose: str, messages: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """Reverse :func:`seal_messages`."""
    return [
        {
            "role": str(m["role"]),
            "content": open_text(keyring, m["content"], message_aad(request_id, purpose, i)),
        }
        for i, m in enumerate(messages)
    ]


def audit_event(
    codec: AvroCodec,
    topic: str,
    stage: str,
    ident: Mapping[str, Any],
    *,
    deterministic: bool = True,
    **fields: Any,
) -> Out:
    """Encode one metadata-only audit event.

    Args:
        codec: the Avro codec.
        topic: the audit topic.
        stage: which stage (or event kind) emits it.
        ident: the record's identity fields (request_id, tenant, user_id, session_id).
        deterministic: derive ``event_id`` from (request, stage) so a replay repeats it; use
            ``False`` for events that are genuinely new each time (a provider call attempt).
        fields: any other ``AuditEvent`` fields (counts, codes, versions; never text).
    """
    request_id = str(ident["request_id"])
    event_id = (
        uuid.uuid5(AUDIT_NAMESPACE, f"{request_id}|{stage}") if deterministic else uuid.uuid4()
    )
    record: dict[str, Any] = {
        "event_id": event_id,
        "timestamp": utcnow(),
        "stage": stage,
        "request_id": request_id,
        "tenant": str(ident.get("tenant") or ""),
        "user_id": ident.get("user_id"),
        "session_id": ident.get("session_id"),
        "phi_categories": {},
        "detail": {},
    }
    record.update(fields)
    return Out(topic, request_id.encode(), codec.encode(RecordType.AUDIT_EVENT, record))


def dead_letter(
    codec: AvroCodec,
    dlq_topic: str,
    audit_topic: str,
    stage: str,
    origin: Origin,
    exc: BaseException,
    ident: Mapping[str, Any] | None = None,
) -> list[Out]:
    """Encode the DLQ record (and its audit event) for a record a stage could not handle.

    Only metadata goes out: topic, partition, offset, stage, error class and reason code.
    """
    reason = exc.reason if isinstance(exc, PipelineError) else "unexpected_error"
    request_id = str(ident["request_id"]) if ident and ident.get("request_id") else None
    tenant = str(ident["tenant"]) if ident and ident.get("tenant") else None
    record = {
        "source_topic": origin.topic,
        "source_partition": origin.partition,
        "source_offset": origin.offset,
        "stage": stage,
        "error_class": type(exc).__name__,
        "reason": reason,
        "request_id": request_id,
        "tenant": tenant,
        "timestamp": utcnow(),
        "attempts": 1,
    }
    key = (request_id or f"{origin.topic}:{origin.partition}:{origin.offset}").encode()
    outs = [Out(dlq_topic, key, codec.encode(RecordType.DEAD_LETTER, record))]
    if request_id is not None and ident is not None:
        outs.append(
            audit_event(
                codec,
                audit_topic,
                "dlq",
                ident,
                response_status="dead_lettered",
                detail={"failed_stage": stage, "reason": reason, "error": safe_reason(exc)},
            )
        )
    return outs
