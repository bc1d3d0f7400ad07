"""De-identification: Presidio-anonymizer with our operators, profiles, vault and leak gate.

Public API (imported lazily: ``presidio_anonymizer`` pulls in spaCy and transformers, so only
code that de-identifies pays for it)::

    from pipeline.deid import Deidentifier
    deid = Deidentifier.from_settings(settings, detector=detector)
    result = deid.deidentify(text, scope="patient:123", profile="safe_harbor")
    result.text, result.replacements, result.leak_gate.status
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Deidentifier": "pipeline.deid.engine",
    "DeidResult": "pipeline.deid.engine",
    "Replacement": "pipeline.deid.engine",
    "Scope": "pipeline.deid.context",
    "DeidContext": "pipeline.deid.context",
    "Keyring": "pipeline.deid.crypto",
    "KeyProvider": "pipeline.deid.keys",
    "KeyFileProvider": "pipeline.deid.keys",
    "SettingsKeyProvider": "pipeline.deid.keys",
    "StaticKeyProvider": "pipeline.deid.keys",
    "LeakGate": "pipeline.deid.leak_gate",
    "LeakReport": "pipeline.deid.leak_gate",
    "Profile": "pipeline.deid.profiles",
    "TenantPolicy": "pipeline.deid.profiles",
    "builtin_profile": "pipeline.deid.profiles",
    "Vault": "pipeline.deid.vault",
    "VaultStore": "pipeline.deid.vault",
    "InMemoryVaultStore": "pipeline.deid.vault",
    "register_operators": "pipeline.deid.operators",
    "register_deanonymizers": "pipeline.deid.operators",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline.deid' has no attribute {name!r}")
    return getattr(import_module(module), name)
