"""The pattern tier, built once per test session, and a lookup helper for table tests."""

from __future__ import annotations

from functools import lru_cache

from pipeline.config import Settings
from pipeline.detect.patterns import PatternTier
from pipeline.detect.taxonomy import Category


@lru_cache(maxsize=1)
def tier() -> PatternTier:
    """The pattern tier with default settings (compiling Hyperscan takes seconds: once)."""
    return PatternTier.from_settings(Settings())


def found(text: str, label: Category) -> set[str]:
    """The substrings of ``text`` the tier labels ``label``."""
    return {text[s.start : s.end] for s in tier().find(text) if s.label is label}
