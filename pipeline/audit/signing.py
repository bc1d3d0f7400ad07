"""Ed25519 keys that sign segment manifests.

The archiver holds the private key (a PEM file, ``keys.audit_signing_key_file``); the public key
is published beside the archive (``audit_signing_public.pem``) and handed to auditors, who should
pin it (``audit verify --public-key``) rather than trust the copy stored with the data.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pipeline.errors import AuditError, ConfigError

#: Name of the public key object stored at the archive root.
PUBLIC_KEY_NAME = "audit_signing_public.pem"


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return a short, stable id of a public key: the first 16 hex digits of its SHA-256."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    """Return the SubjectPublicKeyInfo PEM of ``public_key``."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class Signer:
    """Signs manifest bytes with an Ed25519 private key."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The matching public key."""
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        """Id of the public key (see :func:`key_id`)."""
        return key_id(self.public_key)

    def sign(self, payload: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``payload``."""
        return self.private_key.sign(payload)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"


def verify_signature(public_key: Ed25519PublicKey, signature: bytes, payload: bytes) -> bool:
    """Return whether ``signature`` is a valid Ed25519 signature of ``payload``."""
    try:
        public_key.verify(signature, payload)
    except InvalidSignature:
        return False
    return True


def generate_keypair(private_path: Path, public_path: Path, *, overwrite: bool = False) -> str:
    """Write a new Ed25519 key pair as PEM files and return its key id.

    The private key file is created with mode 0600 and never overwritten unless asked: losing
    the old key would not break old manifests (verify needs only the public key), but silently
    replacing it would.

    Raises:
        ConfigError: a file exists and ``overwrite`` is false, or it cannot be written.
    """
    for path in (private_path, public_path):
        if path.exists() and not overwrite:
            raise ConfigError(f"{path} exists; refusing to overwrite a key", reason="key_exists")
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        private_path.parent.mkdir(parents=True, exist_ok=True)
        public_path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fd = os.open(private_path, flags, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        public_path.write_bytes(public_pem(private_key.public_key()))
    except OSError as exc:
        raise ConfigError(f"cannot write key files: {type(exc).__name__}") from exc
    return key_id(private_key.public_key())


def load_signer(path: Path) -> Signer:
    """Load the Ed25519 private key PEM at ``path``.

    Raises:
        ConfigError: the file is missing, unreadable, or not an unencrypted Ed25519 key.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read audit signing key {path}", reason="missing_key") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError("audit signing key is not a valid PEM key", reason="bad_key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("audit signing key is not an Ed25519 key", reason="bad_key")
    return Signer(key)


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """Parse an Ed25519 public key PEM.

    Raises:
        AuditError: the bytes are not an Ed25519 public key.
    """
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise AuditError("public key is not a valid PEM key", reason="bad_public_key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError("public key is not an Ed25519 key", reason="bad_public_key")
    return key
