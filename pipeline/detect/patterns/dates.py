"""Dates: every element but the year is PHI (Safe Harbor C).

Numeric dates with a year (``3/4/19``, ``03-04-2019``, ``04.03.2019``), ISO dates (with an
optional time), month/day without a year (``10/12``, common in ICU notes), month names in English
and Spanish (``March 4th``, ``4 Mar 2019``, ``Mar. 4, 2019``, ``22 de mayo de 2010``), month and
year (``October 2005``, ``March of 1993``), ordinal days (``on the 4th``), ``11/21.93`` and
slash ranges (``10/03/10/04``). Every candidate is checked to be a real calendar date. A real
month/day is a date by default, wherever it stands; it must still pass the clinical filters
(``BP 120/80``, ``10/12 mg``, ``PS 10/5``), and fractions (``1/2``) and grade-like values
(``4/5``, ``8/10``, ``5/5``) need a date cue or surroundings that name no score. Times alone and
bare years are not dates here (the year is not PHI), except a year in date context ("since
1971", "a 1973 French film").
"""

from __future__ import annotations

import re

from pipeline.detect.patterns.clinical import (
    in_number_chain,
    score_context,
    unit_follows,
    vital_in,
    vital_precedes,
)
from pipeline.detect.patterns.engine import Hit, PatternSpec
from pipeline.detect.taxonomy import Category
from pipeline.detect.validators import expand_year, real_date

_MONTHS_EN = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
    "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11,
    "dec": 12, "december": 12,
}  # fmt: skip
_MONTHS_ES = {
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7,
    "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11,
    "diciembre": 12,
}  # fmt: skip
MONTH_NUMBER = {**_MONTHS_EN, **_MONTHS_ES}

_MON = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_MES = (
    r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|se(?:p)?tiembre|octubre|noviembre|"
    r"diciembre)"
)
_ORD = r"(?:st|nd|rd|th|º|ª)?"
_WEEKDAY = (
    r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?|"
    r"sat(?:urday)?|sun(?:day)?|lunes|martes|mi[eé]rcoles|jueves|viernes|s[aá]bado|domingo)"
)
# "Monday, April 16, 2000": a weekday written before a date belongs to it.
_WEEKDAY_LEAD = rf"(?:\b{_WEEKDAY}\b\.?,?\s{{1,2}})?"
_YEAR = r"(?:\d{4}|'\d{2})\b"

# Words after which a bare month/day is very likely a date.
_DATE_CUES = frozenset(
    (
        "on", "since", "from", "until", "till", "thru", "through", "date", "dated", "admitted",
        "adm", "d/c", "d/c'd", "dc'd", "discharged", "discharge", "last", "by", "started",
        "born", "dob", "dos", "doa", "began", "before", "after", "surgery", "placed", "seen",
        "visit", "f/u", "followup", "follow-up", "appt", "during", "end", "start", "beginning",
        "arrive", "arrived", "post", "s/p", "@", "mon", "monday", "tue", "tuesday", "wed",
        "wednesday", "thu", "thursday", "fri", "friday", "sat", "saturday", "sun", "sunday"
    )
)  # fmt: skip
_CUE_TOKEN = re.compile(r"[a-z/'@-]+")


def date_cue(text: str, start: int) -> str | None:
    """Return the date cue word right before ``start`` ("on 10/12", "since 3/4"), if any."""
    return _cue_in(text[max(0, start - 16) : start].lower())


def _cue_in(window: str) -> str | None:
    """:func:`date_cue` on the lower-cased 16 characters before a candidate."""
    if window.rstrip(" ,:.(")[-1:].isdigit():
        return None
    tokens = _CUE_TOKEN.findall(window)
    word = tokens[-1].strip("-'") if tokens else ""
    return word if word in _DATE_CUES else None


_NUM3 = re.compile(r"(\d+)\D+(\d+)\D+(\d+)")


