"""The re-identification vault: surrogate -> original, encrypted, per scope, with a TTL.

Only tenants whose policy allows re-identification write here. Entries are indexed by keyed
hashes of the scope and of the surrogate (neither is stored in clear) and their payload (the
surrogate, the original and the label) is AES-256-GCM encrypted with the indexes and key id as
associated data, so an entry moved to another scope or key does not decrypt. Re-identification
reads only the entries of the scope it is given: text from another scope is never touched.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.deid.crypto import Keyring
from pipeline.errors import CryptoError


@dataclass(frozen=True)
class VaultEntry:
    """One encrypted mapping. ``repr`` shows indexes and expiry only."""

    scope_index: str
    surrogate_index: str
    key_id: str
    expires_at: float
    blob: bytes = field(repr=False)

    @property
    def key(self) -> str:
        """The store key (and Kafka message key): ``scope_index:surrogate_index``."""
        return f"{self.scope_index}:{self.surrogate_index}"

    def to_json(self) -> bytes:
        """Serialise for a store that keeps bytes."""
        return json.dumps(
            {
                "v": 1,
                "scope": self.scope_index,
                "sur": self.surrogate_index,
                "kid": self.key_id,
                "exp": self.expires_at,
                "blob": self.blob.hex(),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> VaultEntry:
        """Reverse :meth:`to_json`; raise :class:`CryptoError` on a malformed entry."""
        try:
            doc = json.loads(raw)
            return cls(
                scope_index=str(doc["scope"]),
                surrogate_index=str(doc["sur"]),
                key_id=str(doc["kid"]),
                expires_at=float(doc["exp"]),
                blob=bytes.fromhex(doc["blob"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CryptoError("malformed vault entry", reason="bad_vault_entry") from exc


class VaultStore(Protocol):
    """Where vault entries live (in memory, a compacted Kafka topic, a database)."""

    def put(self, entry: VaultEntry) -> None:
        """Insert or replace the entry under its key."""
        ...

    def entries(self, scope_index: str) -> list[VaultEntry]:
        """Return every entry of one scope (expired ones included; the vault filters)."""
        ...

    def delete(self, scope_index: str, surrogate_index: str) -> None:
        """Remove one entry."""
        ...

    def purge_expired(self, now: float) -> int:
        """Remove entries whose TTL has passed; return how many."""
        ...


class InMemoryVaultStore:
    """A thread-safe in-process store (tests, single-process deployments)."""

    def __init__(self) -> None:
        """Start empty."""
        self._by_scope: dict[str, dict[str, VaultEntry]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._by_scope.values())

    def put(self, entry: VaultEntry) -> None:
        """Insert or replace."""
        with self._lock:
            self._by_scope.setdefault(entry.scope_index, {})[entry.surrogate_index] = entry

    def entries(self, scope_index: str) -> list[VaultEntry]:
        """Entries of one scope."""
        with self._lock:
            return list(self._by_scope.get(scope_index, {}).values())

    def delete(self, scope_index: str, surrogate_index: str) -> None:
        """Remove one entry (no error if absent)."""
        with self._lock:
            scope = self._by_scope.get(scope_index)
            if scope is not None:
                scope.pop(surrogate_index, None)
                if not scope:
                    del self._by_scope[scope_index]

    def expired(self, now: float) -> list[VaultEntry]:
        """Return the entries whose TTL has passed."""
        with self._lock:
            return [e for m in self._by_scope.values() for e in m.values() if e.expires_at <= now]

    def purge_expired(self, now: float) -> int:
        """Remove expired entries."""
        expired = [(e.scope_index, e.surrogate_index) for e in self.expired(now)]
        for scope_index, surrogate_index in expired:
            self.delete(scope_index, surrogate_index)
        return len(expired)


class Vault:
    """Encrypts mappings into a :class:`VaultStore` and re-identifies text per scope."""

    def __init__(
        self,
        store: VaultStore,
        keyring: Keyring,
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Wrap ``store``; new entries expire ``ttl_seconds`` after they are written."""
        self.store = store
        self._keyring = keyring
        self._ttl = ttl_seconds
        self._clock = clock

    def __repr__(self) -> str:
        return f"Vault(store={type(self.store).__name__}, key_id={self._keyring.key_id!r})"

    def _aad(self, scope_index: str, surrogate_index: str, key_id: str) -> bytes:
        return f"{scope_index}|{surrogate_index}|{key_id}".encode()

    def scope_index(self, scope: str) -> str:
        """The keyed index of a scope."""
        return self._keyring.index("scope", scope)

    def remember(self, scope: str, surrogate: str, original: str, label: str) -> None:
        """Store ``surrogate -> original`` for ``scope`` (refreshing the TTL)."""
        scope_index = self.scope_index(scope)
        surrogate_index = self._keyring.index("surrogate", scope, surrogate)
        payload = json.dumps({"s": surrogate, "o": original, "l": label}).encode()
        kid = self._keyring.key_id
        blob = self._keyring.seal(payload, self._aad(scope_index, surrogate_index, kid))
        self.store.put(
            VaultEntry(scope_index, surrogate_index, kid, self._clock() + self._ttl, blob)
        )

    def mapping(self, scope: str) -> dict[str, str]:
        """Return the live ``surrogate -> original`` mapping of one scope."""
        now = self._clock()
        out: dict[str, str] = {}
        for entry in self.store.entries(self.scope_index(scope)):
            if entry.expires_at <= now:
                continue
            ring = self._keyring.for_key_id(entry.key_id)
            aad = self._aad(entry.scope_index, entry.surrogate_index, entry.key_id)
            doc = json.loads(ring.open(entry.blob, aad))
            out[str(doc["s"])] = str(doc["o"])
        return out

    def reidentify(self, text: str, scope: str) -> str:
        """Replace the scope's surrogates in ``text`` by their originals (longest first).

        Only whole occurrences are replaced (no match inside a longer word), and only this
        scope's entries are read, so a surrogate of another patient is left as it is.
        """
        mapping = self.mapping(scope)
        if not mapping:
            return text
        alternatives = "|".join(re.escape(s) for s in sorted(mapping, key=len, reverse=True))
        pattern = re.compile(rf"(?<![\w\]])(?:{alternatives})(?![\w\[])")
        return pattern.sub(lambda m: mapping[m.group()], text)

    def expire(self) -> int:
        """Drop expired entries from the store; return how many."""
        return self.store.purge_expired(self._clock())
