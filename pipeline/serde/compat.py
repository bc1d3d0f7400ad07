"""Backward-compatibility check: can a reader with the new schema read data of the old one?

This implements the Avro schema-resolution rules for the constructs our schemas use (records,
enums, arrays, maps, unions, fixed, primitives with the spec's promotions, logical types on
their underlying type). It is the check a Schema Registry runs in ``BACKWARD`` mode, so a
schema change can be verified in a unit test before it reaches a registry or a topic.
"""

from __future__ import annotations

from typing import Any

from fastavro import parse_schema

#: Writer type -> reader types it may be read as (Avro spec, "Schema Resolution").
_PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"int", "long", "float", "double"}),
    "long": frozenset({"long", "float", "double"}),
    "float": frozenset({"float", "double"}),
    "string": frozenset({"string", "bytes"}),
    "bytes": frozenset({"bytes", "string"}),
}


def backward_incompatibilities(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Return why data written with ``old`` cannot be read with ``new`` (empty: compatible).

    Args:
        old: the writer schema (JSON object as loaded from an ``.avsc``).
        new: the reader schema.

    Returns:
        Human-readable problems, each naming the path of the offending field.
    """
    writer = _expand(old)
    reader = _expand(new)
    problems: list[str] = []
    _check(writer, reader, str(reader.get("name", "<root>")), problems)
    return problems


def _expand(schema: dict[str, Any]) -> Any:
    # parse_schema(expand=True) inlines named-type references, so the walk below never
    # has to resolve a name.
    return parse_schema(schema, named_schemas={}, expand=True)


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return str(schema["type"])
    return str(schema)


def _check(writer: Any, reader: Any, path: str, problems: list[str]) -> None:
    wkind, rkind = _kind(writer), _kind(reader)
    if wkind == "union":
        # Every branch the writer may have used must be readable.
        for branch in writer:
            _check(branch, reader, path, problems)
        return
    if rkind == "union":
        if not any(_matches(writer, branch) for branch in reader):
            problems.append(f"{path}: writer type {wkind} is in no branch of the reader union")
            return
        branch = next(b for b in reader if _matches(writer, b))
        _check(writer, branch, path, problems)
        return
    if wkind != rkind and rkind not in _PROMOTIONS.get(wkind, frozenset()):
        problems.append(f"{path}: writer type {wkind} cannot be read as {rkind}")
        return
    if rkind == "record":
        _check_record(writer, reader, path, problems)
    elif rkind == "enum":
        missing = set(writer["symbols"]) - set(reader["symbols"])
        if missing and "default" not in reader:
            problems.append(f"{path}: reader enum lacks symbols {sorted(missing)} and a default")
    elif rkind == "array":
        _check(writer["items"], reader["items"], f"{path}[]", problems)
    elif rkind == "map":
        _check(writer["values"], reader["values"], f"{path}{{}}", problems)
    elif rkind == "fixed" and writer.get("size") != reader.get("size"):
        problems.append(f"{path}: fixed size changed")


def _check_record(writer: Any, reader: Any, path: str, problems: list[str]) -> None:
    if writer.get("name") != reader.get("name"):
        problems.append(f"{path}: record renamed from {writer.get('name')}")
        return
    written = {f["name"]: f for f in writer["fields"]}
    for field in reader["fields"]:
        name = field["name"]
        source = written.get(name)
        if source is None:
            for alias in field.get("aliases", ()):
                source = written.get(alias)
                if source is not None:
                    break
        if source is None:
            if "default" not in field:
                problems.append(f"{path}.{name}: new field without a default")
            continue
        _check(source["type"], field["type"], f"{path}.{name}", problems)


def _matches(writer: Any, reader_branch: Any) -> bool:
    wkind, rkind = _kind(writer), _kind(reader_branch)
    if wkind in {"record", "enum", "fixed"}:
        return rkind == wkind and writer.get("name") == reader_branch.get("name")
    return wkind == rkind or rkind in _PROMOTIONS.get(wkind, frozenset())
