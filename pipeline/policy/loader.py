"""Load a routing policy from YAML and validate it.

YAML is parsed with a safe loader that also rejects duplicate keys (PyYAML would silently keep
the last one, so a copy-pasted tenant could override another without anyone noticing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pipeline.errors import ConfigError
from pipeline.policy.models import Policy


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader whose mappings reject duplicate keys."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise ConfigError(
                f"policy: duplicate key {key!r} at line {key_node.start_mark.line + 1}",
                reason="policy_invalid",
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


def parse_policy(text: str) -> Policy:
    """Parse and validate a policy from YAML text.

    Args:
        text: the YAML document.

    Returns:
        The validated, frozen policy; ``policy.version`` is its hash.

    Raises:
        ConfigError: the YAML is malformed or the policy is invalid (reason ``policy_invalid``);
            the message names the failing fields.
    """
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"policy: malformed YAML{where}", reason="policy_invalid") from exc
    if not isinstance(data, dict):
        raise ConfigError("policy: the document must be a mapping", reason="policy_invalid")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"policy invalid: {problems}", reason="policy_invalid") from None


def load_policy(path: Path | str) -> Policy:
    """Read, parse and validate the policy file at ``path``.

    Raises:
        ConfigError: the file cannot be read or the policy is invalid.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"policy: cannot read {path}: {type(exc).__name__}", reason="policy_missing"
        ) from exc
    return parse_policy(text)
