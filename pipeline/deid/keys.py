"""Key providers: where de-identification gets its HMAC and encryption keys.

:class:`KeyProvider` is the interface a KMS-backed implementation provides; two development
implementations ship here: :class:`SettingsKeyProvider` (keys from :class:`KeySettings`, i.e. the
environment) and :class:`KeyFileProvider` (a JSON key file). Every consumer derives a separate
sub-key per purpose (HKDF-SHA256 with a purpose label), so the surrogate PRF, the date-shift PRF,
the keyed hash and the vault index never share a key, and rotating one purpose is a new label.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pipeline.config import KeySettings
from pipeline.errors import ConfigError, CryptoError

KEY_BYTES = 32


@runtime_checkable
class KeyProvider(Protocol):
    """What de-identification needs from a key source (env, key file, KMS).

    A KMS implementation returns data keys it unwrapped; ``key_id`` names the key version that
    new ciphertexts and hashes are made with, and older ids stay resolvable for decryption.
    """

    @property
    def key_id(self) -> str:
        """The id of the current key version."""
        ...

    def hmac_key(self, key_id: str | None = None) -> bytes:
        """Return the 32-byte HMAC root key of ``key_id`` (current when ``None``)."""
        ...

    def encryption_key(self, key_id: str | None = None) -> bytes:
        """Return the 32-byte AES-256 key of ``key_id`` (current when ``None``)."""
        ...


@dataclass(frozen=True)
class KeyVersion:
    """One key version's raw material. ``repr`` hides the bytes."""

    key_id: str
    hmac: bytes = field(repr=False)
    encryption: bytes = field(repr=False)


def _decode(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a base64 string", reason="bad_key")
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{name} is not valid base64", reason="bad_key") from exc
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"{name} must decode to {KEY_BYTES} bytes", reason="bad_key")
    return raw


class StaticKeyProvider:
    """A provider over key versions held in memory (the base of the dev providers, and tests)."""

    def __init__(self, versions: list[KeyVersion], current: str | None = None) -> None:
        """Hold ``versions``; ``current`` (default: the first) signs and encrypts new data."""
        if not versions:
            raise ConfigError("no key versions configured", reason="missing_key")
        self._versions = {v.key_id: v for v in versions}
        self._current = current if current is not None else versions[0].key_id
        if self._current not in self._versions:
            raise ConfigError("current key id is not among the key versions", reason="bad_key")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_ids={sorted(self._versions)!r})"

    @property
    def key_id(self) -> str:
        """The id of the current key version."""
        return self._current

    def _version(self, key_id: str | None) -> KeyVersion:
        try:
            return self._versions[key_id if key_id is not None else self._current]
        except KeyError:
            raise CryptoError("unknown key id", reason="unknown_key") from None

    def hmac_key(self, key_id: str | None = None) -> bytes:
        """Return the HMAC root key of ``key_id`` (current when ``None``)."""
        return self._version(key_id).hmac

    def encryption_key(self, key_id: str | None = None) -> bytes:
        """Return the AES-256 key of ``key_id`` (current when ``None``)."""
        return self._version(key_id).encryption


class SettingsKeyProvider(StaticKeyProvider):
    """Keys from :class:`KeySettings` (``PHI_KEYS__HMAC_KEY`` etc.); the key file wins if set."""

    def __init__(self, settings: KeySettings) -> None:
        """Read the keys once; raise :class:`ConfigError` if missing or malformed."""
        if settings.key_file is not None:
            versions, current = _read_key_file(settings.key_file)
            super().__init__(versions, current)
            return
        version = KeyVersion(
            key_id=settings.key_id,
            hmac=settings.decoded("hmac_key"),
            encryption=settings.decoded("encryption_key"),
        )
        super().__init__([version])


class KeyFileProvider(StaticKeyProvider):
    """Keys from a JSON key file (development).

    Either one version ``{"key_id", "hmac_key", "encryption_key"}`` or several
    ``{"current": id, "keys": [{...}, ...]}`` for rotation (old ids stay decryptable).
    """

    def __init__(self, path: Path) -> None:
        """Read ``path`` once."""
        versions, current = _read_key_file(path)
        super().__init__(versions, current)


def _read_key_file(path: Path) -> tuple[list[KeyVersion], str | None]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError("key file cannot be read as JSON", reason="bad_key_file") from exc
    if not isinstance(doc, dict):
        raise ConfigError("key file must hold a JSON object", reason="bad_key_file")
    entries = doc.get("keys", [doc])
    if not isinstance(entries, list):
        raise ConfigError("key file 'keys' must be a list", reason="bad_key_file")
    versions: list[KeyVersion] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("key_id"), str):
            raise ConfigError(f"key file entry {i} has no key_id", reason="bad_key_file")
        versions.append(
            KeyVersion(
                key_id=entry["key_id"],
                hmac=_decode(entry.get("hmac_key"), f"key file entry {i} hmac_key"),
                encryption=_decode(
                    entry.get("encryption_key"), f"key file entry {i} encryption_key"
                ),
            )
        )
    current = doc.get("current")
    return versions, current if isinstance(current, str) else None


def provider_from_settings(settings: KeySettings) -> KeyProvider:
    """Return the development key provider the settings describe."""
    return SettingsKeyProvider(settings)


def derive_key(root: bytes, purpose: str, length: int = KEY_BYTES) -> bytes:
    """Derive a purpose-bound sub-key from a root key (HKDF-SHA256, no salt, info=purpose).

    Args:
        root: a 32-byte root key from a :class:`KeyProvider`.
        purpose: a versioned label such as ``"phi-pipeline/surrogate.v1"``.
        length: bytes of output (64 for AES-SIV).
    """
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode("utf-8")
    ).derive(root)


def generate_key_file(path: Path, key_id: str = "dev-1") -> None:
    """Write a fresh random development key file (mode 0600)."""
    import os

    doc = {
        "key_id": key_id,
        "hmac_key": base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii"),
        "encryption_key": base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii"),
    }
    path = Path(path)
    path.write_text(json.dumps(doc), encoding="utf-8")
    path.chmod(0o600)