def _numeric_with_year(text: str, start: int, end: int) -> Hit | None:
    """``m/d/y`` or ``d/m/y`` with one separator kind; either reading must be a real date."""
    value = text[start:end]
    if in_number_chain(text, start, end) or unit_follows(text, end):
        return None
    seps = {ch for ch in value if not ch.isdigit()}
    if len(seps) != 1:
        return None
    parts = _NUM3.match(value)
    if parts is None:
        return None
    a, b, y = (int(p) for p in parts.groups())
    year = expand_year(y, len(parts.group(3)))
    if not (real_date(year, a, b) or real_date(year, b, a)):
        return None
    score = 0.95 if len(parts.group(3)) == 4 else 0.85
    if "." in seps and len(parts.group(3)) == 2:
        score = 0.6  # "1.2.10" may be a version or a lab chain
    return start, end, Category.DATE, score


def _iso(text: str, start: int, end: int) -> Hit | None:
    """``yyyy-mm-dd`` (or ``/``, ``.``), optionally with a time."""
    if in_number_chain(text, start, end):
        return None
    parts = _NUM3.match(text[start:end])
    if parts is None:
        return None
    y, m, d = (int(p) for p in parts.groups())
    if not real_date(y, m, d):
        return None
    return start, end, Category.DATE, 0.95


_FRACTION_DENOMINATORS = frozenset((2, 3, 4))


# Ratios that are lab titers ("ANA 1/40", "RPR 1/64"), not month/year.
_TITERS = frozenset((16, 20, 32, 40, 64, 80))


_PARTNER_BEFORE = re.compile(
    r"(?<![\d/.])(\d{1,2})/(\d{1,2})\s{0,2}(?:-|to|thru|through|or|and|&)\s{0,2}\Z", re.IGNORECASE
)
_PARTNER_AFTER = re.compile(
    r"\s{0,2}(?:-|to|thru|through|or|and|&)\s{0,2}(\d{1,2})/(\d{1,2})(?![\d/.])", re.IGNORECASE
)


def _range_partner(text: str, start: int, end: int) -> bool:
    """Whether another month/day is joined to this one ("8/2 - 8/10", "8/9 or 8/10").

    The partner must be a real month/day that is not a grade (``5/5``) and not preceded by a
    vital-sign or ventilator word; a range of dates makes each end a date.
    """
    before = _PARTNER_BEFORE.search(text, max(0, start - 16), start)
    after = _PARTNER_AFTER.match(text, end, min(len(text), end + 16))
    for found, p_start in ((before, before.start() if before else 0), (after, end)):
        if found is None:
            continue
        m, d = int(found.group(1)), int(found.group(2))
        if m != d and real_date(None, m, d) and not _fraction_like(m, d):
            return not vital_precedes(text, p_start) and not vital_precedes(text, start)
    return False


def _fraction_like(m: int, d: int) -> bool:
    """``1/3``, ``3/4``: a fraction (of a lung field, of a dose) reads before a date."""
    return m < d and d in _FRACTION_DENOMINATORS


# "11/21.93": a month/day/year with a period before the year; "10/03/10/04": a range of two
# month/days joined by a slash.
_DOT_YEAR = re.compile(r"(\d{1,2})/(\d{1,2})\.(\d{2}|\d{4})(?![\d./])")
_SLASH_RANGE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{1,2})/(\d{1,2})(?![\d./])")


def _joined_date(text: str, start: int, end: int) -> Hit | None:
    """A month/day that continues as ``m/d.yy`` or as a slash range ``m/d/m/d``, or ``None``.

    The whole run must be the candidate's chain alone (nothing numeric before it or after it),
    each part a real date, a range's second date after its first within about a month, and no
    vital-sign word before it (ventilator settings are written as slash runs too).
    """
    if start >= 1 and (text[start - 1].isalnum() or text[start - 1] in "/.:+-"):
        return None
    found = _DOT_YEAR.match(text, start, start + 11)
    if found is not None:
        m, d, y = (int(g) for g in found.groups())
        if not real_date(expand_year(y, len(found.group(3))), m, d):
            return None
    else:
        found = _SLASH_RANGE.match(text, start, start + 12)
        if found is None:
            return None
        m1, d1, m2, d2 = (int(g) for g in found.groups())
        if not (real_date(None, m1, d1) and real_date(None, m2, d2)):
            return None
        if not (m2 == m1 and d2 > d1) and m2 != m1 % 12 + 1:
            return None
    stop = found.end()
    if (stop < len(text) and text[stop].isalnum()) or vital_precedes(text, start):
        return None
    if unit_follows(text, stop):
        return None
    return start, stop, Category.DATE, 0.7


