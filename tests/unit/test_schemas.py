"""The Avro schema files: they parse, are documented, carry identity, and evolve compatibly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import SchemaError, UnknownSchemaError
from pipeline.serde import (
    NAMESPACE,
    RecordType,
    backward_incompatibilities,
    find_schemas_dir,
    load_schema_set,
)

REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _load(record_type: RecordType) -> dict[str, Any]:
    return json.loads((REPO_SCHEMAS / f"{record_type.value}.avsc").read_text())


def _walk_named(schema: Any, out: list[dict[str, Any]]) -> None:
    """Collect every record and enum definition, nested ones included."""
    if isinstance(schema, list):
        for branch in schema:
            _walk_named(branch, out)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum"):
            out.append(schema)
        if kind == "record":
            for field in schema["fields"]:
                _walk_named(field["type"], out)
        elif kind == "array":
            _walk_named(schema["items"], out)
        elif kind == "map":
            _walk_named(schema["values"], out)
        elif isinstance(kind, (dict, list)):
            _walk_named(kind, out)


# --- Parsing Canonical Form fingerprint, written from the Avro spec (independent of fastavro) --

_EMPTY = 0xC15D213AA4D7A795
_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_EMPTY & -(_fp & 1))
    _TABLE.append(_fp & 0xFFFFFFFFFFFFFFFF)


def rabin64(data: bytes) -> int:
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def test_rabin_matches_the_spec_test_vector() -> None:
    # Avro's own fingerprint tests: CRC-64-AVRO of the canonical form "null".
    assert rabin64(b'"null"') == 7195948357588979594


@pytest.mark.parametrize("record_type", list(RecordType))
def test_schema_file_parses_and_fingerprint_follows_the_spec(record_type: RecordType) -> None:
    info = load_schema_set().get(record_type)
    assert info.fullname.startswith(NAMESPACE + ".")
    expected = rabin64(info.canonical.encode("utf-8")).to_bytes(8, "little")
    assert info.fingerprint == expected


@pytest.mark.parametrize("record_type", list(RecordType))
def test_every_record_enum_and_field_is_documented(record_type: RecordType) -> None:
    named: list[dict[str, Any]] = []
    _walk_named(_load(record_type), named)
    assert named, "schema defines no record"
    for definition in named:
        assert definition.get("doc", "").strip(), f"{definition['name']} has no doc"
        for field in definition.get("fields", []):
            assert field.get("doc", "").strip(), f"{definition['name']}.{field['name']} has no doc"


@pytest.mark.parametrize("record_type", list(RecordType))
def test_identity_and_schema_version_in_every_record(record_type: RecordType) -> None:
    schema = _load(record_type)
    assert schema["namespace"] == NAMESPACE
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["schema_version"]["type"] == "int"
    assert fields["schema_version"]["default"] == 1
    for name in ("request_id", "tenant"):
        assert name in fields
        if record_type is RecordType.DEAD_LETTER:
            # A DLQ record may come from bytes too broken to know the request.
            assert fields[name]["type"] == ["null", "string"]
        else:
            assert fields[name]["type"] == "string"


@pytest.mark.parametrize("record_type", list(RecordType))
def test_uuid_fields_are_top_level_only(record_type: RecordType) -> None:
    """The codec checks uuid strings on top-level fields only; keep it that way."""
    text = (REPO_SCHEMAS / f"{record_type.value}.avsc").read_text()
    info = load_schema_set().get(record_type)
    assert text.count('"uuid"') == len(info.uuid_fields)


@pytest.mark.parametrize("record_type", list(RecordType))
def test_field_names_are_the_top_level_fields(record_type: RecordType) -> None:
    """The codec refuses keys outside ``field_names``, collected once when the schema parses."""
    raw = json.loads((REPO_SCHEMAS / f"{record_type.value}.avsc").read_text())
    info = load_schema_set().get(record_type)
    assert info.field_names == {f["name"] for f in raw["fields"]}


# Fields of the metadata-only topics. A new field must be added here on purpose, after checking
# it cannot carry record text.
AUDIT_FIELDS = {
    "schema_version", "event_id", "timestamp", "stage", "request_id", "tenant", "user_id",
    "session_id", "api_provider", "model", "input_token_count", "output_token_count",
    "phi_present", "phi_categories", "input_hmac", "hmac_key_id", "response_status",
    "latency_ms", "data_residency_region", "baa_reference_id", "policy_decision",
    "policy_reason", "policy_version", "detector_version", "detail",
}  # fmt: skip
DLQ_FIELDS = {
    "schema_version", "source_topic", "source_partition", "source_offset", "stage",
    "error_class", "reason", "request_id", "tenant", "timestamp", "attempts",
}  # fmt: skip


def test_metadata_only_topics_have_exactly_the_reviewed_fields() -> None:
    audit = {f["name"] for f in _load(RecordType.AUDIT_EVENT)["fields"]}
    dlq = {f["name"] for f in _load(RecordType.DEAD_LETTER)["fields"]}
    assert audit == AUDIT_FIELDS
    assert dlq == DLQ_FIELDS


def test_audit_event_logical_types() -> None:
    fields = {f["name"]: f["type"] for f in _load(RecordType.AUDIT_EVENT)["fields"]}
    assert fields["event_id"] == {"type": "string", "logicalType": "uuid"}
    assert fields["timestamp"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert fields["phi_categories"] == {"type": "map", "values": "int"}


def test_detected_prompt_carries_no_clear_text() -> None:
    """On phi.prompts.detected every message text and the subject id are EncryptedText."""
    schema = _load(RecordType.DETECTED_PROMPT)
    fields = {f["name"]: f["type"] for f in schema["fields"]}
    message = fields["messages"]["items"]
    content = {f["name"]: f["type"] for f in message["fields"]}["content"]
    assert content == "EncryptedText"
    assert fields["subject"][1]["name"] == "EncryptedText"
    assert "subject_id" not in fields


def test_loader_finds_the_checkout_and_caches() -> None:
    assert find_schemas_dir() == REPO_SCHEMAS
    first = load_schema_set()
    assert load_schema_set(REPO_SCHEMAS) is first
    assert set(first.current) == set(RecordType)


def test_fingerprints_are_distinct_and_looked_up() -> None:
    schemas = load_schema_set()
    assert len({s.fingerprint for s in schemas.current.values()}) == len(RecordType)
    for info in schemas.current.values():
        assert schemas.lookup(info.fingerprint) is info
    with pytest.raises(UnknownSchemaError):
        schemas.lookup(b"\x00" * 8)


# --- evolution -------------------------------------------------------------------------------


def _evolved(schema: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    new = json.loads(json.dumps(schema))
    new["fields"].append(field)
    return new


def test_current_schemas_read_every_history_version() -> None:
    schemas = load_schema_set()
    for record_type in RecordType:
        current = _load(record_type)
        assert backward_incompatibilities(current, current) == []
        for old in schemas.versions(record_type):
            problems = backward_incompatibilities(json.loads(old.canonical), current)
            assert problems == [], (record_type, old.version, problems)


def test_compat_accepts_new_field_with_default() -> None:
    old = _load(RecordType.COMPLETION)
    new = _evolved(
        old, {"name": "cost_usd", "type": ["null", "double"], "default": None, "doc": "x"}
    )
    assert backward_incompatibilities(old, new) == []


def test_compat_rejects_new_field_without_default() -> None:
    old = _load(RecordType.COMPLETION)
    new = _evolved(old, {"name": "cost_usd", "type": "double", "doc": "x"})
    assert backward_incompatibilities(old, new) == [
        "io.phipipeline.v1.Completion.cost_usd: new field without a default"
    ]


def test_compat_rejects_type_change_and_allows_promotion() -> None:
    old = _load(RecordType.DEAD_LETTER)
    promoted = json.loads(json.dumps(old))
    retyped = json.loads(json.dumps(old))
    for field in promoted["fields"]:
        if field["name"] == "source_partition":
            field["type"] = "long"  # int -> long is a spec promotion
    for field in retyped["fields"]:
        if field["name"] == "source_offset":
            field["type"] = "int"  # long -> int loses range
    assert backward_incompatibilities(old, promoted) == []
    problems = backward_incompatibilities(old, retyped)
    assert len(problems) == 1 and "source_offset" in problems[0]


def test_compat_enum_needs_symbols_or_default() -> None:
    old = _load(RecordType.COMPLETION)
    shrunk = json.loads(json.dumps(old))
    for field in shrunk["fields"]:
        if field["name"] == "status":
            field["type"]["symbols"] = ["ok", "error"]
            del field["type"]["default"]
    problems = backward_incompatibilities(old, shrunk)
    assert len(problems) == 1 and "status" in problems[0]
    # With the enum default kept, an old symbol the new reader lacks resolves to it.
    for field in shrunk["fields"]:
        if field["name"] == "status":
            field["type"]["default"] = "error"
    assert backward_incompatibilities(old, shrunk) == []


def test_history_versions_load_and_are_indexed(tmp_path: Path) -> None:
    for path in REPO_SCHEMAS.glob("*.avsc"):
        shutil.copy(path, tmp_path / path.name)
    old = _load(RecordType.AUDIT_EVENT)
    new = _evolved(
        old, {"name": "region_code", "type": ["null", "string"], "default": None, "doc": "x"}
    )
    (tmp_path / "audit_event.avsc").write_text(json.dumps(new))
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "audit_event.v1.avsc").write_text(json.dumps(old))
    schemas = load_schema_set(tmp_path)
    versions = schemas.versions(RecordType.AUDIT_EVENT)
    assert [v.version for v in versions] == [1, 0]
    assert versions[0].fingerprint == load_schema_set().get(RecordType.AUDIT_EVENT).fingerprint
    assert schemas.lookup(versions[0].fingerprint).version == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("audit_event.vX.avsc", None),
        ("nosuchtype.v1.avsc", None),
        ("audit_event.v1.avsc", "RENAMED"),
        ("audit_event.v1.avsc", "{not json"),
    ],
)
def test_bad_history_files_are_refused(tmp_path: Path, name: str, content: str | None) -> None:
    for path in REPO_SCHEMAS.glob("*.avsc"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "history").mkdir()
    schema = _load(RecordType.AUDIT_EVENT)
    if content == "RENAMED":
        schema["name"] = "SomethingElse"
        text = json.dumps(schema)
    else:
        text = content or json.dumps(schema)
    (tmp_path / "history" / name).write_text(text)
    with pytest.raises(SchemaError) as info:
        load_schema_set(tmp_path)
    assert info.value.reason == "invalid_schema"


def test_missing_schema_file_is_a_schema_error(tmp_path: Path) -> None:
    shutil.copy(REPO_SCHEMAS / "audit_event.avsc", tmp_path / "audit_event.avsc")
    with pytest.raises(SchemaError) as info:
        load_schema_set(tmp_path)
    assert info.value.reason == "schemas_missing"


# --- the TypedDicts in pipeline.serde.records follow the schemas -------------------------------


def test_typed_dicts_match_every_schema_record() -> None:
    from pipeline.serde import records as typed

    checked = set()
    for record_type in RecordType:
        named: list[dict[str, Any]] = []
        _walk_named(_load(record_type), named)
        for definition in named:
            if definition["type"] != "record":
                continue
            cls = getattr(typed, definition["name"])
            required = {f["name"] for f in definition["fields"] if "default" not in f}
            optional = {f["name"] for f in definition["fields"] if "default" in f}
            assert cls.__required_keys__ == required, definition["name"]
            assert cls.__optional_keys__ == optional, definition["name"]
            checked.add(definition["name"])
        assert typed.RECORD_CLASSES[record_type].__name__ == named[0]["name"]
    assert len(checked) == 16
