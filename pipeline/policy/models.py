"""The routing policy as data: pydantic models validated once at load time.

A policy names the LLM providers the pipeline may call (with their compliance evidence) and, per
tenant, which of them may be used and what to do with a prompt given what detection found in it.
Validation rejects a policy that could ever send raw (not de-identified) text to a provider
without a Business Associate Agreement: an ``allow_raw`` rule must route to a provider whose
policy entry carries a BAA. The engine re-checks the BAA's dates at decision time, because an
agreement can expire after the policy was written.

Every model is frozen and forbids unknown keys, so a typo in the YAML is an error, not a silently
ignored setting. :attr:`Policy.version` is the SHA-256 of the canonical JSON form of the
validated policy; it goes into every audit record.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from pipeline.detect.taxonomy import Category

_FROZEN = ConfigDict(frozen=True, extra="forbid")

#: Names of providers and tenants, and reason codes: short, stable, safe to log.
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
ReasonCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]

#: Schema version of the policy file format (the ``schema_version`` key).
POLICY_SCHEMA_VERSION: Literal[1] = 1


class ProviderKind(StrEnum):
    """Which adapter speaks to a provider."""

    OPENAI = "openai"
    AZURE_OPENAI = "azure_openai"
    VLLM = "vllm"
    OLLAMA = "ollama"
    ANTHROPIC = "anthropic"
    BEDROCK = "bedrock"
    LOCAL = "local"


class Action(StrEnum):
    """What happens to a prompt.

    ``allow_raw`` sends the original text (only ever to a provider with a BAA), ``deidentify``
    sends the de-identified text, ``block`` stops it by policy, ``quarantine`` stops it because
    the policy could not decide safely (unknown tenant/provider, no eligible provider).
    """

    ALLOW_RAW = "allow_raw"
    DEIDENTIFY = "deidentify"
    BLOCK = "block"
    QUARANTINE = "quarantine"


class Baa(BaseModel):
    """Business Associate Agreement evidence for a provider."""

    model_config = _FROZEN

    signed: bool = False
    reference: str | None = Field(default=None, min_length=1, max_length=128)
    effective: date | None = None
    expires: date | None = None

    @model_validator(mode="after")
    def _reference_when_signed(self) -> Baa:
        # A BAA nobody can produce for an auditor is no evidence: require its reference id.
        if self.signed and not self.reference:
            raise ValueError("baa.reference is required when baa.signed is true")
        if self.effective and self.expires and self.expires < self.effective:
            raise ValueError("baa.expires is before baa.effective")
        return self

    def valid_on(self, day: date) -> bool:
        """Return whether the agreement is signed and in force on ``day``."""
        if not self.signed:
            return False
        if self.effective is not None and day < self.effective:
            return False
        return not (self.expires is not None and day > self.expires)


class RateLimits(BaseModel):
    """Limits the pipeline applies to its own calls to one provider."""

    model_config = _FROZEN

    max_concurrency: int = Field(default=8, ge=1, le=1024)
    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)


class Provider(BaseModel):
    """One LLM provider and the evidence the policy relies on.

    Attributes:
        name: the provider's name in the policy (also the key of its API key in settings).
        kind: which adapter to use.
        endpoint: base URL (https; http only on loopback, checked by the provider adapter).
        models: model (or Azure deployment / Bedrock model id) names that may be requested.
        baa: BAA evidence; required for any ``allow_raw`` route.
        region: where the provider processes data, e.g. ``us-east-1``.
        zero_data_retention: the provider contractually keeps no prompt or completion.
        training_opt_out: the provider contractually does not train on our data.
        soc2_type2_period_end: end date of the review period of the latest SOC 2 Type II report.
        api_version: Azure OpenAI ``api-version`` query parameter (required for that kind).
        rate_limits: client-side limits.
    """

    model_config = _FROZEN

    name: Name
    kind: ProviderKind
    endpoint: str = Field(min_length=1, max_length=2048)
    models: tuple[str, ...] = Field(min_length=1)
    baa: Baa = Field(default_factory=Baa)
    region: str = Field(min_length=1, max_length=64)
    zero_data_retention: bool = False
    training_opt_out: bool = False
    soc2_type2_period_end: date | None = None
    api_version: str | None = None
    rate_limits: RateLimits = Field(default_factory=RateLimits)

    @model_validator(mode="after")
    def _azure_needs_api_version(self) -> Provider:
        if self.kind is ProviderKind.AZURE_OPENAI and not self.api_version:
            raise ValueError(f"provider {self.name}: azure_openai needs api_version")
        return self


class Requirements(BaseModel):
    """Compliance evidence a tenant requires of every provider it uses.

    Evidence is checked, not assumed: a provider with missing or stale evidence is ineligible.
    """

    model_config = _FROZEN

    baa: bool = False
    regions: tuple[str, ...] = ()
    zero_data_retention: bool = False
    training_opt_out: bool = False
    soc2_max_age_months: int | None = Field(default=None, ge=1, le=120)


class Match(BaseModel):
    """When a rule applies, from detection counts only (never from text).

    The rule matches when the total count over ``categories`` (every category when empty) is
    within ``[min_total, max_total]``. ``min_total: 0, max_total: 0`` over every category means
    "no PHI detected at all". With ``exclusive`` a single hit of a category not listed makes the
    rule not match ("only names and dates, at most 3").
    """

    model_config = _FROZEN

    categories: tuple[Category, ...] = ()
    min_total: int = Field(default=1, ge=0)
    max_total: int | None = Field(default=None, ge=0)
    exclusive: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> Match:
        if self.max_total is not None and self.max_total < self.min_total:
            raise ValueError("match.max_total is below match.min_total")
        if self.exclusive and not self.categories:
            raise ValueError("match.exclusive needs a list of categories")
        return self

    def matches(self, counts: dict[Category, int]) -> bool:
        """Return whether ``counts`` (hits per category) fall within this match."""
        wanted = self.categories or tuple(Category)
        if self.exclusive and any(n > 0 for c, n in counts.items() if c not in wanted):
            return False
        total = sum(counts.get(c, 0) for c in wanted)
        if total < self.min_total:
            return False
        return self.max_total is None or total <= self.max_total


class Rule(BaseModel):
    """One tenant rule; the first rule that matches decides.

    Attributes:
        name: identifies the rule in audit records.
        when: the detection-count condition.
        action: ``allow_raw``, ``deidentify`` or ``block``.
        route_to: provider to use instead of the request's / tenant's default.
        reason: reason code recorded with the decision.
    """

    model_config = _FROZEN

    name: Name
    when: Match = Field(default_factory=Match)
    action: Literal[Action.ALLOW_RAW, Action.DEIDENTIFY, Action.BLOCK]
    route_to: Name | None = None
    reason: ReasonCode

    @model_validator(mode="after")
    def _block_routes_nowhere(self) -> Rule:
        if self.action is Action.BLOCK and self.route_to is not None:
            raise ValueError(f"rule {self.name}: a block rule cannot route_to a provider")
        return self


class Deidentification(BaseModel):
    """How a tenant's prompts are de-identified, and whether completions are re-identified.

    Attributes:
        profile: the de-identification profile (``safe_harbor``, ``pseudonymize``, ``redact``);
            unset means the worker's default (``PHI_DEID__PROFILE``).
        overrides: per-category operator names (``{NAME: tag, SSN: redact}``), checked
            against the profile (a ``safe_harbor`` tenant cannot weaken a category).
        reidentify_completions: map surrogates in completions back to the original values
            (through the encrypted vault) for this tenant's consumers. Needs the reversible
            ``pseudonymize`` profile, whose surrogates the vault records.
    """

    model_config = _FROZEN

    profile: Literal["safe_harbor", "pseudonymize", "redact"] | None = None
    overrides: dict[Category, str] = Field(default_factory=dict)
    reidentify_completions: bool = False

    @model_validator(mode="after")
    def _reversible_for_reidentification(self) -> Deidentification:
        if self.reidentify_completions and self.profile != "pseudonymize":
            raise ValueError("reidentify_completions needs profile: pseudonymize")
        return self


class Tenant(BaseModel):
    """One tenant: its providers, requirements, rules and de-identification."""

    model_config = _FROZEN

    name: Name
    allowed_providers: tuple[Name, ...] = Field(min_length=1)
    default_provider: Name
    fallback_providers: tuple[Name, ...] = ()
    requirements: Requirements = Field(default_factory=Requirements)
    rules: tuple[Rule, ...] = ()
    default_action: Literal[Action.DEIDENTIFY, Action.BLOCK] = Action.DEIDENTIFY
    deidentification: Deidentification = Field(default_factory=Deidentification)

    @model_validator(mode="after")
    def _providers_allowed(self) -> Tenant:
        allowed = set(self.allowed_providers)
        named = [self.default_provider, *self.fallback_providers]
        named += [r.route_to for r in self.rules if r.route_to is not None]
        for provider in named:
            if provider not in allowed:
                raise ValueError(f"tenant {self.name}: provider {provider} is not allowed")
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError(f"tenant {self.name}: duplicate rule names")
        return self


class Policy(BaseModel):
    """The whole routing policy; :attr:`version` identifies it in audit records."""

    model_config = _FROZEN

    schema_version: Literal[1] = POLICY_SCHEMA_VERSION
    providers: tuple[Provider, ...] = Field(min_length=1)
    tenants: tuple[Tenant, ...] = Field(min_length=1)

    _version: str = PrivateAttr(default="")
    _providers: dict[str, Provider] = PrivateAttr(default_factory=dict)
    _tenants: dict[str, Tenant] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _cross_references(self) -> Policy:
        providers = {p.name: p for p in self.providers}
        if len(providers) != len(self.providers):
            raise ValueError("duplicate provider names")
        tenants = {t.name: t for t in self.tenants}
        if len(tenants) != len(self.tenants):
            raise ValueError("duplicate tenant names")
        for tenant in self.tenants:
            for name in tenant.allowed_providers:
                if name not in providers:
                    raise ValueError(f"tenant {tenant.name}: unknown provider {name}")
            for rule in tenant.rules:
                if rule.action is not Action.ALLOW_RAW:
                    continue
                # Raw text only ever goes to a BAA provider: reject the policy outright rather
                # than silently downgrading, so the author sees the mistake at load time.
                target = providers[rule.route_to or tenant.default_provider]
                if not target.baa.signed:
                    raise ValueError(
                        f"tenant {tenant.name}: rule {rule.name} sends raw text to provider "
                        f"{target.name}, which has no BAA"
                    )
        return self

    def model_post_init(self, context: object, /) -> None:
        """Index providers and tenants, and compute the version hash."""
        self._providers = {p.name: p for p in self.providers}
        self._tenants = {t.name: t for t in self.tenants}
        self._version = "sha256:" + hashlib.sha256(canonical_json(self)).hexdigest()

    @property
    def version(self) -> str:
        """``sha256:<hex>`` of the canonical form: equal policies have equal versions."""
        return self._version

    def provider(self, name: str) -> Provider | None:
        """Return the provider called ``name``, or ``None``."""
        return self._providers.get(name)

    def tenant(self, name: str) -> Tenant | None:
        """Return the tenant called ``name``, or ``None``."""
        return self._tenants.get(name)


def canonical_json(policy: Policy) -> bytes:
    """Return the canonical form: sorted keys, no whitespace, defaults filled in, UTF-8.

    Comments, key order and spelling-out of defaults in the YAML do not change it; any change
    of meaning does.
    """
    data = policy.model_dump(mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