# Days in each month of a leap year (index 0 unused): a table look-up, cheaper than a date.
_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _month_day(text: str, start: int, end: int) -> Hit | None:
    """``10/12`` (month/day) or ``5/97`` (month/year): a date unless it reads as a measurement.

    A real month/day is a date by default (a missed date is a breach). It is rejected when it
    is one link of a number chain (``119/36/7.47``), one end of a numeric range (``4-6/2-4``), a
    dose or setting (a unit after it, a vital-sign or ventilator word before it), a fraction
    (``1/2``, ``3/4``) without a date cue, or a grade or score (``5/5``, ``4/5``, ``8/10``)
    without a date cue whose surroundings name a score (pain, strength, a limb, ventilation).
    Cheap character and integer checks run first: this is the most frequent candidate in
    clinical text.
    """
    size = len(text)
    after = text[end] if end < size else " "
    if after in "./":
        joined = _joined_date(text, start, end)
        if joined is not None:
            return joined
    # in_number_chain, inlined (the most frequent candidate: a call is a noticeable cost).
    before = text[start - 1] if start else " "
    if before.isalnum() or before == "+" or after.isalnum():
        return None
    if before in "/.:" and start >= 2 and text[start - 2].isdigit():
        return None  # "36/7" in "119/36/7.47"
    if after in "/.:" and end + 1 < size and text[end + 1].isdigit():
        return None
    if (
        before == "-"
        and start >= 2
        and text[start - 2].isdigit()
        and "/" not in text[max(0, start - 7) : start - 1]
    ):
        return None  # "4-6/2-4": a range, not "10/12-10/14"
    slash = text.index("/", start, end)
    m, d = int(text[start:slash]), int(text[slash + 1 : end])
    year_digits = end - slash - 1
    # One lower-cased window serves the cue and the vital-sign checks (the cue reads its last
    # 16 characters; lower-casing can change a non-ASCII string's length, hence the test).
    left = text[max(0, start - 24) : start].lower()
    cue_window = left[-16:] if left.isascii() else text[max(0, start - 16) : start].lower()
    if year_digits == 4 or d > 31:
        year = expand_year(d, year_digits)
        if not 1900 <= year <= 2100:
            return None
        cue = _cue_in(cue_window)
        if m == 1 and d in _TITERS and cue is None:
            return None  # "ANA 1/40": a titer
        if unit_follows(text, end) or vital_in(left):
            return None
        return start, end, Category.DATE, 0.7
    if d < 1 or d > _MONTH_DAYS[m]:
        return None
    cue = _cue_in(cue_window)
    fraction = m < d and d in _FRACTION_DENOMINATORS
    grade = (d in (5, 10) and m <= d) or (m == d and d < 5)
    if cue is None:
        if fraction and not _range_partner(text, start, end):
            return None  # "1/2" or "3/4" fractions, unless one end of "1/2 - 1/5"
        if grade and score_context(text, start, end):
            return None  # "4/5" motor grade, "8/10" pain score, "5/5" ventilator settings
    elif cue == "on" and m == d and grade:
        return None  # "on 5/5": ventilator settings, unless a stronger cue
    if unit_follows(text, end) or vital_in(left):
        return None
    return start, end, Category.DATE, 0.6 if cue is None else 0.85


# A day: one or two digits standing alone ("March of 1993" holds no day, not day 93).
_DAY = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th|º|ª)?(?!\d)", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")
_FOUR_DIGITS = re.compile(r"\d{4}")


