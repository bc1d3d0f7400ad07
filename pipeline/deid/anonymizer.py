"""Presidio-anonymizer, imported without dragging in presidio-analyzer (spaCy, transformers).

``presidio_anonymizer/__init__`` imports its operator package, whose optional Azure (AHDS)
surrogate operator tries ``from presidio_analyzer.llm_utils.azure_auth_helper import ...``
inside ``try/except ImportError``. That one line imports the whole of ``presidio_analyzer``,
and with it spaCy and the transformers NLP engine: 9-15 s of start-up for a de-identification
worker whose fast detector never needs them. No narrower import helps (any
``presidio_anonymizer.*`` runs the package ``__init__`` first), so while the anonymizer is first
imported the helper module is marked unavailable (``None`` in ``sys.modules`` makes that import
raise ``ImportError`` at once) and the mark is removed again afterwards. The AHDS operator,
which needs the Azure SDK that is not installed, then has no Azure credential helper; nothing
else changes. When ``presidio_analyzer`` is already loaded there is nothing to save and the
import is plain.
"""

from __future__ import annotations

import sys

_AZURE_HELPER = "presidio_analyzer.llm_utils.azure_auth_helper"


def _import_anonymizer() -> None:
    if "presidio_anonymizer" in sys.modules or "presidio_analyzer" in sys.modules:
        return
    blocked = _AZURE_HELPER not in sys.modules
    if blocked:
        sys.modules[_AZURE_HELPER] = None  # type: ignore[assignment]
    try:
        import presidio_anonymizer  # noqa: F401
    finally:
        if blocked and sys.modules.get(_AZURE_HELPER, object()) is None:
            del sys.modules[_AZURE_HELPER]


_import_anonymizer()

# Re-exported after the guarded import above (the order matters, hence the noqa).
from presidio_anonymizer import AnonymizerEngine, DeanonymizeEngine  # noqa: E402
from presidio_anonymizer.entities import (  # noqa: E402
    ConflictResolutionStrategy,
    OperatorConfig,
    OperatorResult,
    RecognizerResult,
)
from presidio_anonymizer.operators import Operator, OperatorType  # noqa: E402

__all__ = [
    "AnonymizerEngine",
    "ConflictResolutionStrategy",
    "DeanonymizeEngine",
    "Operator",
    "OperatorConfig",
    "OperatorResult",
    "OperatorType",
    "RecognizerResult",
]
