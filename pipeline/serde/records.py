"""Typed views of the records, for mypy: one ``TypedDict`` per schema in ``schemas/``.

The ``.avsc`` files stay the source of truth; a unit test checks these keys against them.
``NotRequired`` marks fields with a schema default (a writer may omit them; a decoded record
always has them). Timestamps are timezone-aware ``datetime`` (UTC), uuid fields ``uuid.UUID``
when decoded (a UUID string is accepted on encode).

No ``from __future__ import annotations`` here: on Python 3.11 ``TypedDict`` cannot see
``NotRequired`` inside string annotations and would mark every key required.
"""

import uuid
from datetime import datetime
from typing import Literal, NotRequired, TypedDict

from pipeline.serde.schemas import RecordType

Role = Literal["system", "user", "assistant", "tool"]
CompletionStatus = Literal["ok", "blocked", "error", "quarantined"]


class ChatMessage(TypedDict):
    """One chat message in clear (raw, de-identified, provider and quarantine topics)."""

    role: Role
    content: str


class EncryptedText(TypedDict):
    """An AES-256-GCM encrypted text; the 16-byte tag ends ``ciphertext``."""

    key_id: str
    algorithm: NotRequired[str]
    nonce: bytes
    ciphertext: bytes


class EncryptedMessage(TypedDict):
    """A chat message with encrypted text (detected topic)."""

    role: Role
    content: EncryptedText


class DetectedSpan(TypedDict):
    """Offsets of one identifier in ``messages[message_index]``."""

    message_index: int
    start: int
    end: int
    label: str
    score: float
    recognizer: str


class DetectorCoverage(TypedDict):
    """One detector's run for one label."""

    detector: str
    ran: bool
    hits: int


class CategoryCoverage(TypedDict):
    """What the detectors did for one Safe Harbor label."""

    category: str
    detectors: list[DetectorCoverage]
    hits: int


class LeakGateResult(TypedDict):
    """Outcome of the leak gate's re-scan."""

    passed: bool
    residual_spans: NotRequired[int]
    detector_version: str


class Usage(TypedDict):
    """Provider token usage."""

    input_tokens: int
    output_tokens: int


class PromptRequest(TypedDict):
    """phi.prompts.raw."""

    schema_version: NotRequired[int]
    request_id: str
    tenant: str
    user_id: str
    session_id: NotRequired[str | None]
    subject_id: NotRequired[str | None]
    messages: list[ChatMessage]
    target_provider: NotRequired[str | None]
    model: NotRequired[str | None]
    created_at: datetime
    metadata: NotRequired[dict[str, str]]


class DetectedPrompt(TypedDict):
    """phi.prompts.detected."""

    schema_version: NotRequired[int]
    request_id: str
    tenant: str
    user_id: str
    session_id: NotRequired[str | None]
    subject: NotRequired[EncryptedText | None]
    scope_hash: NotRequired[str | None]
    messages: list[EncryptedMessage]
    spans: list[DetectedSpan]
    coverage: list[CategoryCoverage]
    detector_version: str
    phi_present: bool
    target_provider: NotRequired[str | None]
    model: NotRequired[str | None]
    created_at: datetime
    detected_at: datetime


class DeidentifiedPrompt(TypedDict):
    """phi.prompts.deidentified."""

    schema_version: NotRequired[int]
    request_id: str
    tenant: str
    user_id: str
    session_id: NotRequired[str | None]
    messages: list[ChatMessage]
    categories: NotRequired[dict[str, int]]
    phi_present: bool
    deid_profile: str
    leak_gate: LeakGateResult
    scope_hash: NotRequired[str | None]
    vault_ref: NotRequired[str | None]
    detector_version: str
    target_provider: NotRequired[str | None]
    model: NotRequired[str | None]
    created_at: datetime
    deidentified_at: datetime


