"""Loading, validation and versioning of policy files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.errors import ConfigError
from pipeline.policy import load_policy, parse_policy
from pipeline.policy.models import ProviderKind

DEMO = Path(__file__).resolve().parents[3] / "pipeline" / "policy" / "examples" / "demo_policy.yaml"

MINIMAL = """
schema_version: 1
providers:
  - name: p
    kind: openai
    endpoint: https://p.example.test/v1
    models: [m]
    baa: {signed: true, reference: BAA-9}
    region: us-east-1
tenants:
  - name: t
    allowed_providers: [p]
    default_provider: p
"""

# Same meaning: comments, reordered keys, flow vs block style, a default spelled out.
MINIMAL_REWRITTEN = """
# a comment
tenants:
  - {default_provider: p, name: t, allowed_providers: [p], default_action: deidentify}
providers:
  - baa:
      reference: BAA-9
      signed: true
    region: us-east-1
    models: [m]
    endpoint: https://p.example.test/v1
    kind: openai
    name: p
    zero_data_retention: false
schema_version: 1
"""


def test_policy_demo_file_loads():
    policy = load_policy(DEMO)
    assert {p.name for p in policy.providers} >= {"local-baa", "local-public"}
    assert policy.provider("local-baa").baa.signed
    assert not policy.provider("local-public").baa.signed
    assert policy.provider("azure-east").kind is ProviderKind.AZURE_OPENAI
    assert policy.tenant("clinic-a") is not None
    assert policy.tenant("missing") is None


def test_policy_version_is_sha256_of_canonical_form():
    first = parse_policy(MINIMAL)
    assert first.version.startswith("sha256:")
    assert len(first.version) == len("sha256:") + 64
    assert parse_policy(MINIMAL).version == first.version
    assert parse_policy(MINIMAL_REWRITTEN).version == first.version


def test_policy_version_changes_with_meaning():
    base = parse_policy(MINIMAL).version
    assert parse_policy(MINIMAL.replace("us-east-1", "us-west-2")).version != base
    assert parse_policy(MINIMAL.replace("BAA-9", "BAA-10")).version != base


def test_policy_demo_version_stable_across_loads():
    assert load_policy(DEMO).version == load_policy(str(DEMO)).version


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (MINIMAL.replace("default_provider: p", "default_provider: q"), "not allowed"),
        (
            MINIMAL.replace("allowed_providers: [p]", "allowed_providers: [p, x]"),
            "unknown provider",
        ),
        (MINIMAL.replace("{signed: true, reference: BAA-9}", "{signed: true}"), "reference"),
        (MINIMAL.replace("kind: openai", "kind: azure_openai"), "api_version"),
        (MINIMAL.replace("kind: openai", "kind: carrier_pigeon"), "kind"),
        (MINIMAL.replace("region: us-east-1", "region: us-east-1\n    regoin: typo"), "regoin"),
        (MINIMAL.replace("schema_version: 1", "schema_version: 2"), "schema_version"),
        (MINIMAL + "    rules: [{name: r, action: route_to, reason: x}]\n", "action"),
        (MINIMAL + "    rules: [{name: r, action: block, route_to: p, reason: x}]\n", "block"),
        (MINIMAL + "    rules: [{name: r, action: block, reason: Bad Reason}]\n", "reason"),
        (
            MINIMAL + "    rules: [{name: r, when: {min_total: 3, max_total: 1}, action: block,"
            " reason: x}]\n",
            "max_total",
        ),
        (
            MINIMAL + "    rules: [{name: r, when: {categories: [HAIR_COLOUR]}, action: block,"
            " reason: x}]\n",
            "categories",
        ),
        (
            MINIMAL + "  - name: t\n    allowed_providers: [p]\n    default_provider: p\n",
            "duplicate tenant",
        ),
        (
            MINIMAL
            + "    deidentification: {profile: safe_harbor, reidentify_completions: true}\n",
            "pseudonymize",
        ),
        (MINIMAL + "    deidentification: {profile: scramble}\n", "profile"),
    ],
)
def test_policy_invalid_policies_rejected(text, fragment):
    with pytest.raises(ConfigError) as info:
        parse_policy(text)
    assert info.value.reason == "policy_invalid"
    assert fragment in str(info.value)


def test_policy_duplicate_yaml_keys_rejected():
    text = MINIMAL.replace("region: us-east-1", "region: us-east-1\n    region: eu-west-1")
    with pytest.raises(ConfigError) as info:
        parse_policy(text)
    assert "duplicate key 'region'" in str(info.value)


def test_policy_malformed_yaml_and_non_mapping():
    with pytest.raises(ConfigError) as info:
        parse_policy("providers: [unclosed\n")
    assert "malformed YAML" in str(info.value)
    with pytest.raises(ConfigError):
        parse_policy("- just\n- a list\n")
    with pytest.raises(ConfigError):
        parse_policy("!!python/object:os.system {}\n")


def test_policy_tenant_deidentification_settings():
    policy = parse_policy(
        MINIMAL + "    deidentification: {profile: pseudonymize, reidentify_completions: true}\n"
    )
    tenant = policy.tenant("t")
    assert tenant is not None
    assert tenant.deidentification.profile == "pseudonymize"
    assert tenant.deidentification.reidentify_completions is True
    default = parse_policy(MINIMAL).tenant("t")
    assert default is not None
    assert default.deidentification.profile is None
    assert default.deidentification.reidentify_completions is False


def test_policy_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_policy(tmp_path / "absent.yaml")
    assert info.value.reason == "policy_missing"


def test_policy_models_are_frozen():
    policy = parse_policy(MINIMAL)
    with pytest.raises(ValidationError):
        policy.providers[0].region = "elsewhere"  # type: ignore[misc]
