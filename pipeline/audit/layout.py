"""Object names inside an audit archive.

    keys/<key_id>.pem                                  public keys that signed manifests
    p<partition:05>/<first_offset:020>.avro            a sealed segment
    p<partition:05>/<first_offset:020>.manifest.json   its signed manifest

Zero-padded numbers make the lexical order of names the numeric order of offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYS_PREFIX = "keys/"
_OBJECT = re.compile(r"^p(?P<partition>\d{5})/(?P<offset>\d{20})\.(?P<kind>avro|manifest\.json)$")
_KEY = re.compile(r"^keys/(?P<key_id>[0-9a-f]{16})\.pem$")


def segment_name(partition: int, first_offset: int) -> str:
    """Return the object name of the segment starting at ``first_offset``."""
    return f"p{partition:05d}/{first_offset:020d}.avro"


def manifest_name(partition: int, first_offset: int) -> str:
    """Return the object name of the manifest of the segment starting at ``first_offset``."""
    return f"p{partition:05d}/{first_offset:020d}.manifest.json"


def key_name(key_id: str) -> str:
    """Return the object name of the public key with id ``key_id``."""
    return f"{KEYS_PREFIX}{key_id}.pem"


@dataclass(frozen=True)
class ObjectRef:
    """A parsed segment or manifest name."""

    partition: int
    first_offset: int
    is_manifest: bool


def parse_name(name: str) -> ObjectRef | None:
    """Parse a segment or manifest name; ``None`` for anything else."""
    match = _OBJECT.match(name)
    if match is None:
        return None
    return ObjectRef(
        int(match["partition"]), int(match["offset"]), match["kind"] == "manifest.json"
    )


def parse_key_name(name: str) -> str | None:
    """Return the key id of a public key object name, or ``None``."""
    match = _KEY.match(name)
    return None if match is None else match["key_id"]