class ProviderRequest(TypedDict):
    """phi.provider.<name>."""

    schema_version: NotRequired[int]
    request_id: str
    tenant: str
    user_id: str
    session_id: NotRequired[str | None]
    provider: str
    model: str
    messages: list[EncryptedMessage]
    policy_decision: str
    policy_reason: str
    policy_version: str
    baa_reference_id: NotRequired[str | None]
    data_residency_region: NotRequired[str | None]
    raw_allowed: bool
    phi_present: NotRequired[bool]
    phi_categories: NotRequired[dict[str, int]]
    detector_version: NotRequired[str | None]
    vault_ref: NotRequired[str | None]
    created_at: datetime
    routed_at: datetime


class QuarantinedPrompt(TypedDict):
    """phi.prompts.quarantine."""

    schema_version: NotRequired[int]
    request_id: str
    tenant: str
    user_id: str
    session_id: NotRequired[str | None]
    messages: NotRequired[list[ChatMessage]]
    reason_code: str
    policy_decision: NotRequired[str]
    policy_version: NotRequired[str | None]
    target_provider: NotRequired[str | None]
    model: NotRequired[str | None]
    phi_present: NotRequired[bool]
    phi_categories: NotRequired[dict[str, int]]
    detector_version: NotRequired[str | None]
    created_at: datetime
    quarantined_at: datetime


class Completion(TypedDict):
    """phi.completions."""

    schema_version: NotRequired[int]
    request_id: str
    tenant: str
    user_id: NotRequired[str | None]
    session_id: NotRequired[str | None]
    status: CompletionStatus
    completion: NotRequired[str | None]
    completion_encrypted: NotRequired[EncryptedText | None]
    reidentified: NotRequired[bool]
    provider: NotRequired[str | None]
    model: NotRequired[str | None]
    usage: NotRequired[Usage | None]
    latency_ms: NotRequired[int | None]
    finish_reason: NotRequired[str | None]
    error_reason: NotRequired[str | None]
    created_at: datetime


class AuditEvent(TypedDict):
    """phi.audit (metadata only)."""

    schema_version: NotRequired[int]
    event_id: uuid.UUID | str
    timestamp: datetime
    stage: str
    request_id: str
    tenant: str
    user_id: NotRequired[str | None]
    session_id: NotRequired[str | None]
    api_provider: NotRequired[str | None]
    model: NotRequired[str | None]
    input_token_count: NotRequired[int | None]
    output_token_count: NotRequired[int | None]
    phi_present: NotRequired[bool | None]
    phi_categories: NotRequired[dict[str, int]]
    input_hmac: NotRequired[str | None]
    hmac_key_id: NotRequired[str | None]
    response_status: NotRequired[str | None]
    latency_ms: NotRequired[int | None]
    data_residency_region: NotRequired[str | None]
    baa_reference_id: NotRequired[str | None]
    policy_decision: NotRequired[str | None]
    policy_reason: NotRequired[str | None]
    policy_version: NotRequired[str | None]
    detector_version: NotRequired[str | None]
    detail: NotRequired[dict[str, str]]


class DeadLetter(TypedDict):
    """phi.dlq (metadata only, never the payload)."""

    schema_version: NotRequired[int]
    source_topic: str
    source_partition: int
    source_offset: int
    stage: str
    error_class: str
    reason: str
    request_id: NotRequired[str | None]
    tenant: NotRequired[str | None]
    timestamp: datetime
    attempts: NotRequired[int]


#: The TypedDict of each record type (a unit test keeps it in step with the schemas).
RECORD_CLASSES: dict[RecordType, type] = {
    RecordType.PROMPT_REQUEST: PromptRequest,
    RecordType.DETECTED_PROMPT: DetectedPrompt,
    RecordType.DEIDENTIFIED_PROMPT: DeidentifiedPrompt,
    RecordType.PROVIDER_REQUEST: ProviderRequest,
    RecordType.QUARANTINED_PROMPT: QuarantinedPrompt,
    RecordType.COMPLETION: Completion,
    RecordType.AUDIT_EVENT: AuditEvent,
    RecordType.DEAD_LETTER: DeadLetter,
}
