"""Safe Harbor generalisers: dates to year, ages over 89 aggregated, ZIP to ZIP3 or ``000``.

45 CFR 164.514(b)(2)(i)(B) and (C): the initial three digits of a ZIP code may stay when the
area they form has more than 20,000 people (otherwise ``000``); all elements of dates except the
year are removed; ages over 89 are aggregated into one category of 90 or older.
"""

from __future__ import annotations

import re

from pipeline.deid.lexicon import restricted_zip3

ZIP_RE = re.compile(r"(?<!\d)(\d{5})(?:-\d{4})?(?!\d)")
_YEAR4_RE = re.compile(r"(?<!\d)(1[89]\d\d|2[01]\d\d)(?!\d)")
_NUMERIC_YY_RE = re.compile(r"(?<!\d)\d{1,2}[-/.]\d{1,2}[-/.](\d{2})(?!\d)")
_AGE_DIGITS_RE = re.compile(r"(?<!\d)(\d{1,3})(?!\d)")
_NON_DIGIT_RE = re.compile(r"\D")

AGE_FORMS = {"90_or_older": "90 or older", "over_89": "over 89", "90+": "90+"}

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip


def zip3(zip_code: str) -> str:
    """Return the Safe Harbor form of a ZIP code: its first three digits, or ``000``.

    Args:
        zip_code: a five-digit ZIP or ZIP+4 (other digits are ignored).
    """
    digits = _NON_DIGIT_RE.sub("", zip_code)[:3]
    if len(digits) < 3:
        return "000"
    return "000" if digits in restricted_zip3().prefixes else digits


def generalise_zips(text: str) -> str:
    """Replace every ZIP code inside ``text`` by its ZIP3 form."""
    return ZIP_RE.sub(lambda m: zip3(m.group(1)), text)


def year_of(text: str, *, pivot: int = 30) -> str | None:
    """Return the year a date mentions (four digits), or ``None`` when it names none.

    Two-digit years of numeric dates (``3/4/21``) are expanded: ``< pivot`` -> 20xx, else 19xx.
    """
    match = _YEAR4_RE.search(text)
    if match:
        return match.group(1)
    match = _NUMERIC_YY_RE.search(text)
    if match:
        yy = int(match.group(1))
        return str(2000 + yy if yy < pivot else 1900 + yy)
    return None


def date_to_year(text: str, *, missing: str = "[DATE]") -> str:
    """Safe Harbor date generaliser: keep the year only; a date without a year becomes a tag."""
    year = year_of(text)
    return year if year is not None else missing


def parse_age(text: str) -> int | None:
    """Return the age an age mention states (digits or English words), or ``None``."""
    match = _AGE_DIGITS_RE.search(text)
    if match:
        return int(match.group(1))
    words = re.findall(r"[a-z]+", text.casefold())
    total, seen = 0, False
    for word in words:
        if word in _TENS:
            total += _TENS[word]
            seen = True
        elif word in _UNITS:
            total += _UNITS[word]
            seen = True
        elif word == "hundred":
            total = max(total, 1) * 100
            seen = True
    return total if seen else None


def generalise_age(text: str, *, form: str = "90_or_older") -> str:
    """Ages over 89 become one category (``"90 or older"`` by default; ``"over 89"``, ``"90+"``).

    An age of 89 or less is not PHI under Safe Harbor and stays; a mention that cannot be
    parsed is aggregated (fail closed).
    """
    age = parse_age(text)
    if age is not None and age <= 89:
        return text
    return AGE_FORMS.get(form, AGE_FORMS["90_or_older"])
