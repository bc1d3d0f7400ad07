"""Date shifting: one keyed offset per scope, applied in each date's own format.

The offset is derived from a keyed hash of the scope (never zero, within a configured range, sign
drawn too), so every worker shifts a patient's dates by the same number of days and intervals
between them survive. Each date is re-rendered the way it was written: numeric with the same
separators, padding and year width; month names full or abbreviated in the same case; ordinal
suffixes and weekdays recomputed; partial dates ("3/4", "March 4th", "March 2020") stay partial.
A date the parser cannot read becomes ``[DATE]`` (fail closed: it never passes through).
"""

from __future__ import annotations

import calendar
import locale
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from pipeline.deid.crypto import Keyring
from pipeline.errors import ConfigError

_MONTHS_EN = [m.lower() for m in calendar.month_name[1:]]
_MONTHS_ES = [
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
    "octubre", "noviembre", "diciembre",
]  # fmt: skip
_WEEKDAYS = [d.lower() for d in calendar.day_name]
_MON_ALT = "|".join(
    sorted(
        {*_MONTHS_EN, *(m[:3] for m in _MONTHS_EN), "sept", *_MONTHS_ES},
        key=len,
        reverse=True,
    )
)
_WD_ALT = "|".join(sorted({*_WEEKDAYS, *(d[:3] for d in _WEEKDAYS)}, key=len, reverse=True))
_WD = rf"(?:(?P<wd>{_WD_ALT})\.?,?\s+)?"
_ORD = r"(?P<ord>st|nd|rd|th)?"

_PATTERNS = [
    ("iso", re.compile(r"(?<!\d)(?P<y>\d{4})(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?!\d)")),
    (
        "num",
        re.compile(
            r"(?<!\d)(?P<a>\d{1,2})(?P<s>[-/.])(?P<b>\d{1,2})(?P=s)(?P<y>\d{4}|\d{2})(?!\d)"
        ),
    ),
    (
        "mdy",
        re.compile(
            _WD + rf"(?P<mon>{_MON_ALT})\.?\s+(?P<d>\d{{1,2}}){_ORD}(?:,?\s+(?P<y>\d{{4}}))?(?!\d)",
            re.IGNORECASE,
        ),
    ),
    (
        "dmy",
        re.compile(
            _WD + rf"(?<!\d)(?P<d>\d{{1,2}}){_ORD}(?:\s+of|\s+de)?\s+(?P<mon>{_MON_ALT})\.?"
            r"(?:,?\s+(?:de\s+|del\s+)?(?P<y>\d{4}))?(?![a-z])",
            re.IGNORECASE,
        ),
    ),
    (
        "my",
        re.compile(
            rf"(?P<mon>{_MON_ALT})\.?,?\s+(?:de\s+|del\s+|of\s+)?(?P<y>\d{{4}})(?!\d)",
            re.IGNORECASE,
        ),
    ),
    ("part", re.compile(r"(?<![\d/.-])(?P<a>\d{1,2})(?P<s>[/-])(?P<b>\d{1,2})(?![\d/.-])")),
    ("mon", re.compile(rf"(?<![a-z])(?P<mon>{_MON_ALT})\.?(?![a-z])", re.IGNORECASE)),
]
# A bare year is not shifted (years are not PHI under Safe Harbor, and a day offset rarely
# moves one); a bare weekday is shifted like any other date element.
_WEEKDAY_ONLY = re.compile(rf"^\s*(?P<wd>{_WD_ALT})\.?\s*$", re.IGNORECASE)
_YEAR_ONLY = re.compile(r"^\s*(?:1[89]|2[01])\d\d\s*$")
_DATE_ELEMENTS_RE = re.compile(r"\d{1,2}\s*[/-]\s*\d{1,2}")


