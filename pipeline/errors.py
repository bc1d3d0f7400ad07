"""One exception tree for the whole pipeline.

Every error the pipeline raises derives from :class:`PipelineError`. Messages never carry
record text: they name what failed (a field, an offset, an error class), so an exception that
reaches a log, the DLQ or an audit record cannot leak PHI. Third-party errors are wrapped with
``raise ... from exc``; callers that must not leak the cause's message use :func:`safe_reason`.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Root of every error the pipeline raises on purpose.

    Attributes:
        reason: a short, stable, machine-readable reason code (for the DLQ and audit).
    """

    reason: str = "pipeline_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class ConfigError(PipelineError):
    """Settings, policy or profile files are missing or invalid."""

    reason = "config_error"


class SchemaError(PipelineError):
    """A record could not be encoded or decoded against its Avro schema."""

    reason = "schema_error"


class TruncatedRecordError(SchemaError):
    """The bytes end before the framing or the Avro body is complete."""

    reason = "truncated_record"


class UnknownSchemaError(SchemaError):
    """The framing names a schema (fingerprint or registry id) that is not known."""

    reason = "unknown_schema"


class WrongSchemaError(SchemaError):
    """The record is valid Avro but of a different schema than the topic expects."""

    reason = "wrong_schema"


class BadFramingError(SchemaError):
    """The bytes carry neither the Confluent nor the single-object framing."""

    reason = "bad_framing"


class InvalidInputError(PipelineError):
    """A record decoded but its content cannot be processed (empty, too large, not UTF-8)."""

    reason = "invalid_input"


class DetectionError(PipelineError):
    """PHI detection failed; the record must not move on (fail closed)."""

    reason = "detection_failed"


class DeidError(PipelineError):
    """De-identification failed or its leak gate found residual PHI (fail closed)."""

    reason = "deid_failed"


class LeakDetectedError(DeidError):
    """The leak gate found PHI left in de-identified text."""

    reason = "leak_gate_failed"


class CryptoError(PipelineError):
    """Encryption, decryption or key lookup failed."""

    reason = "crypto_error"


class PolicyError(PipelineError):
    """Policy routing could not decide, or the request names an unknown tenant or provider."""

    reason = "policy_error"


class ProviderError(PipelineError):
    """A call to an LLM provider failed after its retries."""

    reason = "provider_error"


class AuditError(PipelineError):
    """The audit trail could not be written, or verification found tampering."""

    reason = "audit_error"


class StreamingError(PipelineError):
    """A stage's output could not be delivered to Kafka (its input is not acknowledged)."""

    reason = "streaming_error"


class KafkaLauncherError(PipelineError):
    """The embedded Kafka broker could not be fetched, started or stopped."""

    reason = "kafka_launcher_error"


class PipelinePredicate(Exception):
    """Control flow, not failure: base of signals such as skipping a record."""


class SkipRecord(PipelinePredicate):
    """The record was already handled (an idempotent replay) and is skipped on purpose."""


def safe_reason(exc: BaseException) -> str:
    """Return a PHI-free description of ``exc``: its reason code and class name, never its text.

    Args:
        exc: any exception, ours or third-party.

    Returns:
        ``"<reason>:<ClassName>"`` for our errors, ``"unexpected:<ClassName>"`` otherwise.
    """
    if isinstance(exc, PipelineError):
        return f"{exc.reason}:{type(exc).__name__}"
    return f"unexpected:{type(exc).__name__}"
