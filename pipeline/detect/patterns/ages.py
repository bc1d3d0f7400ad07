"""Ages over 89 (Safe Harbor C): only in age context, never a bare number.

``92 yo``, ``91 y/o``, ``94-year-old``, ``95 years old``, ``age 93``, ``aged 95``, ``age: 96``,
``90 años``, ``edad: 92``, ``nonagenarian`` is not matched (it names no age). Ages up to 89 are
not PHI and are not reported.
"""

from __future__ import annotations

import re

from pipeline.detect.patterns.engine import Hit, PatternSpec
from pipeline.detect.taxonomy import Category

_AGE_NUMBER = re.compile(r"\d{2,3}")


def _age(text: str, start: int, end: int) -> Hit | None:
    """Keep ages 90-125; for "age 93" the span is the number alone."""
    found = _AGE_NUMBER.search(text, start, end)
    if found is None or not 90 <= int(found.group()) <= 125:
        return None
    if text[start].isdigit():
        return start, end, Category.AGE_OVER_89, 0.9
    return found.start(), found.end(), Category.AGE_OVER_89, 0.85


SPECS: tuple[PatternSpec, ...] = (
    PatternSpec(
        "age_over_89_pattern.v1",
        (
            r"\b(?:9\d|1[01]\d|12[0-5])\s{0,2}-?\s{0,2}(?:yo|y/o|y\.o\.?|yrs?|years?|a[ñn]os)\b"
            r"(?:\s{0,2}-?\s{0,2}old\b)?",
            r"\b(?:9\d|1[01]\d|12[0-5])\s{0,2}-?\s{0,2}(?:yr|year)s?\s{0,2}-\s{0,2}old\b",
            r"\b(?:age|aged|edad|ages)\s{0,2}[:=]?\s{0,2}(?:of\s{1,2})?(?:9\d|1[01]\d|12[0-5])\b",
        ),
        (Category.AGE_OVER_89,),
        _age,
        max_len=40,
    ),
)