def _named_month(text: str, start: int, end: int) -> Hit | None:
    """A date with a month name: the day (if any) must exist in that month."""
    value = text[start:end]
    month = None
    for word in _WORD.finditer(value):
        month = MONTH_NUMBER.get(word.group().lower().rstrip("."))
        if month is not None:
            break
    if month is None:
        return None
    days = [int(m.group(1)) for m in _DAY.finditer(value)]
    if days and not real_date(None, month, days[0]):
        return None
    year = _FOUR_DIGITS.search(value)
    if year is not None and not 1800 <= int(year.group()) <= 2100:
        return None  # "OCT 3000": a model number, not a year
    if start > 0 and text[start - 1].isdigit():
        return None
    score = 0.9 if days else 0.7
    return start, end, Category.DATE, score


_RISKY_BARE = frozenset(("may", "march", "mayo"))


def _bare_month(text: str, start: int, end: int) -> Hit | None:
    """A month name alone ("admitted in September"): weaker evidence, lower score."""
    if text[start:end].lower() in _RISKY_BARE:
        return None
    return start, end, Category.DATE, 0.45


_ORDINAL = re.compile(r"\d{1,2}(?:st|nd|rd|th)", re.IGNORECASE)


def _ordinal_day(text: str, start: int, end: int) -> Hit | None:
    """``on the 4th``: the span is the ordinal day only."""
    found = _ORDINAL.search(text, start, end)
    if found is None or not 1 <= int(found.group()[:-2]) <= 31:
        return None
    return found.start(), found.end(), Category.DATE, 0.6


_YEAR_VALUE = re.compile(r"(?:19|20)\d{2}")
# "from 2000 to 2400", "1900-0700": a span of clock times, not years.
_CLOCK_RANGE = re.compile(r"\s{0,2}(?:to|-|until|till|and)\s{0,2}(\d{4})\b", re.IGNORECASE)
_TIME_CUES = frozenset(("since", "until", "till", "by", "before", "after", "from", "at"))
# "a 1973 American film", "the 2010 Honda": a year used as an adjective before a proper word.
_DETERMINERS = frozenset(("a", "an", "the"))
_PROPER_AFTER = re.compile(r"[ \t]{1,2}[A-Z][a-z]")


def _year_in_context(text: str, start: int, end: int) -> Hit | None:
    """A year after a date word ("born in 1977", "since 1971", "en 2010"): the year alone.

    Safe Harbor keeps years, but a year in date context is flagged recall-first. A round clock
    time after a time word ("since 2000", "from 2000 to 2400") is not a year.
    """
    found = _YEAR_VALUE.search(text, max(start, end - 4), end)
    if found is None or in_number_chain(text, found.start(), end) or unit_follows(text, end):
        return None
    value = found.group()
    cue = (
        text[start : found.start()].split()[0].lower()
        if text[start : found.start()].split()
        else ""
    )
    clock = int(value[:2]) in (19, 20, 21, 22, 23) and value[2:] in ("00", "15", "30", "45")
    if clock and cue in _TIME_CUES:
        return None
    if cue in _DETERMINERS and (clock or _PROPER_AFTER.match(text, end, end + 4) is None):
        return None  # "a 2000 calorie diet", "the 2000 dose": a quantity or a clock time
    other = _CLOCK_RANGE.match(text, end, min(len(text), end + 16))
    if other is not None and not 1800 <= int(other.group(1)) <= 2100:
        return None
    return found.start(), end, Category.DATE, 0.6


def _weekday(text: str, start: int, end: int) -> Hit | None:
    """A weekday tied to a time ("Tuesday morning") or a meeting ("meet Monday"): the weekday."""
    found = _WEEKDAY_WORD.search(text, start, end)
    if found is None:
        return None
    return found.start(), found.end(), Category.DATE, 0.5


_WEEKDAY_WORD = re.compile(
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day|lunes|martes|mi[eé]rcoles|jueves|viernes|"
    r"s[aá]bado|domingo",
    re.IGNORECASE,
)

