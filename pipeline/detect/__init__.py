"""PHI detection: recognizers, profiles, merging and the :class:`Detector`.

Recognizer modules register themselves in :mod:`pipeline.detect.registry` when imported; the
detector imports the modules its profile names (see :mod:`pipeline.detect.profiles`), so
importing this package stays cheap and never loads spaCy or a model.
"""

from __future__ import annotations

from pipeline.detect.detector import Detector
from pipeline.detect.merge import merge_spans
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Coverage, CoverageEntry, Detection, Span

__all__ = ["Category", "Coverage", "CoverageEntry", "Detection", "Detector", "Span", "merge_spans"]
