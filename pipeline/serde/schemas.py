"""The Avro schemas of every topic, loaded from ``schemas/*.avsc`` and parsed once.

``schemas/`` (the repository's top-level folder) is the source of truth. Each ``<stem>.avsc``
holds the *current* schema of one record type; ``schemas/history/<stem>.v<N>.avsc`` holds
earlier versions, kept so that records written by an old producer (single-object encoding
names the writer schema by fingerprint) still decode after the schema evolved.

Where the folder is found (first hit wins):

1. the ``schemas_dir`` argument (tests, or a deployment that keeps schemas elsewhere);
2. ``<dir containing the pipeline package>/schemas``: a source checkout or an editable install;
3. ``pipeline/data/schemas`` inside the installed package (importlib.resources), for a wheel
   that ships them as package data.

The settings are never read here: a caller that wants a configured folder passes it in.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import SchemaParseException, fingerprint, to_parsing_canonical_form

from pipeline.errors import SchemaError, UnknownSchemaError

#: Namespace of every record; a breaking change would get a new namespace (``...v2``).
NAMESPACE = "io.phipipeline.v1"

_HISTORY_NAME = re.compile(r"^(?P<stem>[a-z_]+)\.v(?P<version>\d+)\.avsc$")


class RecordType(StrEnum):
    """One record type; the value is the schema file's stem (``schemas/<value>.avsc``)."""

    PROMPT_REQUEST = "prompt_request"
    DETECTED_PROMPT = "detected_prompt"
    DEIDENTIFIED_PROMPT = "deidentified_prompt"
    PROVIDER_REQUEST = "provider_request"
    QUARANTINED_PROMPT = "quarantined_prompt"
    COMPLETION = "completion"
    AUDIT_EVENT = "audit_event"
    DEAD_LETTER = "dead_letter"


#: The ``TopicSettings`` attribute naming each record type's topic. Provider requests go to
#: ``TopicSettings.provider_prefix + <provider name>``, so they have no single topic.
TOPIC_SETTING: dict[RecordType, str | None] = {
    RecordType.PROMPT_REQUEST: "raw",
    RecordType.DETECTED_PROMPT: "detected",
    RecordType.DEIDENTIFIED_PROMPT: "deidentified",
    RecordType.PROVIDER_REQUEST: None,
    RecordType.QUARANTINED_PROMPT: "quarantine",
    RecordType.COMPLETION: "completions",
    RecordType.AUDIT_EVENT: "audit",
    RecordType.DEAD_LETTER: "dlq",
}


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """One parsed schema version.

    Attributes:
        record_type: the record type it belongs to.
        version: 0 for the current schema file, N for ``history/<stem>.vN.avsc``.
        fullname: the record's Avro full name, e.g. ``io.phipipeline.v1.AuditEvent``.
        parsed: the fastavro-parsed schema (pass it to fastavro readers and writers).
        canonical: the Parsing Canonical Form (what fingerprints are computed over).
        text: the full schema as compact JSON, docs and defaults kept: what is registered
            with a Schema Registry, whose compatibility checks need the defaults.
        fingerprint: CRC-64-AVRO of ``canonical``, 8 bytes little-endian, as the single-object
            encoding header carries it.
        uuid_fields: top-level fields whose type is a ``uuid`` string (fastavro does not check
            their format on write, so the codec does).
        field_names: the names of the record's top-level fields (every encode checks a
            record's keys against them, so they are collected once, here).
    """

    record_type: RecordType
    version: int
    fullname: str
    parsed: dict[str, Any] = field(repr=False)
    canonical: str = field(repr=False)
    text: str = field(repr=False)
    fingerprint: bytes
    uuid_fields: tuple[str, ...] = ()
    field_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = frozenset(f["name"] for f in self.parsed["fields"])
        object.__setattr__(self, "field_names", names)


def parse_schema_text(text: str, record_type: RecordType, version: int = 0) -> SchemaInfo:
    """Parse one schema (JSON text) into a :class:`SchemaInfo`.

    Args:
        text: the ``.avsc`` content, or a schema string from a registry.
        record_type: the record type the schema is for.
        version: 0 for the current schema, N for a history version.

    Raises:
        SchemaError: the text is not JSON or not a valid Avro record schema.
    """
    try:
        raw = json.loads(text)
        # A fresh named-type table per schema: the files define the same helper types
        # (ChatMessage, Role, EncryptedText) independently and must not collide.
        parsed = parse_schema(raw, named_schemas={})
        canonical = to_parsing_canonical_form(parsed)
        digest = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    except (ValueError, TypeError, KeyError, SchemaParseException) as exc:
        raise SchemaError(
            f"schema for {record_type} (version {version}) does not parse: {type(exc).__name__}",
            reason="invalid_schema",
        ) from exc
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise SchemaError(f"schema for {record_type} is not a record", reason="invalid_schema")
    return SchemaInfo(
        record_type=record_type,
        version=version,
        fullname=str(parsed["name"]),
        parsed=parsed,
        canonical=canonical,
        text=json.dumps(raw, separators=(",", ":"), ensure_ascii=False),
        fingerprint=digest,
        uuid_fields=tuple(f["name"] for f in parsed["fields"] if _is_uuid(f["type"])),
    )


