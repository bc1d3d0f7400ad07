"""Addresses, ZIP codes and ages over 89: positives next to near misses (synthetic values)."""

from __future__ import annotations

from functools import lru_cache

import pytest

from pipeline.config import Settings
from pipeline.detect.patterns import PatternTier
from pipeline.detect.taxonomy import Category


@lru_cache(maxsize=1)
def tier() -> PatternTier:
    return PatternTier.from_settings(Settings())


def found(text: str, label: Category) -> set[str]:
    return {text[s.start : s.end] for s in tier().find(text) if s.label is label}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Lives at 123 Main St with son.", "123 Main St"),
        ("Moved to 45 Elm Avenue Apt 3 last year.", "45 Elm Avenue Apt 3"),
        ("LIVES AT 19 CLOVER STREET.", "19 CLOVER STREET"),
        ("Home: 7 N. Oak Rd.", "7 N. Oak Rd."),
        ("Send to PO Box 1234 please", "PO Box 1234"),
        ("Send to P.O. Box 77", "P.O. Box 77"),
        ("Springfield, IL 62704 is home", "Springfield, IL 62704"),
        ("mailing MD 21201-1234", "MD 21201-1234"),
        ("ZIP code: 02139.", "02139"),
        ("CP: 28001.", "28001"),
        ("Domicilio: Calle Nava, 18.", "Calle Nava, 18"),
        ("Domicilio: Avda. de la Paz 12, 3º.", "Avda. de la Paz 12, 3º"),
        ("Suite 380, second floor", "Suite 380"),
    ],
)
def test_geo_positive(text: str, value: str) -> None:
    assert value in found(text, Category.GEO)


@pytest.mark.parametrize(
    "text",
    [
        "Had 1 head ct today.",  # CT scan, not Court
        "Gave 2 units prbc st",
        "Pt c/o nausea at 2000.",
        "AV paced 70, no ectopy.",
        "Weight 12345 grams.",  # a bare five-digit number is not a ZIP
        "Code 21201 entered.",
        "Moved to unit 5 overnight.",
    ],
)
def test_geo_negative(text: str) -> None:
    assert found(text, Category.GEO) == set()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("92 yo woman", "92 yo"),
        ("91 y/o male", "91 y/o"),
        ("a 94-year-old man", "94-year-old"),
        ("95 years old", "95 years old"),
        ("age 93, frail", "93"),
        ("aged 95 at admission", "95"),
        ("Mujer de 90 años", "90 años"),
        ("Edad: 92 años", "92 años"),
    ],
)
def test_age_positive(text: str, value: str) -> None:
    assert value in found(text, Category.AGE_OVER_89)


@pytest.mark.parametrize(
    "text",
    ["89 yo woman", "age 45", "HR 92 bpm", "sats 95%", "given 90 mg", "92 units"],
)
def test_age_negative(text: str) -> None:
    assert found(text, Category.AGE_OVER_89) == set()
