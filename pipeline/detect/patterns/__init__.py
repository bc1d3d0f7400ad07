"""Pattern tier: structured Safe Harbor identifiers found by one Hyperscan scan.

Importing this package registers ``"pattern_tier.v1"`` in :mod:`pipeline.detect.registry`.
"""

from pipeline.detect.patterns.tier import PatternTier

__all__ = ["PatternTier"]
