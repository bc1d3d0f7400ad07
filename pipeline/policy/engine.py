"""The routing decision: a pure function of request metadata, detection counts, policy and time.

:func:`decide` never sees prompt text, only the tenant, the requested provider/model and how
many identifiers of each Safe Harbor category detection found. Given the same inputs it returns
the same :class:`Decision`, which carries the policy version for the audit record.

Order of evaluation:

1. Unknown tenant -> ``quarantine`` (``unknown_tenant``). A requested provider that is not in the
   policy -> ``quarantine`` (``unknown_provider``); one the tenant may not use -> ``quarantine``
   (``provider_not_allowed``). Nothing is guessed.
2. The tenant's first matching rule gives the action, reason and optional ``route_to``; with no
   match the tenant's ``default_action`` applies.
3. ``block`` stops here. Otherwise the candidate providers are the rule's ``route_to`` (else the
   requested provider, else the tenant default) followed by the tenant's fallbacks, in order; the
   first whose compliance evidence satisfies the tenant's requirements on ``now`` is chosen.
   Each skipped candidate is recorded with its reason code (``soc2_stale``, ``baa_missing``...).
4. ``allow_raw`` additionally needs a BAA in force on ``now``. If no candidate has one, the
   decision is downgraded to ``deidentify`` (reason ``raw_downgraded_no_baa``): raw text never
   reaches a provider without a BAA, and de-identifying is always the safe direction.
5. No eligible candidate -> ``quarantine`` (``no_eligible_provider``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Detection
from pipeline.errors import PolicyError
from pipeline.policy.models import Action, Policy, Provider, Requirements, Tenant


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """What the router knows about a request besides its text.

    Attributes:
        request_id: correlation id (for the audit record, not used to decide).
        tenant: the tenant name as the producer sent it.
        provider: the provider the producer asked for, if any.
        model: the model the producer asked for, if any.
    """

    request_id: str
    tenant: str
    provider: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class DetectionSummary:
    """Hits per Safe Harbor category: all the engine learns about the text."""

    counts: Mapping[Category, int] = field(default_factory=dict)

    @classmethod
    def from_detection(cls, detection: Detection) -> DetectionSummary:
        """Count the merged spans of ``detection`` per category."""
        counts: dict[Category, int] = {}
        for span in detection.spans:
            counts[span.label] = counts.get(span.label, 0) + 1
        return cls(counts)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int]) -> DetectionSummary:
        """Build a summary from label names (e.g. an audit record's ``{"SSN": 1}``).

        Raises:
            PolicyError: a label is not a Safe Harbor category or a count is negative.
        """
        parsed: dict[Category, int] = {}
        for label, count in counts.items():
            try:
                category = Category(label)
            except ValueError as exc:
                raise PolicyError(
                    f"unknown detection label {label!r}", reason="bad_detection_summary"
                ) from exc
            if count < 0:
                raise PolicyError(
                    f"negative count for label {label}", reason="bad_detection_summary"
                )
            parsed[category] = parsed.get(category, 0) + count
        return cls(parsed)


@dataclass(frozen=True, slots=True)
class Decision:
    """Where (and whether) a prompt goes, and why. Contains no text; safe to log and audit.

    Attributes:
        action: ``allow_raw``, ``deidentify``, ``block`` or ``quarantine``.
        provider: the target provider (``None`` for block and quarantine).
        model: the model to request from it.
        reason: reason code.
        policy_version: ``sha256:<hex>`` of the policy that decided.
        rule: name of the tenant rule that matched, if any.
        ineligible: candidate providers skipped, each with its reason code.
    """

    action: Action
    provider: str | None
    model: str | None
    reason: str
    policy_version: str
    rule: str | None = None
    ineligible: tuple[tuple[str, str], ...] = ()

    def to_audit(self) -> dict[str, object]:
        """Return the decision as a JSON-ready dict for the audit record."""
        return {
            "action": self.action.value,
            "provider": self.provider,
            "model": self.model,
            "reason": self.reason,
            "policy_version": self.policy_version,
            "rule": self.rule,
            "ineligible": [{"provider": p, "reason": r} for p, r in self.ineligible],
        }


def _add_months(day: date, months: int) -> date:
    """Return ``day`` plus ``months`` calendar months, clamped to the month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise PolicyError("unreachable date arithmetic", reason="policy_error")  # pragma: no cover


def evidence_problem(
    provider: Provider, requirements: Requirements, today: date, *, raw: bool
) -> str | None:
    """Return why ``provider`` fails ``requirements`` on ``today``, or ``None`` if it passes.

    Args:
        provider: the candidate.
        requirements: the tenant's requirements.
        today: the decision date (UTC).
        raw: the text would be sent raw, so a BAA in force is required regardless.

    Returns:
        A reason code (``baa_missing``, ``baa_not_in_force``, ``region_not_allowed``,
        ``zero_data_retention_missing``, ``training_opt_out_missing``, ``soc2_missing``,
        ``soc2_future_dated``, ``soc2_stale``) or ``None``.
    """
    if raw or requirements.baa:
        if not provider.baa.signed:
            return "baa_missing"
        if not provider.baa.valid_on(today):
            return "baa_not_in_force"
    if requirements.regions and provider.region not in requirements.regions:
        return "region_not_allowed"
    if requirements.zero_data_retention and not provider.zero_data_retention:
        return "zero_data_retention_missing"
    if requirements.training_opt_out and not provider.training_opt_out:
        return "training_opt_out_missing"
    if requirements.soc2_max_age_months is not None:
        period_end = provider.soc2_type2_period_end
        if period_end is None:
            return "soc2_missing"
        if period_end > today:
            return "soc2_future_dated"
        if _add_months(period_end, requirements.soc2_max_age_months) < today:
            return "soc2_stale"
    return None


def _quarantine(
    reason: str,
    policy: Policy,
    rule: str | None = None,
    ineligible: tuple[tuple[str, str], ...] = (),
) -> Decision:
    return Decision(Action.QUARANTINE, None, None, reason, policy.version, rule, ineligible)


def _first_eligible(
    policy: Policy, candidates: list[str], tenant: Tenant, today: date, *, raw: bool
) -> tuple[Provider | None, list[tuple[str, str]]]:
    skipped: list[tuple[str, str]] = []
    for name in candidates:
        provider = policy.provider(name)
        if provider is None:  # validation forbids it; fail closed anyway
            skipped.append((name, "unknown_provider"))
            continue
        problem = evidence_problem(provider, tenant.requirements, today, raw=raw)
        if problem is None:
            return provider, skipped
        skipped.append((name, problem))
    return None, skipped


def decide(
    request_meta: RequestMeta,
    detection_summary: DetectionSummary,
    policy: Policy,
    now: datetime,
) -> Decision:
    """Decide what happens to one prompt. Pure and deterministic.

    Args:
        request_meta: tenant and requested provider/model.
        detection_summary: hits per category.
        policy: the validated policy.
        now: the decision time, timezone-aware (evidence dates are compared in UTC).

    Returns:
        The decision, always; problems with the request become ``quarantine`` decisions.

    Raises:
        PolicyError: ``now`` is naive (a caller bug, not a request problem).
    """
    if now.tzinfo is None:
        raise PolicyError("decide() needs a timezone-aware now", reason="naive_datetime")
    today = now.astimezone(UTC).date()

    tenant = policy.tenant(request_meta.tenant)
    if tenant is None:
        return _quarantine("unknown_tenant", policy)
    if request_meta.provider is not None:
        if policy.provider(request_meta.provider) is None:
            return _quarantine("unknown_provider", policy)
        if request_meta.provider not in tenant.allowed_providers:
            return _quarantine("provider_not_allowed", policy)

    counts = dict(detection_summary.counts)
    rule = next((r for r in tenant.rules if r.when.matches(counts)), None)
    if rule is None:
        action: Action = tenant.default_action
        reason = f"tenant_default_{tenant.default_action.value}"
        route_to = None
    else:
        action, reason, route_to = rule.action, rule.reason, rule.route_to
    rule_name = rule.name if rule else None

    if action is Action.BLOCK:
        return Decision(Action.BLOCK, None, None, reason, policy.version, rule_name)

    requested = request_meta.provider or tenant.default_provider
    primary = route_to or requested
    candidates = list(dict.fromkeys([primary, *tenant.fallback_providers]))
    skipped: list[tuple[str, str]] = []
    target: Provider | None = None
    if action is Action.ALLOW_RAW:
        target, skipped = _first_eligible(policy, candidates, tenant, today, raw=True)
        if target is None:
            action, reason = Action.DEIDENTIFY, "raw_downgraded_no_baa"
    if target is None:
        target, more = _first_eligible(policy, candidates, tenant, today, raw=False)
        skipped += [s for s in more if s not in skipped]
    if target is None:
        return _quarantine(
            "no_eligible_provider", policy, rule=rule_name, ineligible=tuple(skipped)
        )

    model = request_meta.model
    if model is None or model not in target.models:
        if model is not None and target.name == requested:
            # The producer asked for this provider and a model it does not serve: don't guess.
            return _quarantine("unknown_model", policy, rule=rule_name, ineligible=tuple(skipped))
        # No model asked for, or policy rerouted to another provider: use its first model.
        model = target.models[0]
    return Decision(action, target.name, model, reason, policy.version, rule_name, tuple(skipped))
