"""Key providers and profile validation."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import SecretStr

from pipeline.config import KeySettings
from pipeline.deid.keys import KeyFileProvider, SettingsKeyProvider, generate_key_file
from pipeline.deid.profiles import (
    BUILTIN_PROFILES,
    OperatorSpec,
    Profile,
    TenantPolicies,
    builtin_profile,
    load_profile,
    parse_profile,
)
from pipeline.detect.taxonomy import Category
from pipeline.errors import ConfigError, CryptoError

K1 = base64.b64encode(bytes(range(32))).decode()
K2 = base64.b64encode(bytes(range(32, 64))).decode()


def test_settings_provider_reads_keys_and_hides_them():
    p = SettingsKeyProvider(
        KeySettings(key_id="a", hmac_key=SecretStr(K1), encryption_key=SecretStr(K2))
    )
    assert p.key_id == "a"
    assert p.hmac_key() == bytes(range(32)) and p.encryption_key("a") == bytes(range(32, 64))
    assert K1 not in repr(p) and "\\x00" not in repr(p)
    with pytest.raises(CryptoError):
        p.hmac_key("unknown")


def test_settings_provider_missing_or_bad_key():
    with pytest.raises(ConfigError):
        SettingsKeyProvider(KeySettings())
    with pytest.raises(ConfigError):
        SettingsKeyProvider(KeySettings(hmac_key=SecretStr("short"), encryption_key=SecretStr(K2)))


def test_key_file_single_and_rotation(tmp_path):
    path = tmp_path / "keys.json"
    generate_key_file(path, key_id="dev-9")
    assert oct(path.stat().st_mode)[-3:] == "600"
    assert KeyFileProvider(path).key_id == "dev-9"
    rot = tmp_path / "rot.json"
    rot.write_text(
        json.dumps(
            {
                "current": "new",
                "keys": [
                    {"key_id": "old", "hmac_key": K1, "encryption_key": K2},
                    {"key_id": "new", "hmac_key": K2, "encryption_key": K1},
                ],
            }
        )
    )
    p = KeyFileProvider(rot)
    assert p.key_id == "new" and p.hmac_key("old") == bytes(range(32))
    # The key file wins over env keys in settings.
    assert SettingsKeyProvider(KeySettings(key_file=rot)).key_id == "new"
    bad = tmp_path / "bad.json"
    bad.write_text('{"key_id": "x", "hmac_key": "AAAA", "encryption_key": "AAAA"}')
    with pytest.raises(ConfigError):
        KeyFileProvider(bad)


@pytest.mark.parametrize("name", BUILTIN_PROFILES)
def test_builtin_profiles_valid_and_complete(name):
    prof = builtin_profile(name)
    assert set(prof.categories) == set(Category)


def test_safe_harbor_profile_is_what_the_rule_says():
    sh = builtin_profile("safe_harbor")
    assert sh.safe_harbor and not sh.reversible
    assert sh.categories[Category.DATE].operator == "generalise"
    assert sh.categories[Category.AGE_OVER_89].operator == "generalise"
    assert sh.categories[Category.GEO].params["zip"] == "zip3"
    assert builtin_profile("pseudonymize").categories[Category.DATE].operator == "date_shift"
    assert {s.operator for s in builtin_profile("redact").categories.values()} == {"tag"}


def _doc(**over):
    doc = builtin_profile("safe_harbor").model_dump(mode="json")
    doc.update(over)
    return doc


@pytest.mark.parametrize(
    ("label", "spec"),
    [
        ("DATE", {"operator": "date_shift"}),
        ("SSN", {"operator": "hmac"}),
        ("NAME", {"operator": "encrypt"}),
        ("ACCOUNT", {"operator": "mask", "params": {"keep_last": 4}}),
        ("GEO", {"operator": "surrogate", "params": {"zip": "surrogate"}}),
    ],
)
def test_safe_harbor_rejects_non_compliant_operators(label, spec):
    doc = _doc()
    doc["categories"][label] = spec
    with pytest.raises(ConfigError, match=r"Safe Harbor|keep_last"):
        parse_profile(doc, "test")
    with pytest.raises(ConfigError):
        builtin_profile("safe_harbor").with_overrides({label: spec})
    # The same operator is fine in a profile that does not claim Safe Harbor.
    doc["safe_harbor"] = False
    assert parse_profile(doc, "test").categories[Category(label)].operator == spec["operator"]


def test_profile_missing_category_and_unknown_operator(tmp_path):
    doc = _doc()
    del doc["categories"]["PHOTO"]
    with pytest.raises(ConfigError, match="PHOTO"):
        parse_profile(doc, "x")
    doc = _doc()
    doc["categories"]["NAME"] = {"operator": "shred"}
    with pytest.raises(ConfigError):
        parse_profile(doc, "x")
    path = tmp_path / "p.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(ConfigError):
        load_profile(path)


def test_overrides_forms_and_tenant_policies(tmp_path):
    sh = builtin_profile("safe_harbor")
    out = sh.with_overrides(
        {"NAME": "tag", "MRN": OperatorSpec(operator="redact"), "SSN": {"operator": "mask"}}
    )
    assert out.categories[Category.NAME].operator == "tag"
    assert out.categories[Category.MRN].operator == "redact"
    assert sh.categories[Category.NAME].operator == "surrogate"  # the original is untouched
    with pytest.raises(ConfigError):
        sh.with_overrides({"NOT_A_LABEL": "tag"})
    path = tmp_path / "tenants.yaml"
    path.write_text(
        "tenants:\n  acme:\n    profile: pseudonymize\n    allow_reidentification: true\n"
        "    overrides:\n      NAME: {operator: tag}\n"
    )
    policies = TenantPolicies.load(path)
    assert policies.tenants["acme"].overrides[Category.NAME].operator == "tag"
    assert isinstance(sh, Profile)
