"""Encode records to framed Avro bytes and decode them back, with typed errors only.

One :class:`AvroCodec` serves every record type. Without a Schema Registry it writes the Avro
single-object encoding; with one it writes the Confluent wire format. It reads both, whatever
it writes. Decoding resolves the writer schema (found by fingerprint or registry id) against the
current reader schema, so records written with an older compatible schema still decode.

PHI hygiene: record values can be PHI, and fastavro's own error messages quote the offending
value. So errors raised here name the record type, the field and the cause's *class*, and the
fastavro cause is suppressed (``from None``) rather than chained: a logged traceback would
otherwise print the chained message. This is the one deliberate exception to "wrap with from exc".
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from pipeline.config import Settings, TopicSettings
from pipeline.errors import SchemaError, TruncatedRecordError, UnknownSchemaError, WrongSchemaError
from pipeline.serde.framing import Framing, frame_confluent, frame_single_object, read_header
from pipeline.serde.registry import SchemaRegistryClient, subject_for_topic
from pipeline.serde.schemas import (
    TOPIC_SETTING,
    RecordType,
    SchemaInfo,
    SchemaSet,
    load_schema_set,
    parse_schema_text,
)

Record = dict[str, Any]


class AvroCodec:
    """Encode and decode every record type of the pipeline.

    Thread-safe; build one per process (it holds parsed schemas and registry caches).
    """

    def __init__(
        self,
        schemas: SchemaSet | None = None,
        *,
        registry: SchemaRegistryClient | None = None,
        topics: TopicSettings | None = None,
    ) -> None:
        """Create a codec.

        Args:
            schemas: the schema set; ``None`` loads the repository's ``schemas/``.
            registry: a Schema Registry client; when given, ``encode`` writes the Confluent
                wire format and registers schemas under ``<topic>-value``.
            topics: topic names, used for the registry subject when ``encode`` gets no topic.
        """
        self.schemas = schemas or load_schema_set()
        self.registry = registry
        self.topics = topics or TopicSettings()
        self._lock = threading.Lock()
        # registry id -> the writer schema it names (parsed once per id).
        self._by_id: dict[int, SchemaInfo] = {}

    def __repr__(self) -> str:
        return f"AvroCodec(schemas={str(self.schemas.directory)!r}, registry={self.registry!r})"

    def encode(
        self, record_type: RecordType, record: Mapping[str, Any], *, topic: str | None = None
    ) -> bytes:
        """Validate ``record`` against the current schema and return the framed bytes.

        Fields with a default may be omitted; unknown fields are refused (a typo would
        otherwise be dropped silently).

        Args:
            record_type: which schema to write with.
            record: the record as a mapping (``datetime`` for timestamps, ``uuid.UUID`` or a
                UUID string for uuid fields, ``bytes`` for bytes).
            topic: the topic it goes to; only used for the registry subject. Defaults to the
                record type's topic from the settings (provider requests must pass it).

        Raises:
            SchemaError: the record does not match the schema (the message names the field,
                never the value), or the registry refused or could not be reached.
        """
        info = self.schemas.get(record_type)
        _check_shape(info, record)
        buffer = io.BytesIO()
        try:
            schemaless_writer(buffer, info.parsed, record, strict_allow_default=True)
        except Exception as exc:  # fastavro raises many kinds; see module doc
            # The full validation is slow (half the cost of an encode), so it only runs to
            # name the offending field once the writer has refused the record.
            _check_record(info, record)
            raise SchemaError(
                f"{record_type} record could not be encoded ({type(exc).__name__})",
                reason="invalid_record",
            ) from None
        body = buffer.getvalue()
        if self.registry is None:
            return frame_single_object(info.fingerprint, body)
        subject = subject_for_topic(topic or self.default_topic(record_type))
        schema_id = self.registry.register(subject, info.text)
        with self._lock:
            self._by_id.setdefault(schema_id, info)
        return frame_confluent(schema_id, body)

    def decode(self, expected: RecordType, data: bytes) -> Record:
        """Decode framed bytes into a record of the ``expected`` type.

        Accepts both framings. Timestamps decode to timezone-aware UTC ``datetime``, uuid
        fields to ``uuid.UUID``; missing fields an older writer did not have get their
        defaults.

        Args:
            expected: the record type the topic carries.
            data: the Kafka message value.

        Raises:
            TruncatedRecordError: the bytes end early.
            BadFramingError: neither framing.
            UnknownSchemaError: the fingerprint or registry id is not known.
            WrongSchemaError: the writer schema is another record type.
            SchemaError: the body does not decode (reason ``undecodable_body``), bytes are
                left after it (``trailing_bytes``), or the registry could not be reached.
        """
        header = read_header(data)
        if header.framing is Framing.SINGLE_OBJECT:
            writer = self.schemas.lookup(header.fingerprint)
        else:
            writer = self._writer_for_id(header.schema_id, expected)
        if writer.record_type is not expected:
            raise WrongSchemaError(f"expected a {expected} record, got {writer.record_type}")
        reader = self.schemas.get(expected)
        return _read_body(data, header.body_offset, writer, reader)

    def default_topic(self, record_type: RecordType) -> str:
        """Return the configured topic of ``record_type``.

        Raises:
            SchemaError: the record type has no single topic (provider requests).
        """
        attribute = TOPIC_SETTING[record_type]
        if attribute is None:
            raise SchemaError(
                f"{record_type} has one topic per provider; pass topic=",
                reason="topic_required",
            )
        return str(getattr(self.topics, attribute))

    def serde(self, record_type: RecordType, *, topic: str | None = None) -> Serde:
        """Return a :class:`Serde` bound to one record type (and topic)."""
        return Serde(self, record_type, topic)

    def _writer_for_id(self, schema_id: int, expected: RecordType) -> SchemaInfo:
        with self._lock:
            known = self._by_id.get(schema_id)
        if known is not None:
            return known
        if self.registry is None:
            raise UnknownSchemaError(
                f"record names registry schema id {schema_id} but no registry is configured"
            )
        text = self.registry.get_schema(schema_id)
        # Which record type is it? Match the full name against the known types; a
        # schema whose name is none of ours is the wrong schema for any topic.
        probe = parse_schema_text(text, expected)
        local = self.schemas.by_fingerprint.get(probe.fingerprint)
        if local is not None:
            # The registry's copy is one we know: decode without a resolution step.
            with self._lock:
                self._by_id[schema_id] = local
            return local
        by_name = {s.fullname: s.record_type for s in self.schemas.current.values()}
        record_type = by_name.get(probe.fullname)
        if record_type is None:
            raise WrongSchemaError(f"registry schema id {schema_id} is not a pipeline record")
        info = probe if record_type is expected else parse_schema_text(text, record_type)
        with self._lock:
            self._by_id[schema_id] = info
        return info


@dataclass(frozen=True, slots=True)
class Serde:
    """A codec bound to one record type and topic: ``encode(record)``, ``decode(data)``."""

    codec: AvroCodec
    record_type: RecordType
    topic: str | None = None

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Encode ``record`` (see :meth:`AvroCodec.encode`)."""
        return self.codec.encode(self.record_type, record, topic=self.topic)

    def decode(self, data: bytes) -> Record:
        """Decode ``data`` (see :meth:`AvroCodec.decode`)."""
        return self.codec.decode(self.record_type, data)


