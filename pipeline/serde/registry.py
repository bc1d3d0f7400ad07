"""A small synchronous Schema Registry client (the Confluent REST API subset the codec needs).

Endpoints used: ``POST /subjects/{subject}/versions`` (register, returns the id; the registry
returns the existing id when the schema is already registered) and ``GET /schemas/ids/{id}``
(fetch a writer schema). Subjects follow the TopicNameStrategy: ``<topic>-value``. Ids and
schemas are cached for the life of the client: a registry id never changes meaning.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import httpx

from pipeline.errors import SchemaError, UnknownSchemaError

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
#: Confluent error code for "schema not found".
_SCHEMA_NOT_FOUND = 40403


def subject_for_topic(topic: str) -> str:
    """Return the TopicNameStrategy subject of a topic's values: ``<topic>-value``."""
    return f"{topic}-value"


class SchemaRegistryClient:
    """Register and fetch Avro schemas on a Confluent-compatible Schema Registry.

    Thread-safe: the caches are guarded by a lock and ``httpx.Client`` is thread-safe.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        """Create a client.

        Args:
            url: base URL of the registry, e.g. ``http://localhost:8081``; user info in the
                URL (``http://user:pass@host``) becomes HTTP basic auth.
            timeout_s: per-request timeout.
            client: an ``httpx.Client`` to use instead of creating one (caller closes it).
        """
        self._base = url.rstrip("/")
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=timeout_s, headers={"Accept": _CONTENT_TYPE})
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, str] = {}

    def __repr__(self) -> str:
        # The URL may carry basic-auth credentials; show the host only.
        return f"SchemaRegistryClient(host={httpx.URL(self._base).host!r})"

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> SchemaRegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its global id.

        Args:
            subject: the subject, normally :func:`subject_for_topic` of the topic.
            schema: the schema as a JSON string, defaults kept (the registry's compatibility
                check needs them, so not the Parsing Canonical Form).

        Raises:
            SchemaError: the registry refused the schema (e.g. incompatible, reason
                ``incompatible_schema``) or could not be reached (``schema_registry_unavailable``).
        """
        key = (subject, schema)
        with self._lock:
            cached = self._ids.get(key)
        if cached is not None:
            return cached
        body = self._request(
            "POST",
            f"/subjects/{quote(subject, safe='')}/versions",
            json={"schema": schema, "schemaType": "AVRO"},
        )
        schema_id = _int_field(body, "id")
        with self._lock:
            self._ids[key] = schema_id
            self._schemas.setdefault(schema_id, schema)
        return schema_id

    def get_schema(self, schema_id: int) -> str:
        """Return the schema string registered under ``schema_id``.

        Raises:
            UnknownSchemaError: the registry has no schema with that id.
            SchemaError: the registry could not be reached or answered nonsense.
        """
        with self._lock:
            cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        body = self._request("GET", f"/schemas/ids/{schema_id}")
        schema = body.get("schema")
        if not isinstance(schema, str):
            raise SchemaError("registry answer has no schema string", reason="bad_registry_reply")
        with self._lock:
            self._schemas[schema_id] = schema
        return schema

    def _request(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        headers = {"Content-Type": _CONTENT_TYPE} if json is not None else None
        try:
            response = self._client.request(method, self._base + path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise SchemaError(
                f"schema registry unreachable ({type(exc).__name__})",
                reason="schema_registry_unavailable",
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code == 404:
            if body.get("error_code") == _SCHEMA_NOT_FOUND or path.startswith("/schemas/ids/"):
                raise UnknownSchemaError(f"schema registry has no schema for {path}")
            raise SchemaError(f"schema registry: not found {path}", reason="registry_not_found")
        if response.status_code == 409:
            raise SchemaError(
                f"schema registry refused an incompatible schema ({path})",
                reason="incompatible_schema",
            )
        if response.status_code >= 400:
            raise SchemaError(
                f"schema registry answered HTTP {response.status_code} "
                f"(error_code {body.get('error_code')})",
                reason="schema_registry_error",
            )
        return body


def _int_field(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise SchemaError(f"registry answer has no integer {name!r}", reason="bad_registry_reply")
    return value
