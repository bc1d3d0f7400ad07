"""Explicit, versioned registry of recognizers.

A recognizer is registered under ``"<name>.v<N>"``; a behaviour change is a new version, so old
configs keep resolving. Nothing is discovered implicitly (no ``__subclasses__()`` scans): a module
registers its recognizers with :func:`register` at import, and :mod:`pipeline.detect` imports
the modules it ships.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from pipeline.config import Settings
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.errors import ConfigError


@runtime_checkable
class Recognizer(Protocol):
    """What every recognizer offers the detector.

    Attributes:
        name: the registered ``"<name>.vN"`` key.
        categories: the Safe Harbor labels it can emit (for the coverage record).
    """

    name: str
    categories: frozenset[Category]

    def find(self, text: str) -> list[Span]:
        """Return the spans found in ``text`` (unmerged; may overlap)."""
        ...

    def find_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        """Return the spans of each text; model-backed recognizers batch the model work."""
        ...


RecognizerFactory = Callable[[Settings], Recognizer]

_REGISTRY: dict[str, RecognizerFactory] = {}


def register(name: str) -> Callable[[RecognizerFactory], RecognizerFactory]:
    """Register a recognizer factory under ``name`` (must end in ``.v<N>``)."""
    base, _, version = name.rpartition(".v")
    if not base or not version.isdigit():
        raise ConfigError(f"recognizer name {name!r} must look like 'name.v1'")

    def decorator(factory: RecognizerFactory) -> RecognizerFactory:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ConfigError(f"recognizer {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return decorator


def resolve(name: str) -> RecognizerFactory:
    """Return the factory registered under ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown recognizer {name!r}; known: {known}") from None


def registered() -> list[str]:
    """Return every registered recognizer name, sorted."""
    return sorted(_REGISTRY)
