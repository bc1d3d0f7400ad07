"""Geographic subdivisions smaller than a state (Safe Harbor B) that have a shape.

Street addresses (``123 Main St``, ``45 Elm Avenue Apt 3``, ``Calle Nava, 18``), PO boxes,
apartment / suite designators, ``City, ST 12345`` and ZIP codes in address context (after a state
code or a "ZIP"/"postal code" keyword). Place names without such a shape (cities, hospitals) are
the NER tier's job. A bare five-digit number is never a ZIP here.
"""

from __future__ import annotations

import re

from pipeline.detect.patterns.address import unit_street
from pipeline.detect.patterns.address_lines import POSTAL, compose
from pipeline.detect.patterns.context import code_after
from pipeline.detect.patterns.engine import Hit, PatternSpec
from pipeline.detect.taxonomy import Category

_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|"
    "NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
# Street types that are rarely anything else, matched in any case.
_STREET_WORDS = (
    r"(?:street|avenue|road|boulevard|lane|drive|court|terrace|circle|highway|parkway|square|"
    r"trail|plaza|alley|turnpike|crescent|close|walk|row|pike|expressway|freeway|way|place)"
)
# Abbreviations that clash with clinical shorthand (CT, DR, LN, PL, ST): title case only.
_STREET_ABBR = (
    r"(?:St|Str|Ave|Av|Rd|Blvd|Ln|Dr|Ct|Ter|Cir|Hwy|Pkwy|Sq|Trl|Pl|Plz|Way|Pike|Tpke|"
    r"BLVD|AVE)"
)
_UNIT = (
    r"(?:,?\s{1,2}(?:apt|apartment|suite|ste|unit|fl|floor|room|rm|bldg|building)\.?\s{0,2}"
    r"#?\s{0,2}[a-z0-9-]{1,6}\b)?"
)
_NUMBER = r"\b\d{1,6}(?:-\d{1,4})?[a-z]?"
_DIRECTION = r"(?:(?:n|s|e|w|ne|nw|se|sw|north|south|east|west)\.?\s{1,2})?"
_NAME_WORD = r"[a-z][a-z'.-]*"
_TITLE_WORD = r"[A-Z][A-Za-z'.-]*"
# Title case (a capital, then lower case): "C/O CONSTIPATION" in a clinical note is no street.
_ES_WORD = r"[A-ZÁÉÍÓÚÑ][a-zà-öø-ÿ'.-]+"

_CLINICAL_WORDS = frozenset(
    (
        "head", "chest", "abd", "abdomen", "pelvis", "spine", "neck", "sinus", "sinuses",
        "liter", "liters", "mg", "units", "unit", "hour", "hours", "day", "days", "times",
        "prbc", "ffp", "doses", "dose", "bolus", "more", "other", "of", "and", "the", "to",
        "for", "with", "was", "on", "in", "at", "by", "per", "pt", "cm", "mm",
    )
)  # fmt: skip


def _street(text: str, start: int, end: int) -> Hit | None:
    """A numbered street: the words between number and street type must not be clinical."""
    if end - start > 160:
        return None
    words = text[start:end].lower().split()
    if len(words) < 3:
        return None
    if any(w.strip(".,") in _CLINICAL_WORDS for w in words[1:-1]):
        return None
    start, end = compose(text, start, end)
    return start, end, Category.GEO, 0.85


_POSTAL_AFTER_KEYWORD = re.compile(
    r"[ \t:#=.\-]{0,4}(?:(?:is|no|code)[ \t:#.]{1,3}){0,3}(?P<code>" + POSTAL + ")",
    re.IGNORECASE,
)


def _zip_after_keyword(text: str, start: int, end: int) -> Hit | None:
    """A postal code after "ZIP", "postcode", "CP:": US, UK, Canadian, 3-6 digit and others."""
    found = _POSTAL_AFTER_KEYWORD.match(text, end, min(len(text), end + 32))
    if found is not None:
        return found.start("code"), found.end(), Category.GEO, 0.85
    code = code_after(text, end, min_digits=5, min_len=5)
    if code is None:
        return None
    return code[0], code[1], Category.GEO, 0.7


def _state_zip(text: str, start: int, end: int) -> Hit | None:
    """``MD 21201`` or ``Baltimore, MD 21201``: the ZIP (and the city, when present)."""
    return start, end, Category.GEO, 0.85


def _street_es(text: str, start: int, end: int) -> Hit | None:
    if end - start > 160:
        return None
    start, end = compose(text, start, end)
    return start, end, Category.GEO, 0.8


def _po_box(text: str, start: int, end: int) -> Hit | None:
    start, end = compose(text, start, end)
    return start, end, Category.GEO, 0.9


