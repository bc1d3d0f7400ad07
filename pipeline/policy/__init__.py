"""Policy routing: which provider (if any) may receive a prompt, decided from metadata only.

Public API: :func:`load_policy` / :func:`parse_policy` (YAML -> validated, versioned
:class:`Policy`) and the pure :func:`decide` (-> :class:`Decision`).
"""

from pipeline.policy.engine import Decision, DetectionSummary, RequestMeta, decide
from pipeline.policy.loader import load_policy, parse_policy
from pipeline.policy.models import Action, Policy, Provider, ProviderKind, Tenant

__all__ = [
    "Action",
    "Decision",
    "DetectionSummary",
    "Policy",
    "Provider",
    "ProviderKind",
    "RequestMeta",
    "Tenant",
    "decide",
    "load_policy",
    "parse_policy",
]