def build_codec(settings: Settings, *, schemas: SchemaSet | None = None) -> AvroCodec:
    """Build the process's codec from the settings (a registry client if a URL is set).

    Args:
        settings: the frozen settings; ``kafka.schema_registry_url`` selects the framing.
        schemas: the schema set; ``None`` loads the repository's ``schemas/``.
    """
    url = settings.kafka.schema_registry_url
    registry = SchemaRegistryClient(url) if url else None
    return AvroCodec(schemas, registry=registry, topics=settings.topics)


def _check_shape(info: SchemaInfo, record: Mapping[str, Any]) -> None:
    """The cheap checks the Avro writer does not make: a mapping, no unknown fields, UUIDs."""
    if not isinstance(record, Mapping):
        raise SchemaError(f"{info.record_type} record must be a mapping", reason="invalid_record")
    if not info.field_names.issuperset(record):
        extra = len(set(record) - info.field_names)
        raise SchemaError(
            f"{info.record_type} record has {extra} field(s) not in the schema",
            reason="invalid_record",
        )
    for name in info.uuid_fields:
        value = record.get(name)
        if isinstance(value, str):
            try:
                uuid.UUID(value)
            except ValueError:
                raise SchemaError(
                    f"{info.record_type} field {name} is not a UUID", reason="invalid_record"
                ) from None


def _check_record(info: SchemaInfo, record: Mapping[str, Any]) -> None:
    """Validate the whole record; raise a :class:`SchemaError` naming the fields that fail."""
    try:
        validate(record, info.parsed, raise_errors=True, strict=False)
    except ValidationError as exc:
        fields = sorted({_field_name(e.field) for e in exc.errors})
        raise SchemaError(
            f"{info.record_type} record does not match the schema at {', '.join(fields)}",
            reason="invalid_record",
        ) from None
    except Exception as exc:  # the validator can raise on odd types
        raise SchemaError(
            f"{info.record_type} record does not validate ({type(exc).__name__})",
            reason="invalid_record",
        ) from None


def _field_name(path: object) -> str:
    # fastavro reports "io.phipipeline.v1.Record.field"; keep the part after the record name.
    text = str(path)
    return text.split(".")[-1] if text else "<record>"


def _read_body(data: bytes, offset: int, writer: SchemaInfo, reader: SchemaInfo) -> Record:
    stream = io.BytesIO(data)
    stream.seek(offset)
    # Same schema: skip resolution (faster); otherwise let Avro resolution fill defaults.
    reader_schema = None if writer is reader else reader.parsed
    try:
        record = schemaless_reader(stream, writer.parsed, reader_schema)
    except EOFError:
        raise TruncatedRecordError(f"{reader.record_type} body ends early") from None
    except IndexError as exc:
        # fastavro's compiled reader raises IndexError when a varint runs past the buffer
        # (a truncated body) but also for an out-of-range enum or union index (garbage).
        if "string index" in str(exc):
            raise TruncatedRecordError(f"{reader.record_type} body ends early") from None
        raise SchemaError(
            f"{reader.record_type} body does not decode (IndexError)", reason="undecodable_body"
        ) from None
    except Exception as exc:  # garbage can fail in many ways; see module doc
        raise SchemaError(
            f"{reader.record_type} body does not decode ({type(exc).__name__})",
            reason="undecodable_body",
        ) from None
    if stream.tell() != len(data):
        raise SchemaError(
            f"{reader.record_type} record has {len(data) - stream.tell()} trailing bytes",
            reason="trailing_bytes",
        )
    if not isinstance(record, dict):
        raise SchemaError(f"{reader.record_type} body is not a record", reason="undecodable_body")
    return record
