"""A cheaper way to build a :class:`~pipeline.detect.types.Span` on the detection hot path.

``Span`` is a frozen, slotted dataclass: its generated ``__init__`` sets each of the five
fields through ``object.__setattr__`` (a global look-up and an attribute search per field),
about twice the cost of writing the slots directly. The tiers build dozens of spans per text,
twice per prompt (detection, then the leak gate), so :func:`new_span` writes the slots through
their descriptors instead. The result is an ordinary ``Span``, equal to
``Span(start, end, label, score, recognizer)``: ``Span`` has no ``__post_init__``, no
defaults and no validation that this would skip (``tests/unit/detect/test_fast_paths.py``
fails if that changes).
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span

_new_object = object.__new__


def _slot_setter(field: str) -> Callable[[Span, object], None]:
    """Return the ``__set__`` of the member descriptor of a slot of Span."""
    setter: Callable[[Span, object], None] = vars(Span)[field].__set__
    return setter


# Writing through a slot's descriptor bypasses the frozen dataclass's __setattr__ (which
# refuses every write), exactly as the generated __init__ does via object.__setattr__.
_set_start = _slot_setter("start")
_set_end = _slot_setter("end")
_set_label = _slot_setter("label")
_set_score = _slot_setter("score")
_set_recognizer = _slot_setter("recognizer")


def new_span(start: int, end: int, label: Category, score: float, recognizer: str) -> Span:
    """Return ``Span(start, end, label, score, recognizer)``, built without its ``__init__``."""
    span: Span = _new_object(Span)
    _set_start(span, start)
    _set_end(span, end)
    _set_label(span, label)
    _set_score(span, score)
    _set_recognizer(span, recognizer)
    return span