SPECS: tuple[PatternSpec, ...] = (
    PatternSpec(
        "street_address_pattern.v1",
        (
            rf"{_NUMBER}\s+{_DIRECTION}(?:{_NAME_WORD}\s+){{1,3}}{_STREET_WORDS}\b"
            rf"{_UNIT}",
        ),
        (Category.GEO,),
        _street,
        max_len=100,
        anchors=(rf"\b{_STREET_WORDS}\b",),
        ahead=32,
        needs_digit=True,
    ),
    PatternSpec(
        "street_address_abbr_pattern.v1",
        (
            rf"\b\d{{1,6}}(?:-\d{{1,4}})?[A-Za-z]?\s+(?:[NSEW]\.?\s+)?"
            rf"(?:{_TITLE_WORD}\s+){{1,3}}{_STREET_ABBR}\b\.?"
            r"(?:,?\s{1,2}(?:Apt|APT|Suite|SUITE|Ste|STE|Unit|UNIT|Fl|Rm|#)\.?\s{0,2}#?\s{0,2}"
            r"[A-Za-z0-9-]{1,6}\b)?",
        ),
        (Category.GEO,),
        _street,
        caseless=False,
        max_len=100,
        anchors=(rf"\b{_STREET_ABBR}\b",),
        ahead=32,
        needs_digit=True,
    ),
    PatternSpec(
        "street_address_es_pattern.v1",
        (
            r"(?:\bC/|(?i:\b(?:calle|avda|avenida|paseo|plaza|pza|camino|carretera|ctra|ronda|traves[ií]a|"
            r"glorieta|urbanizaci[oó]n|rua|rue|viale)\b\.?|\bav\.))\s{0,2}"
            rf"(?:(?:de|del|la|las|los|el)\s+){{0,2}}(?:{_ES_WORD}\s+(?:(?:de|del|la|y)\s+)?){{0,4}}"
            rf"{_ES_WORD},?\s{{0,2}}(?:n[ºo°]\.?\s{{0,2}})?\d{{1,5}}\b"
            r"(?:,\s{0,2}\d{1,3}\b[ºª]?(?:\s{0,2}[a-zA-Z]\b)?){0,3}",
        ),
        (Category.GEO,),
        _street_es,
        caseless=False,
        max_len=16,
        anchors=(
            r"(?:\bC/|(?i:\b(?:calle|avda|avenida|paseo|plaza|pza|camino|carretera|ctra|ronda|"
            r"traves[ií]a|glorieta|urbanizaci[oó]n|rua|rue|viale)\b\.?|\bav\.))",
        ),
        ahead=100,
        needs_digit=True,
    ),
    PatternSpec(
        "po_box_pattern.v1",
        (
            r"\b(?:p\.?\s?o\.?\s?box|post\s{1,2}office\s{1,2}box|apartado(?:\s{1,2}de\s{1,2}"
            r"correos)?)\s{0,2}#?\s{0,2}\d{1,6}\b",
        ),
        (Category.GEO,),
        _po_box,
        max_len=48,
    ),
    PatternSpec(
        "unit_designator_pattern.v1",
        (r"\b(?:apt|apartment|suite|ste)\.?\s{0,2}#?\s{0,2}\d{1,5}[a-z]?\b",),
        (Category.GEO,),
        unit_street,
        max_len=48,
    ),
    PatternSpec(
        "city_state_zip_pattern.v1",
        (
            rf"\b(?:[A-Z][A-Za-z.'-]{{1,24}}\s{{1,2}}){{0,2}}[A-Z][A-Za-z.'-]{{1,24}},\s{{0,2}}"
            rf"(?:{_STATES})\.?\s{{1,2}}\d{{5}}(?:-\d{{4}})?\b",
            rf"\b(?:{_STATES})\s{{1,2}}\d{{5}}(?:-\d{{4}})?\b",
        ),
        (Category.GEO,),
        _state_zip,
        caseless=False,
        max_len=96,
        # The ZIP is the anchor: state codes are common upper-case words in clinical notes.
        anchors=(r"\b\d{5}(?:-\d{4})?\b", r"\b\d{5}(?:-\d{4})?\b"),
    ),
    PatternSpec(
        "zip_context.v1",
        (
            r"\b(?:zip(?:\s{0,2}code)?|postal\s{1,2}code|post\s{0,2}code|c\.p\.|"
            r"c[oó]digo\s{1,2}postal)\b",
            r"\bcp\s?:",  # bare "cp" is chest pain in clinical notes
        ),
        (Category.GEO,),
        _zip_after_keyword,
        keyword=True,
    ),
)
