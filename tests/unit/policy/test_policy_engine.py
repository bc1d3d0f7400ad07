"""Table tests of the routing decision over the demo policy and small purpose-built policies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Coverage, Detection, Span
from pipeline.errors import PolicyError
from pipeline.policy import (
    Action,
    DetectionSummary,
    RequestMeta,
    decide,
    load_policy,
    parse_policy,
)
from pipeline.policy.engine import evidence_problem

DEMO = Path(__file__).resolve().parents[3] / "pipeline" / "policy" / "examples" / "demo_policy.yaml"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo():
    return load_policy(DEMO)


def _decide(policy, tenant, counts=None, provider=None, model=None, now=NOW):
    meta = RequestMeta("req-1", tenant, provider, model)
    return decide(meta, DetectionSummary.from_counts(counts or {}), policy, now)


# (tenant, requested provider, counts) -> (action, provider, reason, rule)
DEMO_TABLE = [
    # clinic-a: SSN blocks, bulk blocks, few NAME/DATE/MRN raw to the BAA provider.
    (
        "clinic-a",
        None,
        {"SSN": 1, "NAME": 1},
        Action.BLOCK,
        None,
        "ssn_present",
        "ssn-never-leaves",
    ),
    ("clinic-a", None, {"NAME": 50}, Action.BLOCK, None, "too_many_identifiers", "bulk-export"),
    (
        "clinic-a",
        None,
        {"NAME": 2, "DATE": 1},
        Action.ALLOW_RAW,
        "local-baa",
        "baa_raw_permitted",
        "few-identifiers-raw",
    ),
    (
        "clinic-a",
        None,
        {},
        Action.ALLOW_RAW,
        "local-baa",
        "baa_raw_permitted",
        "few-identifiers-raw",
    ),
    # exclusive: one PHONE makes the raw rule not match -> tenant default (deidentify).
    (
        "clinic-a",
        None,
        {"NAME": 1, "PHONE": 1},
        Action.DEIDENTIFY,
        "local-baa",
        "tenant_default_deidentify",
        None,
    ),
    # max_total 3 exceeded -> default deidentify.
    (
        "clinic-a",
        None,
        {"NAME": 4},
        Action.DEIDENTIFY,
        "local-baa",
        "tenant_default_deidentify",
        None,
    ),
    # analytics-b: no PHI stays on the public model; any PHI is routed to the BAA provider.
    ("analytics-b", None, {}, Action.DEIDENTIFY, "local-public", "no_phi_detected", "no-phi"),
    (
        "analytics-b",
        None,
        {"EMAIL": 1},
        Action.DEIDENTIFY,
        "local-baa",
        "phi_routed_to_baa",
        "has-phi-to-baa",
    ),
    (
        "analytics-b",
        "local-public",
        {"DATE": 2},
        Action.DEIDENTIFY,
        "local-baa",
        "phi_routed_to_baa",
        "has-phi-to-baa",
    ),
    # research-c: default provider lacks ZDR (and its SOC 2 is stale) -> fallback.
    (
        "research-c",
        None,
        {"NAME": 1},
        Action.DEIDENTIFY,
        "local-baa",
        "tenant_default_deidentify",
        None,
    ),
    ("research-c", None, {"PHOTO": 1}, Action.BLOCK, None, "biometric_or_photo", "photos-blocked"),
    # quarantines: nothing is guessed.
    ("nobody", None, {}, Action.QUARANTINE, None, "unknown_tenant", None),
    ("clinic-a", "no-such-provider", {}, Action.QUARANTINE, None, "unknown_provider", None),
    ("analytics-b", "azure-east", {}, Action.QUARANTINE, None, "provider_not_allowed", None),
]


@pytest.mark.parametrize(
    ("tenant", "provider", "counts", "action", "target", "reason", "rule"), DEMO_TABLE
)
def test_policy_demo_table(demo, tenant, provider, counts, action, target, reason, rule):
    decision = _decide(demo, tenant, counts, provider)
    assert (decision.action, decision.provider, decision.reason, decision.rule) == (
        action,
        target,
        reason,
        rule,
    )
    assert decision.policy_version == demo.version
    if action in (Action.BLOCK, Action.QUARANTINE):
        assert decision.model is None
    else:
        assert decision.model == "echo-1"


def test_policy_fallback_records_why_primary_was_skipped(demo):
    decision = _decide(demo, "research-c", {"NAME": 1})
    assert decision.ineligible == (("anthropic-eu", "zero_data_retention_missing"),)
    audit = decision.to_audit()
    assert json.loads(json.dumps(audit)) == audit
    assert audit["ineligible"] == [
        {"provider": "anthropic-eu", "reason": "zero_data_retention_missing"}
    ]
    assert audit["policy_version"] == demo.version


def test_policy_decide_is_deterministic(demo):
    first = [_decide(demo, t, c, p) for t, p, c, *_ in DEMO_TABLE]
    second = [_decide(demo, t, c, p) for t, p, c, *_ in DEMO_TABLE]
    assert first == second


def test_policy_naive_now_is_a_caller_error(demo):
    with pytest.raises(PolicyError) as info:
        _decide(demo, "clinic-a", now=datetime(2026, 1, 1))
    assert info.value.reason == "naive_datetime"


def test_policy_now_is_compared_in_utc(demo):
    # 2026-12-31 23:30 at UTC-05 is already 2027-01-01 in UTC: the BAA (expires 2030) still holds.
    eastern = timezone(timedelta(hours=-5))
    decision = _decide(demo, "clinic-a", now=datetime(2026, 12, 31, 23, 30, tzinfo=eastern))
    assert decision.action is Action.ALLOW_RAW


def test_policy_model_requested(demo):
    ok = _decide(demo, "clinic-a", {"PHONE": 1}, "local-baa", "echo-1")
    assert ok.model == "echo-1"
    unknown = _decide(demo, "clinic-a", {"PHONE": 1}, "local-baa", "gpt-9")
    assert (unknown.action, unknown.reason) == (Action.QUARANTINE, "unknown_model")


def test_policy_reroute_uses_the_target_providers_model(demo):
    # analytics-b asked for local-public with its model; PHI reroutes to local-baa.
    decision = _decide(demo, "analytics-b", {"NAME": 1}, "local-public", "echo-1")
    assert (decision.provider, decision.model) == ("local-baa", "echo-1")


# -- purpose-built policies -------------------------------------------------------------------

BASE = """
schema_version: 1
providers:
  - name: baa-us
    kind: openai
    endpoint: https://baa.example.test/v1
    models: [m1, m2]
    baa: {signed: true, reference: BAA-1, expires: 2026-12-31}
    region: us-east-1
    zero_data_retention: true
    training_opt_out: true
    soc2_type2_period_end: 2026-01-31
  - name: public-eu
    kind: openai
    endpoint: https://public.example.test/v1
    models: [p1]
    region: eu-west-1
    soc2_type2_period_end: 2026-06-30
  - name: nosoc2
    kind: openai
    endpoint: https://nosoc2.example.test/v1
    models: [n1]
    baa: {signed: true, reference: BAA-3}
    region: us-east-1
    zero_data_retention: true
