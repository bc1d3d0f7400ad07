"""Keyed primitives of de-identification: PRFs, keyed hashes, AES-256-GCM and AES-SIV.

Everything secret-derived in ``pipeline.deid`` goes through :class:`Keyring`, which derives one
sub-key per purpose from the provider's root keys. A plain SHA-256 of an SSN or a birth date can
be reversed by enumerating the (small) input space; an HMAC under a secret key cannot.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

from pipeline.deid.keys import KeyProvider, derive_key
from pipeline.errors import CryptoError

try:
    from _hashlib import hmac_new as _openssl_hmac_new
except ImportError:  # a Python built without OpenSSL's hashlib: use the hmac module's own
    _openssl_hmac_new = None  # type: ignore[assignment]

_SEP = "\x1f"  # unit separator: cannot occur in the normalised parts we feed the PRF
NONCE_BYTES = 12

#: ``[ENC:<mode>:<key id>:<label>:<base64url>]`` -- what the encrypt operator leaves in text.
TOKEN_RE = re.compile(
    r"\[ENC:(?P<mode>gcm|siv):(?P<key_id>[A-Za-z0-9._-]{1,64}):(?P<label>[A-Z0-9_]{1,32}):"
    r"(?P<data>[A-Za-z0-9_-]+={0,2})\]"
)


class _MacState(Protocol):
    """A keyed HMAC-SHA256 state (``hmac.HMAC`` or the OpenSSL object it wraps)."""

    def copy(self) -> _MacState: ...
    def update(self, msg: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


def _keyed_state(key: bytes) -> _MacState:
    """A keyed HMAC-SHA256 state to copy per message.

    CPython's ``hmac.new`` wraps OpenSSL's HMAC object; copying that object directly costs half
    of copying the Python wrapper, and the PRF runs dozens of times per request. Both compute
    the same HMAC-SHA256; the wrapper is the fallback where the OpenSSL one is missing.
    """
    if _openssl_hmac_new is not None:
        return _openssl_hmac_new(key, b"", "sha256")
    return hmac.new(key, digestmod=hashlib.sha256)


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Keyring:
    """Purpose-bound keys derived from one :class:`KeyProvider` version.

    ``repr`` shows only the key id, so a keyring inside logged objects cannot leak key bytes.
    """

    key_id: str
    _surrogate: bytes = field(repr=False)
    _date_shift: bytes = field(repr=False)
    _hash: bytes = field(repr=False)
    _index: bytes = field(repr=False)
    _aead: bytes = field(repr=False)
    _siv: bytes = field(repr=False)
    _provider: KeyProvider = field(repr=False, compare=False)
    # Keyed HMAC states of the PRF keys (see __post_init__); derived, so not compared.
    _surrogate_state: _MacState = field(init=False, repr=False, compare=False)
    _date_shift_state: _MacState = field(init=False, repr=False, compare=False)
    _hash_state: _MacState = field(init=False, repr=False, compare=False)
    _index_state: _MacState = field(init=False, repr=False, compare=False)

    @classmethod
    def from_provider(cls, provider: KeyProvider, key_id: str | None = None) -> Keyring:
        """Derive the purpose keys of ``key_id`` (the provider's current one by default)."""
        kid = key_id if key_id is not None else provider.key_id
        root_h = provider.hmac_key(kid)
        root_e = provider.encryption_key(kid)
        return cls(
            key_id=kid,
            _surrogate=derive_key(root_h, "phi-pipeline/surrogate.v1"),
            _date_shift=derive_key(root_h, "phi-pipeline/date-shift.v1"),
            _hash=derive_key(root_h, "phi-pipeline/keyed-hash.v1"),
            _index=derive_key(root_h, "phi-pipeline/vault-index.v1"),
            _aead=derive_key(root_e, "phi-pipeline/aes-gcm.v1"),
            _siv=derive_key(root_e, "phi-pipeline/aes-siv.v1", length=64),
            _provider=provider,
        )

    def for_key_id(self, key_id: str) -> Keyring:
        """Return the keyring of another key version (decrypting old tokens)."""
        if key_id == self.key_id:
            return self
        return Keyring.from_provider(self._provider, key_id)

    # -- PRFs -------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        # Keyed HMAC states, made once per keyring: copying a keyed state skips the key
        # schedule (the ipad/opad blocks) that a one-shot hmac.digest redoes per call, and the
        # surrogate PRF runs dozens of times per request. Same HMAC-SHA256, same bytes.
        for name in ("_surrogate", "_date_shift", "_hash", "_index"):
            object.__setattr__(self, f"{name}_state", _keyed_state(getattr(self, name)))

    def __reduce__(self) -> tuple[type[Keyring], tuple[object, ...]]:
        # Pickle and copy the keys only: the HMAC states cannot be pickled, and __post_init__
        # rebuilds them from the keys.
        return (
            Keyring,
            (
                self.key_id,
                self._surrogate,
                self._date_shift,
                self._hash,
                self._index,
                self._aead,
                self._siv,
                self._provider,
            ),
        )

    @staticmethod
    def _mac(state: _MacState, parts: tuple[str, ...]) -> bytes:
        h = state.copy()
        # Joining the str parts and encoding once gives the same bytes as joining the encoded
        # parts (UTF-8 encodes the separator U+001F as the single byte 0x1F).
        h.update(_SEP.join(parts).encode("utf-8"))
        return h.digest()

    def surrogate_prf(self, *parts: str) -> bytes:
        """32 pseudo-random bytes for surrogate choice, fixed by ``parts`` and the key."""
        return self._mac(self._surrogate_state, parts)

    def date_shift_prf(self, *parts: str) -> bytes:
        """32 pseudo-random bytes for the date-shift offset of a scope."""
        return self._mac(self._date_shift_state, parts)

    def keyed_hash(self, *parts: str) -> str:
        """Hex HMAC-SHA256 of ``parts`` under the keyed-hash purpose key."""
        return self._mac(self._hash_state, parts).hex()

    def index(self, *parts: str) -> str:
        """Hex HMAC used as a vault index (scope and surrogate never stored in clear)."""
        return self._mac(self._index_state, parts).hex()

    # -- AEAD -------------------------------------------------------------------------------
    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """AES-256-GCM encrypt with a random 96-bit nonce; returns ``nonce || ciphertext``."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self._aead).encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """Reverse :meth:`seal`; raise :class:`CryptoError` if the tag or AAD does not match."""
        if len(blob) < NONCE_BYTES + 16:
            raise CryptoError("ciphertext too short", reason="bad_ciphertext")
        try:
            return AESGCM(self._aead).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise CryptoError("ciphertext failed authentication", reason="bad_ciphertext") from exc

    def seal_deterministic(self, plaintext: bytes, aad: bytes) -> bytes:
        """AES-SIV (RFC 5297, 512-bit key): equal plaintexts give equal ciphertexts."""
        return AESSIV(self._siv).encrypt(plaintext, [aad])

    def open_deterministic(self, blob: bytes, aad: bytes) -> bytes:
        """Reverse :meth:`seal_deterministic`."""
        try:
            return AESSIV(self._siv).decrypt(blob, [aad])
        except InvalidTag as exc:
            raise CryptoError("ciphertext failed authentication", reason="bad_ciphertext") from exc


def encrypt_token(keyring: Keyring, label: str, value: str, *, deterministic: bool) -> str:
    """Encrypt ``value`` into an ``[ENC:...]`` token bound (AAD) to its label and key id."""
    aad = f"{label}|{keyring.key_id}".encode()
    if deterministic:
        blob = keyring.seal_deterministic(value.encode("utf-8"), aad)
        mode = "siv"
    else:
        blob = keyring.seal(value.encode("utf-8"), aad)
        mode = "gcm"
    return f"[ENC:{mode}:{keyring.key_id}:{label}:{_b64e(blob)}]"


def decrypt_token(keyring: Keyring, token: str) -> str:
    """Decrypt one ``[ENC:...]`` token (any key version the provider still resolves)."""
    match = TOKEN_RE.fullmatch(token.strip())
    if match is None:
        raise CryptoError("not an encryption token", reason="bad_ciphertext")
    ring = keyring.for_key_id(match["key_id"])
    aad = f"{match['label']}|{match['key_id']}".encode()
    try:
        blob = _b64d(match["data"])
    except ValueError as exc:
        raise CryptoError("token is not base64url", reason="bad_ciphertext") from exc
    opener = ring.open_deterministic if match["mode"] == "siv" else ring.open
    raw = opener(blob, aad)
    return raw.decode("utf-8")