def scope_offset(keyring: Keyring, scope: str, min_days: int, max_days: int) -> int:
    """Return the scope's date offset in days: ``min <= |offset| <= max``, never zero."""
    if min_days < 1 or max_days < min_days:
        raise ConfigError("date shift range must satisfy 1 <= min <= max")
    raw = int.from_bytes(keyring.date_shift_prf(scope), "big")
    magnitude = min_days + raw % (max_days - min_days + 1)
    return magnitude if (raw >> 128) & 1 else -magnitude


def _month_index(name: str) -> int:
    low = name.lower().rstrip(".")
    if low in _MONTHS_ES:
        return _MONTHS_ES.index(low) + 1
    if low == "sept":
        return 9
    for i, full in enumerate(_MONTHS_EN):
        if low == full or low == full[:3]:
            return i + 1
    raise ValueError(name)


@dataclass(frozen=True)
class _CalendarNames:
    month_name: tuple[str, ...]
    month_abbr: tuple[str, ...]
    day_name: tuple[str, ...]
    day_abbr: tuple[str, ...]


@cache
def _calendar_names_in(lc_time: str | None, lc_ctype: str | None) -> _CalendarNames:
    # The arguments are the cache key: the locale the names below are read under.
    return _CalendarNames(
        tuple(calendar.month_name),
        tuple(calendar.month_abbr),
        tuple(calendar.day_name),
        tuple(calendar.day_abbr),
    )


def _calendar_names() -> _CalendarNames:
    """``calendar``'s month and day names, read once per locale rather than once per date.

    Each ``calendar.month_name[i]`` runs ``strftime``, which answers from the LC_TIME locale
    (decoded under LC_CTYPE): keyed by both, the names stay what ``calendar`` would give.
    """
    return _calendar_names_in(locale.setlocale(locale.LC_TIME), locale.setlocale(locale.LC_CTYPE))


def _render_month(template: str, month: int) -> str:
    low = template.lower().rstrip(".")
    if low in _MONTHS_ES:
        name = _MONTHS_ES[month - 1]
    elif len(low) <= 4 and low not in ("june", "july"):
        name = _calendar_names().month_abbr[month]
        if low == "sept" and month == 9:
            name = "Sept"
    else:
        name = _calendar_names().month_name[month]
    if template.isupper():
        return name.upper()
    if template.islower():
        return name.lower()
    return name[:1].upper() + name[1:].lower()


def _render_weekday(template: str, weekday: int) -> str:
    names = _calendar_names()
    name = names.day_name[weekday] if len(template) > 3 else names.day_abbr[weekday]
    if template.isupper():
        return name.upper()
    return name.lower() if template.islower() else name


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _pad(template: str, value: int) -> str:
    return f"{value:02d}" if template.startswith("0") else str(value)


@dataclass(frozen=True)
class _Parsed:
    kind: str
    match: re.Match[str]
    day: date
    has_year: bool
    swap: bool = False  # numeric D/M order


def _ref_year(month: int, day: int) -> int:
    # 2000 is a leap year, so "2/29" without a year still parses.
    return 2000


def _parse(text: str, order: str) -> _Parsed | None:
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            try:
                if kind == "iso":
                    d = date(int(m["y"]), int(m["m"]), int(m["d"]))
                    return _Parsed(kind, m, d, True)
                if kind in ("num", "part"):
                    a, b = int(m["a"]), int(m["b"])
                    swap = order == "DMY"
                    if a > 12 >= b:
                        swap = True
                    elif b > 12 >= a:
                        swap = False
                    month, day = (b, a) if swap else (a, b)
                    if kind == "num":
                        y = int(m["y"])
                        year = y if len(m["y"]) == 4 else (2000 + y if y < 30 else 1900 + y)
                        return _Parsed(kind, m, date(year, month, day), True, swap)
                    return _Parsed(kind, m, date(_ref_year(month, day), month, day), False, swap)
                month = _month_index(m["mon"])
                if kind in ("mdy", "dmy"):
                    year = int(m["y"]) if m["y"] else _ref_year(month, int(m["d"]))
                    return _Parsed(kind, m, date(year, month, int(m["d"])), bool(m["y"]))
                if kind == "my":
                    return _Parsed(kind, m, date(int(m["y"]), month, 15), True)
                return _Parsed(kind, m, date(_ref_year(month, 15), month, 15), False)
            except ValueError:
                continue
    return None


