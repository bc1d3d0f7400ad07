"""De-identification profiles: data (YAML) validated by pydantic, plus per-tenant overrides.

A profile maps every Safe Harbor label to an operator and its params. Profiles marked
``safe_harbor: true`` are checked against 45 CFR 164.514(b)(2): dates may only be generalised to
the year or removed (a shifted date is not Safe Harbor), ages over 89 aggregated or removed, ZIP
codes truncated by the ZIP3 rule, and no identifier may be kept, hashed or encrypted (a code
derived from the identifier is not a Safe Harbor re-identification code, 164.514(c)). Tenant
overrides are validated against the same rules, so a tenant cannot override its way out.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.detect.taxonomy import Category
from pipeline.errors import ConfigError

OperatorName = Literal[
    "redact", "tag", "mask", "hmac", "surrogate", "date_shift", "generalise", "encrypt"
]
_FROZEN = ConfigDict(frozen=True, extra="forbid")

#: Operators a Safe Harbor profile may use, per label.
_SH_ALLOWED: dict[Category, frozenset[str]] = {
    Category.DATE: frozenset({"generalise", "redact", "tag"}),
    Category.AGE_OVER_89: frozenset({"generalise", "redact", "tag"}),
    Category.GEO: frozenset({"surrogate", "generalise", "redact", "tag"}),
}
_SH_DEFAULT = frozenset({"surrogate", "redact", "tag", "mask"})


class OperatorSpec(BaseModel):
    """One label's operator and its params."""

    model_config = _FROZEN

    operator: OperatorName
    params: dict[str, str | int | bool] = Field(default_factory=dict)


def check_safe_harbor(label: Category, spec: OperatorSpec) -> None:
    """Raise :class:`ConfigError` if ``spec`` does not meet Safe Harbor for ``label``."""
    allowed = _SH_ALLOWED.get(label, _SH_DEFAULT)
    if spec.operator not in allowed:
        raise ConfigError(
            f"operator {spec.operator!r} is not Safe Harbor for {label.value}",
            reason="not_safe_harbor",
        )
    if spec.operator == "mask" and int(spec.params.get("keep_last", 0)) > 0:
        raise ConfigError(f"mask keep_last leaves part of {label.value}", reason="not_safe_harbor")
    if (
        label == Category.GEO
        and spec.operator == "surrogate"
        and spec.params.get("zip", "zip3") != "zip3"
    ):
        raise ConfigError(
            "Safe Harbor GEO surrogates must apply the ZIP3 rule", reason="not_safe_harbor"
        )


class Profile(BaseModel):
    """A named, versioned mapping of every label to an operator.

    Attributes:
        safe_harbor: the profile claims 164.514(b)(2); enforced at load and on overrides.
        numbered_tags: tags are ``[NAME_1]`` (one number per person per request) not ``[NAME]``.
        reversible: the profile's replacements may be kept in the re-identification vault
            (still subject to the tenant's own permission).
        date_order: how ambiguous numeric dates are read (``MDY`` or ``DMY``).
    """

    model_config = _FROZEN

    name: str
    version: int = Field(ge=1)
    description: str = ""
    safe_harbor: bool
    numbered_tags: bool = True
    reversible: bool = False
    date_order: Literal["MDY", "DMY"] = "MDY"
    categories: dict[Category, OperatorSpec]

    @model_validator(mode="after")
    def _complete_and_compliant(self) -> Profile:
        missing = [c.value for c in Category if c not in self.categories]
        if missing:
            raise ValueError(f"profile {self.name!r} has no operator for {', '.join(missing)}")
        if self.safe_harbor:
            for label, spec in self.categories.items():
                try:
                    check_safe_harbor(label, spec)
                except ConfigError as exc:
                    raise ValueError(str(exc)) from None
        return self

    def with_overrides(
        self, overrides: Mapping[str, OperatorSpec | str | Mapping[str, Any]]
    ) -> Profile:
        """Return this profile with per-label overrides applied and validated.

        Args:
            overrides: label -> an :class:`OperatorSpec`, an operator name, or a mapping
                ``{"operator": ..., "params": {...}}``.
        """
        if not overrides:
            return self
        categories = dict(self.categories)
        for key, raw in overrides.items():
            try:
                label = Category(key)
                if isinstance(raw, OperatorSpec):
                    spec = raw
                elif isinstance(raw, str):
                    spec = OperatorSpec(operator=raw)  # type: ignore[arg-type]
                else:
                    spec = OperatorSpec.model_validate(dict(raw))
            except (ValueError, ValidationError) as exc:
                raise ConfigError(f"invalid override for {key!r}", reason="bad_override") from exc
            if self.safe_harbor:
                check_safe_harbor(label, spec)
            categories[label] = spec
        return self.model_copy(update={"categories": categories})


class TenantPolicy(BaseModel):
    """One tenant's profile, label overrides, and whether it may re-identify."""

    model_config = _FROZEN

    profile: str = "safe_harbor"
    overrides: dict[Category, OperatorSpec] = Field(default_factory=dict)
    allow_reidentification: bool = False


class TenantPolicies(BaseModel):
    """A tenants file: ``{tenants: {name: TenantPolicy}}``."""

    model_config = _FROZEN

    tenants: dict[str, TenantPolicy] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> TenantPolicies:
        """Read and validate a tenants YAML file."""
        return cls.model_validate(_load_yaml_file(Path(path)))


def _load_yaml_file(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path.name}", reason="bad_profile") from exc


def parse_profile(doc: Any, origin: str) -> Profile:
    """Validate a profile document; raise :class:`ConfigError` naming the file and fields."""
    try:
        return Profile.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid profile {origin}: {problems}", reason="bad_profile") from None


BUILTIN_PROFILES = ("safe_harbor", "pseudonymize", "redact")


@cache
def builtin_profile(name: str) -> Profile:
    """Return a shipped profile by name."""
    if name not in BUILTIN_PROFILES:
        raise ConfigError(f"unknown profile {name!r}", reason="unknown_profile")
    text = (
        resources.files("pipeline.deid.data.profiles")
        .joinpath(f"{name}.yaml")
        .read_text(encoding="utf-8")
    )
    return parse_profile(yaml.safe_load(text), f"{name}.yaml")


def load_profile(path: Path) -> Profile:
    """Read a custom profile file."""
    return parse_profile(_load_yaml_file(Path(path)), Path(path).name)