tenants:
  - name: t
    allowed_providers: [baa-us, public-eu, nosoc2]
    default_provider: {default}
    fallback_providers: {fallbacks}
    requirements: {requirements}
    rules: {rules}
"""


def _policy(default="baa-us", fallbacks="[]", requirements="{}", rules="[]"):
    text = BASE.replace("{default}", default).replace("{fallbacks}", fallbacks)
    text = text.replace("{requirements}", requirements).replace("{rules}", rules)
    return parse_policy(text)


def test_policy_stale_soc2_is_ineligible_with_reason():
    policy = _policy(requirements="{soc2_max_age_months: 6}")
    # period end 2026-01-31 + 6 months = 2026-07-31: fresh on that day, stale the day after.
    fresh = _decide(policy, "t", now=datetime(2026, 7, 31, tzinfo=UTC))
    assert (fresh.action, fresh.provider) == (Action.DEIDENTIFY, "baa-us")
    stale = _decide(policy, "t", now=datetime(2026, 8, 1, tzinfo=UTC))
    assert (stale.action, stale.reason) == (Action.QUARANTINE, "no_eligible_provider")
    assert stale.ineligible == (("baa-us", "soc2_stale"),)


def test_policy_missing_and_future_soc2():
    policy = _policy(
        default="nosoc2", fallbacks="[public-eu]", requirements="{soc2_max_age_months: 12}"
    )
    decision = _decide(policy, "t", now=datetime(2026, 3, 1, tzinfo=UTC))
    # nosoc2 has no report; public-eu's period ends after "now": evidence that cannot exist yet.
    assert decision.action is Action.QUARANTINE
    assert decision.ineligible == (("nosoc2", "soc2_missing"), ("public-eu", "soc2_future_dated"))


def test_policy_region_requirement():
    policy = _policy(
        default="public-eu", fallbacks="[baa-us]", requirements="{regions: [us-east-1]}"
    )
    decision = _decide(policy, "t", {"NAME": 1})
    assert (decision.action, decision.provider) == (Action.DEIDENTIFY, "baa-us")
    assert decision.ineligible == (("public-eu", "region_not_allowed"),)


def test_policy_zero_data_retention_requirement():
    policy = _policy(default="public-eu", requirements="{zero_data_retention: true}")
    decision = _decide(policy, "t")
    assert (decision.action, decision.reason) == (Action.QUARANTINE, "no_eligible_provider")
    assert decision.ineligible == (("public-eu", "zero_data_retention_missing"),)


def test_policy_training_opt_out_and_baa_requirements():
    policy = _policy(default="public-eu", requirements="{training_opt_out: true}")
    assert _decide(policy, "t").ineligible == (("public-eu", "training_opt_out_missing"),)
    policy = _policy(default="public-eu", requirements="{baa: true}")
    assert _decide(policy, "t").ineligible == (("public-eu", "baa_missing"),)


def test_policy_allow_raw_to_non_baa_rejected_at_load():
    from pipeline.errors import ConfigError

    rules = "[{name: raw, action: allow_raw, reason: ok}]"
    with pytest.raises(ConfigError) as info:
        _policy(default="public-eu", rules=rules)
    assert "no BAA" in str(info.value)
    assert info.value.reason == "policy_invalid"
    routed = "[{name: raw, action: allow_raw, route_to: public-eu, reason: ok}]"
    with pytest.raises(ConfigError):
        _policy(rules=routed)


def test_policy_allow_raw_downgraded_when_baa_expired():
    rules = "[{name: raw, when: {min_total: 0}, action: allow_raw, reason: raw_ok}]"
    policy = _policy(rules=rules)
    before = _decide(policy, "t", {"NAME": 1}, now=datetime(2026, 12, 31, tzinfo=UTC))
    assert (before.action, before.provider, before.reason) == (Action.ALLOW_RAW, "baa-us", "raw_ok")
    after = _decide(policy, "t", {"NAME": 1}, now=datetime(2027, 1, 1, tzinfo=UTC))
    # The BAA lapsed: raw is never sent; the same provider gets de-identified text instead.
    assert (after.action, after.provider, after.reason) == (
        Action.DEIDENTIFY,
        "baa-us",
        "raw_downgraded_no_baa",
    )
    assert after.ineligible == (("baa-us", "baa_not_in_force"),)


def test_policy_allow_raw_falls_back_to_another_baa_provider():
    rules = "[{name: raw, when: {min_total: 0}, action: allow_raw, reason: raw_ok}]"
    policy = _policy(fallbacks="[nosoc2]", rules=rules)
    decision = _decide(policy, "t", now=datetime(2027, 1, 1, tzinfo=UTC))
    assert (decision.action, decision.provider) == (Action.ALLOW_RAW, "nosoc2")
    assert decision.ineligible == (("baa-us", "baa_not_in_force"),)


RULES = """
      - {name: many-names, when: {categories: [NAME], min_total: 3}, action: block, reason: r_many}
      - {name: one-or-two-ids, when: {categories: [SSN, MRN], min_total: 1, max_total: 2},
         action: deidentify, route_to: nosoc2, reason: r_ids}
      - {name: nothing, when: {min_total: 0, max_total: 0}, action: allow_raw, reason: r_clean}
