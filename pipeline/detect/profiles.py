"""Detection profiles as data: which recognizers a profile runs.

``data/profiles.yaml`` lists, per profile, registered recognizer names; it is validated by a
pydantic model when read. :data:`RECOGNIZER_MODULES` says which module registers each name, so
the detector imports only what a profile uses (``fast`` never imports spaCy).
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.config import Settings
from pipeline.errors import ConfigError

#: Registered name -> the module whose import registers it (explicit; no discovery).
RECOGNIZER_MODULES: dict[str, str] = {
    "pattern_tier.v1": "pipeline.detect.patterns",
    "spacy_ner.v1": "pipeline.detect.ner",
    "name_context.v1": "pipeline.detect.names",
    "location_context.v1": "pipeline.detect.places",
    "transformer_onnx.v1": "pipeline.detect.transformer_tier",
}


class Profile(BaseModel):
    """One profile: the recognizers it always runs and those that need a configured model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    recognizers: tuple[str, ...]
    optional: tuple[str, ...] = ()


@cache
def load_profiles() -> dict[str, Profile]:
    """Return the shipped profiles, validated.

    Raises:
        ConfigError: the data file is missing or malformed.
    """
    try:
        raw = yaml.safe_load(
            resources.files("pipeline.detect").joinpath("data", "profiles.yaml").read_text("utf-8")
        )
        return {name: Profile.model_validate(body) for name, body in raw.items()}
    except (OSError, yaml.YAMLError, ValidationError, AttributeError) as exc:
        raise ConfigError("detection profiles file is invalid") from exc


def recognizer_names(settings: Settings, profile: str | None = None) -> list[str]:
    """Return the recognizer names the profile runs under ``settings``.

    Optional recognizers join only when configured (today: ``transformer_onnx.v1`` when
    ``settings.models.transformer_path`` is set).
    """
    name = profile or settings.detection.profile
    profiles = load_profiles()
    if name not in profiles:
        raise ConfigError(f"unknown detection profile {name!r}; known: {sorted(profiles)}")
    chosen = profiles[name]
    names = list(chosen.recognizers)
    for opt in chosen.optional:
        if opt == "transformer_onnx.v1" and settings.models.transformer_path is None:
            continue
        names.append(opt)
    return names


def import_recognizer_module(name: str) -> None:
    """Import the module that registers ``name`` (no-op for names registered elsewhere)."""
    module = RECOGNIZER_MODULES.get(name)
    if module is None:
        return
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"recognizer {name!r} is unavailable (module {module})") from exc
