"""Codec round trips, both framings, typed errors on every kind of bad input, the registry client.

The Schema Registry here is a real HTTP server on loopback implementing the subset of the
Confluent REST API the client uses (register, fetch by id); no HTTP mocking.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import KafkaSettings, TopicSettings, load_settings
from pipeline.errors import (
    BadFramingError,
    SchemaError,
    TruncatedRecordError,
    UnknownSchemaError,
    WrongSchemaError,
)
from pipeline.serde import (
    AvroCodec,
    Framing,
    RecordType,
    SchemaRegistryClient,
    backward_incompatibilities,
    build_codec,
    load_schema_set,
    read_header,
)

REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SCHEMAS = load_schema_set()
CODEC = AvroCodec(SCHEMAS)
PHI = "Jane Q. Doe, SSN 123-45-6789, MRN 00482913"  # synthetic

# --- records generated from the schemas --------------------------------------------------------

_UTC_TIMES = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))


def strategy_for(schema: Any) -> st.SearchStrategy[Any]:
    """A strategy producing values valid for ``schema`` (expanded, no named references)."""
    if isinstance(schema, list):
        return st.one_of([strategy_for(branch) for branch in schema])
    if isinstance(schema, dict):
        logical = schema.get("logicalType")
        if logical == "timestamp-millis":
            return _UTC_TIMES
        if logical == "uuid":
            return st.uuids()
        kind = schema["type"]
        if kind == "record":
            return st.fixed_dictionaries(
                {f["name"]: strategy_for(f["type"]) for f in schema["fields"]}
            )
        if kind == "enum":
            return st.sampled_from(schema["symbols"])
        if kind == "array":
            return st.lists(strategy_for(schema["items"]), max_size=3)
        if kind == "map":
            return st.dictionaries(st.text(max_size=8), strategy_for(schema["values"]), max_size=3)
        return strategy_for(kind)
    primitives: dict[str, st.SearchStrategy[Any]] = {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1),
        "double": st.floats(allow_nan=False),
        "float": st.floats(allow_nan=False, width=32),
        "string": st.text(max_size=40),
        "bytes": st.binary(max_size=40),
    }
    return primitives[schema]


def records(record_type: RecordType) -> st.SearchStrategy[dict[str, Any]]:
    raw = json.loads((REPO_SCHEMAS / f"{record_type.value}.avsc").read_text())
    return strategy_for(parse_schema(raw, named_schemas={}, expand=True))


ANY_RECORD = st.sampled_from(list(RecordType)).flatmap(
    lambda rt: st.tuples(st.just(rt), records(rt))
)


# --- a loopback Schema Registry ----------------------------------------------------------------


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.schemas: list[str] = []
        self.subjects: dict[str, list[int]] = {}
        self.requests = 0


def _handler(state: _Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            parts = self.path.strip("/").split("/")
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
                self._send(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
                return
            schema = body["schema"]
            try:
                json.loads(schema)
            except ValueError:
                self._send(422, {"error_code": 42201, "message": "Invalid schema"})
                return
            with state.lock:
                state.requests += 1
                versions = state.subjects.get(parts[1], [])
                if versions and schema not in state.schemas:
                    # BACKWARD mode, as a Confluent registry defaults to: the new schema must
                    # read data written with the latest registered one.
                    latest = json.loads(state.schemas[versions[-1] - 1])
                    if backward_incompatibilities(latest, json.loads(schema)):
                        self._send(409, {"error_code": 409, "message": "incompatible"})
                        return
                if schema in state.schemas:
                    schema_id = state.schemas.index(schema) + 1
                else:
                    state.schemas.append(schema)
                    schema_id = len(state.schemas)
                versions = state.subjects.setdefault(parts[1], [])
                if schema_id not in versions:
                    versions.append(schema_id)
            self._send(200, {"id": schema_id})

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            with state.lock:
                state.requests += 1
                if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                    index = int(parts[2]) - 1
                    if 0 <= index < len(state.schemas):
                        self._send(200, {"schema": state.schemas[index]})
                        return
                    self._send(404, {"error_code": 40403, "message": "Schema not found"})
                    return
            self._send(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

    return Handler


@pytest.fixture
def registry_server() -> Iterator[tuple[str, _Registry]]:
    state = _Registry()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def registry_codec(registry_server: tuple[str, _Registry]) -> Iterator[AvroCodec]:
    client = SchemaRegistryClient(registry_server[0])
    try:
        yield AvroCodec(SCHEMAS, registry=client)
    finally:
        client.close()


# One HTTP connection pool for the "fresh" codecs: building an httpx.Client (its SSL context)
# is slow, and the caches under test live in SchemaRegistryClient, not in httpx.
_HTTP = httpx.Client(timeout=10.0)


def _fresh_registry_codec(url: str) -> AvroCodec:
    """A codec with empty caches, as a separate process would have."""
    return AvroCodec(SCHEMAS, registry=SchemaRegistryClient(url, client=_HTTP))


def _topic(record_type: RecordType) -> str | None:
    return "phi.provider.openai" if record_type is RecordType.PROVIDER_REQUEST else None


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("record_type", list(RecordType))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_single_object_round_trip(record_type: RecordType, data: st.DataObject) -> None:
    record = data.draw(records(record_type))
    encoded = CODEC.encode(record_type, record)
    header = read_header(encoded)
    assert header.framing is Framing.SINGLE_OBJECT
    assert encoded[:2] == b"\xc3\x01"
    assert header.fingerprint == SCHEMAS.get(record_type).fingerprint
    assert CODEC.decode(record_type, encoded) == record


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pair=ANY_RECORD)
def test_confluent_round_trip(
    registry_server: tuple[str, _Registry], registry_codec: AvroCodec, pair: Any
) -> None:
    record_type, record = pair
    encoded = registry_codec.encode(record_type, record, topic=_topic(record_type))
    header = read_header(encoded)
    assert header.framing is Framing.CONFLUENT and encoded[0] == 0
    # A second process (empty caches) reads it by fetching the schema by id.
    reader = _fresh_registry_codec(registry_server[0])
    assert reader.decode(record_type, encoded) == record
    # A codec with a registry still reads single-object records, and vice versa for ids it knows.
    assert reader.decode(record_type, CODEC.encode(record_type, record)) == record


def test_defaults_fill_omitted_fields() -> None:
    event = {
        "event_id": "2f1c3f4e-5b6a-4c7d-8e9f-0a1b2c3d4e5f",
        "timestamp": dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC),
        "stage": "detect",
        "request_id": "req-1",
        "tenant": "acme",
    }
    decoded = CODEC.decode(RecordType.AUDIT_EVENT, CODEC.encode(RecordType.AUDIT_EVENT, event))
    assert decoded["schema_version"] == 1
    assert str(decoded["event_id"]) == event["event_id"]
    assert decoded["timestamp"] == event["timestamp"]
    assert decoded["phi_categories"] == {} and decoded["detail"] == {}
    assert decoded["phi_present"] is None


def test_serde_binds_type_and_topic(registry_codec: AvroCodec) -> None:
    serde = registry_codec.serde(RecordType.DEAD_LETTER)
    record = {
        "source_topic": "phi.prompts.raw",
        "source_partition": 2,
        "source_offset": 99,
        "stage": "detect",
        "error_class": "DetectionError",
        "reason": "detection_failed",
        "timestamp": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    }
    assert serde.decode(serde.encode(record))["attempts"] == 1
    assert registry_codec.default_topic(RecordType.DEAD_LETTER) == "phi.dlq"
    request = {
        "request_id": "r",
        "tenant": "t",
        "user_id": "u",
        "provider": "openai",
        "model": "gpt-x",
        "messages": [
            {
                "role": "user",
                "content": {
                    "key_id": "k1",
                    "algorithm": "AES-256-GCM",
                    "nonce": b"\x00" * 12,
                    "ciphertext": b"sealed",
                },
            }
        ],
        "policy_decision": "allow_deidentified",
        "policy_reason": "baa_present",
        "policy_version": "p1",
        "raw_allowed": False,
        "created_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        "routed_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    }
    # One topic per provider: with a registry the subject needs the topic name.
    with pytest.raises(SchemaError) as info:
        registry_codec.serde(RecordType.PROVIDER_REQUEST).encode(request)
    assert info.value.reason == "topic_required"
    bound = registry_codec.serde(RecordType.PROVIDER_REQUEST, topic="phi.provider.openai")
    assert bound.decode(bound.encode(request))["provider"] == "openai"


def test_build_codec_follows_settings(registry_server: tuple[str, _Registry]) -> None:
    plain = build_codec(load_settings())
    assert plain.registry is None
    with_registry = build_codec(
        load_settings(
            kafka=KafkaSettings(schema_registry_url=registry_server[0]),
            topics=TopicSettings(dlq="custom.dlq"),
        )
    )
    assert with_registry.registry is not None
    assert with_registry.default_topic(RecordType.DEAD_LETTER) == "custom.dlq"
    assert "127.0.0.1" in repr(with_registry)
    with_registry.registry.close()


# --- malformed input ---------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(pair=ANY_RECORD)
def test_every_truncation_is_a_truncated_record_error(pair: Any) -> None:
    record_type, record = pair
    encoded = CODEC.encode(record_type, record)
    for cut in range(len(encoded)):
        with pytest.raises(TruncatedRecordError):
            CODEC.decode(record_type, encoded[:cut])


def test_truncated_confluent_header(registry_codec: AvroCodec) -> None:
    for cut in range(5):
        with pytest.raises(TruncatedRecordError):
            registry_codec.decode(RecordType.AUDIT_EVENT, b"\x00\x00\x00\x00\x01"[:cut])


@settings(max_examples=500, deadline=None)
@given(expected=st.sampled_from(list(RecordType)), data=st.binary(max_size=200))
def test_random_bytes_only_raise_schema_errors(expected: RecordType, data: bytes) -> None:
    # Any other exception type escapes and fails the test.
    with contextlib.suppress(SchemaError):
        CODEC.decode(expected, data)


@settings(max_examples=800, deadline=None)
@given(expected=st.sampled_from(list(RecordType)), body=st.binary(max_size=300))
def test_random_body_behind_a_valid_header_only_raises_schema_errors(
    expected: RecordType, body: bytes
) -> None:
    """The hard case: the header is right, so fastavro really decodes the garbage."""
    data = b"\xc3\x01" + SCHEMAS.get(expected).fingerprint + body
    try:
        record = CODEC.decode(expected, data)
    except SchemaError as exc:
        assert len(body) < 4 or body.hex() not in str(exc)
    else:
        assert isinstance(record, dict)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", TruncatedRecordError),
        (b"\xc3", TruncatedRecordError),
        (b"\xc3\x02" + b"\x00" * 20, BadFramingError),
        (b"\x01rest", BadFramingError),
        (b"{json}", BadFramingError),
        (b"\xc3\x01" + b"\x00" * 8 + b"\x02", UnknownSchemaError),
        # Confluent framing but no registry configured
        (b"\x00\x00\x00\x00\x07\x02", UnknownSchemaError),
    ],
)
def test_bad_framing(data: bytes, error: type[SchemaError]) -> None:
    with pytest.raises(error):
        CODEC.decode(RecordType.AUDIT_EVENT, data)


def test_valid_record_of_the_wrong_type() -> None:
    record = {
        "source_topic": "t",
        "source_partition": 0,
        "source_offset": 1,
        "stage": "detect",
        "error_class": "X",
        "reason": "y",
        "timestamp": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    }
    data = CODEC.encode(RecordType.DEAD_LETTER, record)
    with pytest.raises(WrongSchemaError) as info:
        CODEC.decode(RecordType.AUDIT_EVENT, data)
    assert "dead_letter" in str(info.value)


def test_wrong_type_through_the_registry(registry_codec: AvroCodec) -> None:
    record = {
        "source_topic": "t",
        "source_partition": 0,
        "source_offset": 1,
        "stage": "detect",
        "error_class": "X",
        "reason": "y",
        "timestamp": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    }
    data = registry_codec.encode(RecordType.DEAD_LETTER, record)
    with pytest.raises(WrongSchemaError):
        registry_codec.decode(RecordType.AUDIT_EVENT, data)


def test_trailing_bytes() -> None:
    data = CODEC.encode(
        RecordType.COMPLETION,
        {
            "request_id": "r",
            "tenant": "t",
            "status": "ok",
            "created_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        },
    )
    with pytest.raises(SchemaError) as info:
        CODEC.decode(RecordType.COMPLETION, data + b"\x00")
    assert info.value.reason == "trailing_bytes"


def _prompt(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "request_id": "req-1",
        "tenant": "acme",
        "user_id": "clinician-7",
        "subject_id": PHI,
        "messages": [{"role": "user", "content": PHI}],
        "created_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    }
    record.update(overrides)
    return record


@pytest.mark.parametrize(
    "record",
    [
        _prompt(unexpected=PHI),
        _prompt(tenant=None),
        _prompt(session_id=PHI.encode()),
        _prompt(messages=[{"role": PHI, "content": PHI}]),
        _prompt(messages=[{"role": "user", "content": PHI.encode()}]),
        _prompt(metadata={"note": 5}),
        _prompt(created_at=PHI),
        {k: v for k, v in _prompt().items() if k != "tenant"},
        PHI,
    ],
)
def test_invalid_records_raise_schema_error_without_the_value(
    record: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SchemaError) as info:
        CODEC.encode(RecordType.PROMPT_REQUEST, record)
    exc = info.value
    assert exc.reason == "invalid_record"
    for fragment in ("Jane", "123-45-6789", "00482913"):
        assert fragment not in str(exc)
        assert fragment not in caplog.text
    # The fastavro cause quotes values, so it is not chained into tracebacks.
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


def test_invalid_uuid_is_refused_on_encode() -> None:
    with pytest.raises(SchemaError) as info:
        CODEC.encode(
            RecordType.AUDIT_EVENT,
            {
                "event_id": "not-a-uuid",
                "timestamp": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                "stage": "ingest",
                "request_id": "r",
                "tenant": "t",
            },
        )
    assert "event_id" in str(info.value)


def test_decode_errors_do_not_quote_the_payload() -> None:
    encoded = CODEC.encode(RecordType.PROMPT_REQUEST, _prompt())
    for data in (encoded[:-3], encoded + b"!", b"\x07" + encoded):
        with pytest.raises(SchemaError) as info:
            CODEC.decode(RecordType.PROMPT_REQUEST, data)
        assert "Jane" not in str(info.value) and "Jane" not in repr(info.value)
        assert info.value.__cause__ is None


# --- evolution ---------------------------------------------------------------------------------


def _evolved_dir(tmp_path: Path) -> Path:
    """A schemas/ folder where completion gained a field, the old version kept in history."""
    for path in REPO_SCHEMAS.glob("*.avsc"):
        shutil.copy(path, tmp_path / path.name)
    old = json.loads((REPO_SCHEMAS / "completion.avsc").read_text())
    new = json.loads(json.dumps(old))
    new["fields"].append(
        {"name": "cost_usd", "type": ["null", "double"], "default": None, "doc": "Cost."}
    )
    (tmp_path / "completion.avsc").write_text(json.dumps(new))
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "completion.v1.avsc").write_text(json.dumps(old))
    return tmp_path


_COMPLETION = {
    "request_id": "r",
    "tenant": "t",
    "status": "ok",
    "completion": "fine",
    "created_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
}


def test_new_reader_reads_old_single_object_records(tmp_path: Path) -> None:
    new_codec = AvroCodec(load_schema_set(_evolved_dir(tmp_path)))
    old_bytes = CODEC.encode(RecordType.COMPLETION, _COMPLETION)
    decoded = new_codec.decode(RecordType.COMPLETION, old_bytes)
    assert decoded["cost_usd"] is None and decoded["completion"] == "fine"
    # The reverse needs the reader upgraded first: an old reader does not know the new schema.
    new_bytes = new_codec.encode(RecordType.COMPLETION, dict(_COMPLETION, cost_usd=0.5))
    with pytest.raises(UnknownSchemaError):
        CODEC.decode(RecordType.COMPLETION, new_bytes)


def test_new_reader_reads_old_records_through_the_registry(
    tmp_path: Path, registry_server: tuple[str, _Registry]
) -> None:
    url = registry_server[0]
    old_writer = _fresh_registry_codec(url)
    old_bytes = old_writer.encode(RecordType.COMPLETION, _COMPLETION)
    new_reader = AvroCodec(
        load_schema_set(_evolved_dir(tmp_path)), registry=SchemaRegistryClient(url, client=_HTTP)
    )
    decoded = new_reader.decode(RecordType.COMPLETION, old_bytes)
    assert decoded["cost_usd"] is None
    new_bytes = new_reader.encode(RecordType.COMPLETION, dict(_COMPLETION, cost_usd=0.5))
    assert read_header(new_bytes).schema_id != read_header(old_bytes).schema_id
    assert registry_server[1].subjects["phi.completions-value"] == [
        read_header(old_bytes).schema_id,
        read_header(new_bytes).schema_id,
    ]


# --- registry client ---------------------------------------------------------------------------


def test_registry_register_is_idempotent_and_cached(registry_server: tuple[str, _Registry]) -> None:
    url, state = registry_server
    text = SCHEMAS.get(RecordType.AUDIT_EVENT).text
    with SchemaRegistryClient(url) as client:
        first = client.register("phi.audit-value", text)
        assert client.register("phi.audit-value", text) == first
        assert client.get_schema(first) == text
        assert state.requests == 1  # the second register and the fetch came from the cache
    with SchemaRegistryClient(url) as other:
        assert other.register("other-value", text) == first
        assert other.get_schema(first) == text


def test_registry_refuses_an_incompatible_evolution(
    tmp_path: Path, registry_server: tuple[str, _Registry]
) -> None:
    url = registry_server[0]
    _fresh_registry_codec(url).encode(RecordType.COMPLETION, _COMPLETION)
    schemas_dir = _evolved_dir(tmp_path)
    broken = json.loads((schemas_dir / "completion.avsc").read_text())
    broken["fields"][-1].pop("default")  # the new field loses its default
    (schemas_dir / "completion.avsc").write_text(json.dumps(broken))
    codec = AvroCodec(
        load_schema_set(schemas_dir), registry=SchemaRegistryClient(url, client=_HTTP)
    )
    with pytest.raises(SchemaError) as info:
        codec.encode(RecordType.COMPLETION, dict(_COMPLETION, cost_usd=1.0))
    assert info.value.reason == "incompatible_schema"


def test_registry_unknown_id(registry_server: tuple[str, _Registry]) -> None:
    with SchemaRegistryClient(registry_server[0]) as client, pytest.raises(UnknownSchemaError):
        client.get_schema(4242)
    codec = _fresh_registry_codec(registry_server[0])
    with pytest.raises(UnknownSchemaError):
        codec.decode(RecordType.AUDIT_EVENT, b"\x00\x00\x00\x10\x92" + b"\x02" * 10)


def test_registry_foreign_schema_is_the_wrong_schema(
    registry_server: tuple[str, _Registry],
) -> None:
    foreign = json.dumps(
        {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "int"}]}
    )
    with SchemaRegistryClient(registry_server[0]) as client:
        schema_id = client.register("other-value", foreign)
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(json.loads(foreign)), {"x": 1})
    data = b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()
    with pytest.raises(WrongSchemaError):
        _fresh_registry_codec(registry_server[0]).decode(RecordType.AUDIT_EVENT, data)


def test_registry_errors_are_typed(registry_server: tuple[str, _Registry]) -> None:
    with SchemaRegistryClient(registry_server[0]) as client:
        with pytest.raises(SchemaError) as info:
            client.register("s-value", "not json at all")
        assert info.value.reason == "schema_registry_error"
    # Nothing listens on this port once the server socket is closed.
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    dead = f"http://127.0.0.1:{probe.server_address[1]}"
    probe.server_close()
    with SchemaRegistryClient(dead, timeout_s=2.0) as client:
        with pytest.raises(SchemaError) as info:
            client.get_schema(1)
        assert info.value.reason == "schema_registry_unavailable"


def test_registry_repr_hides_credentials() -> None:
    client = SchemaRegistryClient("http://user:s3cret@registry.example:8081")
    try:
        assert "s3cret" not in repr(client) and "registry.example" in repr(client)
    finally:
        client.close()
