"""Avro serde for every pipeline topic: schemas parsed once, two framings, typed errors.

Typical use (at the edge, once per process)::

    codec = build_codec(settings)
    data = codec.encode(RecordType.AUDIT_EVENT, event)
    event = codec.decode(RecordType.AUDIT_EVENT, data)

See :mod:`pipeline.serde.schemas` for where schemas come from, :mod:`pipeline.serde.framing`
for the wire formats, and :mod:`pipeline.serde.compat` for the evolution check.
"""

from pipeline.serde.codec import AvroCodec, Record, Serde, build_codec
from pipeline.serde.compat import backward_incompatibilities
from pipeline.serde.framing import Framing, Header, read_header
from pipeline.serde.records import (
    RECORD_CLASSES,
    AuditEvent,
    ChatMessage,
    Completion,
    DeadLetter,
    DeidentifiedPrompt,
    DetectedPrompt,
    EncryptedText,
    PromptRequest,
    ProviderRequest,
    QuarantinedPrompt,
)
from pipeline.serde.registry import SchemaRegistryClient, subject_for_topic
from pipeline.serde.schemas import (
    NAMESPACE,
    RecordType,
    SchemaInfo,
    SchemaSet,
    find_schemas_dir,
    load_schema_set,
)

__all__ = [
    "NAMESPACE",
    "RECORD_CLASSES",
    "AuditEvent",
    "AvroCodec",
    "ChatMessage",
    "Completion",
    "DeadLetter",
    "DeidentifiedPrompt",
    "DetectedPrompt",
    "EncryptedText",
    "Framing",
    "Header",
    "PromptRequest",
    "ProviderRequest",
    "QuarantinedPrompt",
    "Record",
    "RecordType",
    "SchemaInfo",
    "SchemaRegistryClient",
    "SchemaSet",
    "Serde",
    "backward_incompatibilities",
    "build_codec",
    "find_schemas_dir",
    "load_schema_set",
    "read_header",
    "subject_for_topic",
]