def _render(p: _Parsed, new: date) -> str:
    m = p.match
    if p.kind == "iso":
        z = "0" if m["m"].startswith("0") or m["d"].startswith("0") else ""
        month, day = _pad(z + m["m"], new.month), _pad(z + m["d"], new.day)
        return f"{new.year:04d}{m['s']}{month}{m['s']}{day}"
    if p.kind in ("num", "part"):
        first, second = (new.day, new.month) if p.swap else (new.month, new.day)
        # Zero padding is a property of the format: one padded element means both are.
        z = "0" if m["a"].startswith("0") or m["b"].startswith("0") else ""
        out = f"{_pad(z + m['a'], first)}{m['s']}{_pad(z + m['b'], second)}"
        if p.kind == "num":
            year = f"{new.year % 100:02d}" if len(m["y"]) == 2 else f"{new.year:04d}"
            out += f"{m['s']}{year}"
        return out
    # Name-based forms: substitute each group in place, keeping the text between them.
    repl: dict[str, str] = {"mon": _render_month(m["mon"], new.month)}
    if "d" in m.re.groupindex and m["d"]:
        repl["d"] = _pad(m["d"], new.day)
    if "ord" in m.re.groupindex and m["ord"]:
        suffix = _ordinal(new.day)
        repl["ord"] = suffix.upper() if m["ord"].isupper() else suffix
    if "y" in m.re.groupindex and m["y"]:
        repl["y"] = f"{new.year:04d}"
    if "wd" in m.re.groupindex and m["wd"]:
        # Shift the written weekday itself: without a year the parsed date's weekday is moot.
        written = [d[:3] for d in _WEEKDAYS].index(m["wd"].lower()[:3])
        weekday = new.weekday() if p.has_year else (written + (new - p.day).days) % 7
        repl["wd"] = _render_weekday(m["wd"], weekday)
    pieces, cursor = [], m.start()
    for name in sorted(repl, key=lambda g: m.start(g)):
        pieces.append(m.string[cursor : m.start(name)])
        pieces.append(repl[name])
        cursor = m.end(name)
    pieces.append(m.string[cursor : m.end()])
    return "".join(pieces)


def shift_date(text: str, days: int, *, order: str = "MDY", missing: str = "[DATE]") -> str:
    """Shift the date written in ``text`` by ``days``, keeping its format.

    Args:
        text: a detected DATE span ("03/04/2021", "March 4th", "3/4", "Tue, Mar 4 2021 10:30").
        days: the scope offset (non-zero).
        order: ``"MDY"`` or ``"DMY"`` for numeric dates whose order the values do not reveal.
        missing: what an unreadable date becomes.

    Returns:
        ``text`` with the date part re-rendered; anything after it (a time) kept.
    """
    if _YEAR_ONLY.match(text):
        return text
    wd = _WEEKDAY_ONLY.match(text)
    if wd:
        index = [d[:3] for d in _WEEKDAYS].index(wd["wd"].lower()[:3])
        return (
            text[: wd.start("wd")]
            + _render_weekday(wd["wd"], (index + days) % 7)
            + text[wd.end("wd") :]
        )
    parsed = _parse(text, order)
    if parsed is None:
        return missing
    try:
        new = parsed.day + timedelta(days=days)
    except OverflowError:
        return missing
    rendered = _render(parsed, new)
    rest = text[: parsed.match.start()] + "\x00" + text[parsed.match.end() :]
    # Digits left around the date could be another date element (a second date in the span):
    # fail closed rather than pass them through.
    if _DATE_ELEMENTS_RE.search(rest.replace("\x00", " ")):
        return missing
    return rest.replace("\x00", rendered)