def _is_uuid(avro_type: Any) -> bool:
    if isinstance(avro_type, list):
        return any(_is_uuid(t) for t in avro_type)
    return isinstance(avro_type, dict) and avro_type.get("logicalType") == "uuid"


@dataclass(frozen=True, slots=True)
class SchemaSet:
    """Every known schema: the current one per record type plus the history versions.

    Attributes:
        directory: where the files were loaded from.
        current: the current schema of each record type.
        by_fingerprint: every known schema (current and history) by its 8-byte fingerprint.
    """

    directory: Path
    current: dict[RecordType, SchemaInfo]
    by_fingerprint: dict[bytes, SchemaInfo] = field(repr=False)

    def get(self, record_type: RecordType) -> SchemaInfo:
        """Return the current schema of ``record_type``."""
        return self.current[record_type]

    def lookup(self, digest: bytes) -> SchemaInfo:
        """Return the schema with fingerprint ``digest`` (current or history).

        Raises:
            UnknownSchemaError: no known schema has that fingerprint.
        """
        try:
            return self.by_fingerprint[digest]
        except KeyError:
            raise UnknownSchemaError(f"no known schema has fingerprint {digest.hex()}") from None

    def versions(self, record_type: RecordType) -> list[SchemaInfo]:
        """Return every known version of ``record_type``: history first (oldest first)."""
        found = [s for s in self.by_fingerprint.values() if s.record_type is record_type]
        return sorted(found, key=lambda s: (s.version == 0, s.version))


def find_schemas_dir() -> Path:
    """Return the folder holding the ``.avsc`` files (see the module docstring for the order).

    Raises:
        SchemaError: neither a checkout's ``schemas/`` nor packaged schemas exist.
    """
    package_dir = Path(__file__).resolve().parent.parent  # .../pipeline
    checkout = package_dir.parent / "schemas"
    if (checkout / f"{RecordType.AUDIT_EVENT.value}.avsc").is_file():
        return checkout
    packaged = resources.files("pipeline").joinpath("data", "schemas")
    # A wheel installs as plain files, so the traversable is a real path on disk.
    packaged_path = Path(str(packaged))
    if (packaged_path / f"{RecordType.AUDIT_EVENT.value}.avsc").is_file():
        return packaged_path
    raise SchemaError(
        "no schemas/ folder found next to or inside the pipeline package", reason="schemas_missing"
    )


def load_schema_set(schemas_dir: Path | None = None) -> SchemaSet:
    """Load and parse every schema once; repeated calls return the same cached object.

    Args:
        schemas_dir: the folder to load from; ``None`` means :func:`find_schemas_dir`.

    Raises:
        SchemaError: a file is missing, unreadable or invalid, or two schemas share a
            fingerprint across record types.
    """
    directory = (schemas_dir or find_schemas_dir()).resolve()
    return _load_cached(directory)


@functools.lru_cache(maxsize=8)
def _load_cached(directory: Path) -> SchemaSet:
    current: dict[RecordType, SchemaInfo] = {}
    by_fp: dict[bytes, SchemaInfo] = {}
    for record_type in RecordType:
        info = parse_schema_text(_read(directory / f"{record_type.value}.avsc"), record_type)
        current[record_type] = info
        _index(by_fp, info)
    history = directory / "history"
    if history.is_dir():
        for path in sorted(history.glob("*.avsc")):
            match = _HISTORY_NAME.match(path.name)
            if match is None or match["stem"] not in RecordType._value2member_map_:
                raise SchemaError(
                    f"unexpected history schema file {path.name}", reason="invalid_schema"
                )
            record_type = RecordType(match["stem"])
            info = parse_schema_text(_read(path), record_type, int(match["version"]))
            if info.fullname != current[record_type].fullname:
                raise SchemaError(
                    f"history schema {path.name} renames the record", reason="invalid_schema"
                )
            _index(by_fp, info)
    return SchemaSet(directory=directory, current=current, by_fingerprint=by_fp)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"cannot read schema file {path.name}", reason="schemas_missing") from exc


def _index(by_fp: dict[bytes, SchemaInfo], info: SchemaInfo) -> None:
    known = by_fp.get(info.fingerprint)
    if known is None:
        by_fp[info.fingerprint] = info
    elif known.record_type is not info.record_type:
        raise SchemaError(
            f"{info.record_type} and {known.record_type} have the same fingerprint",
            reason="invalid_schema",
        )
    # Same record type, same canonical form (a history copy of the current file): keep the
    # current one, so decoding needs no resolution step.
    elif info.version == 0:
        by_fp[info.fingerprint] = info