SPECS: tuple[PatternSpec, ...] = (
    PatternSpec(
        "date_numeric_pattern.v1",
        (
            r"\b\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})\b",
            r"\b\d{1,2}-\d{1,2}-(?:\d{4}|\d{2})\b",
            r"\b\d{1,2}\.\d{1,2}\.(?:\d{4}|\d{2})\b",
        ),
        (Category.DATE,),
        _numeric_with_year,
    ),
    PatternSpec(
        "date_iso_pattern.v1",
        (r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?\b",),
        (Category.DATE,),
        _iso,
        max_len=48,
    ),
    PatternSpec(
        "date_month_day_pattern.v1",
        (
            # The month is checked here already, so "120/80" never reaches Python.
            r"\b(?:0?[1-9]|1[0-2])/\d{1,2}\b",
            r"\b(?:0?[1-9]|1[0-2])/(?:19|20)\d{2}\b",
        ),
        (Category.DATE,),
        _month_day,
    ),
    PatternSpec(
        "date_month_name_pattern.v1",
        (
            rf"{_WEEKDAY_LEAD}\b{_MON}\b\.?\s{{0,2}}\d{{1,2}}{_ORD}\b(?:,?\s{{0,2}}{_YEAR})?",
            rf"{_WEEKDAY_LEAD}\b\d{{1,2}}{_ORD}\s{{0,2}}(?:of\s{{1,2}})?{_MON}\b\.?"
            rf"(?:,?\s{{0,2}}{_YEAR})?",
            rf"\b\d{{1,2}}-{_MON}-(?:\d{{4}}|\d{{2}})\b",
            rf"\b{_MON}\b\.?,?\s{{0,2}}(?:of\s{{1,2}})?\d{{4}}\b",
            rf"\b\d{{1,2}}{_ORD}\s{{1,2}}de\s{{1,2}}{_MES}\b(?:\s{{1,2}}del?\s{{1,2}}\d{{4}}\b)?",
            rf"\b{_MES}\s{{1,2}}(?:del?\s{{1,2}})?\d{{4}}\b",
        ),
        (Category.DATE,),
        _named_month,
        max_len=48,
    ),
    PatternSpec(
        "date_month_only_pattern.v1",
        (
            r"\b(?:january|february|march|april|may|june|july|august|september|sept|october|"
            r"november|december|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|"
            r"octubre|noviembre|diciembre)\b",
        ),
        (Category.DATE,),
        _bare_month,
    ),
    PatternSpec(
        "date_ordinal_day_pattern.v1",
        (r"\b(?:on|of|since|until|by|from|before|after)\s{1,2}the\s{1,2}\d{1,2}(?:st|nd|rd|th)\b",),
        (Category.DATE,),
        _ordinal_day,
        max_len=48,
    ),
    PatternSpec(
        "date_year_context_pattern.v1",
        (
            r"\b(?:in|during|since|of|from|until|till|by|circa|ca\.|c\.|year|born|founded|"
            r"established|before|after|early|late|mid|spring|summer|autumn|fall|winter|en|desde|"
            r"hasta|durante|año|del|entre|a[nñ]o\s{1,2}de|a|an|the)\s{1,2}(?:19|20)\d{2}\b",
        ),
        (Category.DATE,),
        _year_in_context,
        max_len=32,
    ),
    PatternSpec(
        "date_weekday_pattern.v1",
        (
            r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\s{1,2}(?:morning|afternoon|evening|"
            r"night|noon|lunch|at\s{1,2}\d{1,2}(?::\d{2})?\s{0,2}[ap]\.?m)\b",
            r"\b(?:meet|meeting|see\s{1,2}you|call\s{1,2}you|"
            r"arriving|arrive|leaving|leave)\s{1,2}(?:on\s{1,2})?(?:this\s{1,2}|next\s{1,2})?"
            r"(?:mon|tues|wednes|thurs|fri|satur|sun)day\b",
        ),
        (Category.DATE,),
        _weekday,
        max_len=48,
    ),
)