"""


@pytest.mark.parametrize(
    ("counts", "action", "provider", "reason"),
    [
        ({"NAME": 2}, Action.DEIDENTIFY, "baa-us", "tenant_default_deidentify"),
        ({"NAME": 3}, Action.BLOCK, None, "r_many"),
        ({"NAME": 3, "SSN": 1}, Action.BLOCK, None, "r_many"),  # first match wins
        ({"SSN": 1}, Action.DEIDENTIFY, "nosoc2", "r_ids"),
        ({"SSN": 1, "MRN": 1}, Action.DEIDENTIFY, "nosoc2", "r_ids"),
        ({"SSN": 2, "MRN": 1}, Action.DEIDENTIFY, "baa-us", "tenant_default_deidentify"),
        ({}, Action.ALLOW_RAW, "baa-us", "r_clean"),
        ({"SSN": 0}, Action.ALLOW_RAW, "baa-us", "r_clean"),
    ],
)
def test_policy_rules_by_category_counts(counts, action, provider, reason):
    policy = _policy(rules=RULES)
    decision = _decide(policy, "t", counts)
    assert (decision.action, decision.provider, decision.reason) == (action, provider, reason)


def test_policy_default_block():
    policy = parse_policy(
        BASE.replace("{default}", "baa-us")
        .replace("{fallbacks}", "[]")
        .replace("{requirements}", "{}")
        .replace("{rules}", "[]")
        + "    default_action: block\n"
    )
    decision = _decide(policy, "t", {"NAME": 1})
    assert (decision.action, decision.reason) == (Action.BLOCK, "tenant_default_block")


def test_policy_detection_summary_from_detection():
    spans = (
        Span(0, 4, Category.NAME, 0.9, "name.v1"),
        Span(10, 21, Category.SSN, 1.0, "ssn.v1"),
        Span(30, 34, Category.NAME, 0.8, "name.v1"),
    )
    summary = DetectionSummary.from_detection(Detection(spans, Coverage(), "test"))
    assert dict(summary.counts) == {Category.NAME: 2, Category.SSN: 1}


def test_policy_detection_summary_rejects_unknown_labels():
    with pytest.raises(PolicyError) as info:
        DetectionSummary.from_counts({"FAVOURITE_COLOUR": 1})
    assert info.value.reason == "bad_detection_summary"
    with pytest.raises(PolicyError):
        DetectionSummary.from_counts({"NAME": -1})


def test_policy_evidence_problem_passes_when_nothing_required(demo):
    from pipeline.policy.models import Requirements

    provider = demo.provider("anthropic-eu")
    assert evidence_problem(provider, Requirements(), NOW.date(), raw=False) is None
    assert evidence_problem(provider, Requirements(), NOW.date(), raw=True) == "baa_missing"
