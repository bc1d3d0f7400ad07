"""Check-digit and format validators for structured identifiers.

Each validator takes the candidate string (short: a matched token, never a whole record) and
returns ``True`` only when the value could be a real identifier of that kind. They run in Python
on the few candidates the Hyperscan pass reports, so they are written for clarity, not speed.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress

_DIGITS = frozenset("0123456789")


def digits_only(value: str) -> str:
    """Return the ASCII digits of ``value`` in order (separators dropped)."""
    return "".join(ch for ch in value if ch in _DIGITS)


def luhn_ok(number: str) -> bool:
    """Return whether a digit string passes the Luhn (mod 10) check.

    Args:
        number: digits only; anything else fails.
    """
    if len(number) < 2 or not number.isascii() or not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_ok(value: str) -> bool:
    """Return whether ``value`` is a plausible payment card number (13-19 digits, Luhn)."""
    number = digits_only(value)
    return 13 <= len(number) <= 19 and luhn_ok(number) and len(set(number)) > 1


def ssn_ok(value: str) -> bool:
    """Return whether ``value`` is a valid-format US SSN.

    The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000.
    """
    number = digits_only(value)
    if len(number) != 9:
        return False
    area, group, serial = number[:3], number[3:5], number[5:]
    if area in ("000", "666") or area[0] == "9":
        return False
    return group != "00" and serial != "0000"


def npi_ok(value: str) -> bool:
    """Return whether ``value`` is a valid NPI: 10 digits, Luhn over ``80840`` + the digits."""
    number = digits_only(value)
    return len(number) == 10 and number[0] in "12" and luhn_ok("80840" + number)


def dea_ok(value: str) -> bool:
    """Return whether ``value`` is a valid DEA registration number (2 letters, 7 digits).

    Check digit: (d1 + d3 + d5) + 2 * (d2 + d4 + d6), last digit equals d7.
    """
    v = value.strip().upper()
    if len(v) != 9 or not v.isascii() or not v[2:].isdigit():
        return False
    if not (v[1].isalpha() or v[1] == "9"):  # second: last-name initial, or 9 for a business
        return False
    if v[0] not in "ABCDEFGHJKLMPRSTUX":
        return False
    d = [ord(c) - 48 for c in v[2:]]
    check = (d[0] + d[2] + d[4]) + 2 * (d[1] + d[3] + d[5])
    return check % 10 == d[6]


def aba_ok(value: str) -> bool:
    """Return whether ``value`` is a valid ABA routing number (9 digits, 3-7-1 weighted sum)."""
    number = digits_only(value)
    if len(number) != 9 or number == "000000000":
        return False
    d = [ord(c) - 48 for c in number]
    total = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])
    return total % 10 == 0 and int(number[:2]) <= 80


def iban_ok(value: str) -> bool:
    """Return whether ``value`` is a valid IBAN (ISO 13616 mod-97 == 1; spaces allowed)."""
    v = "".join(value.split()).upper()
    if not (15 <= len(v) <= 34) or not v.isascii() or not v.isalnum():
        return False
    if not (v[:2].isalpha() and v[2:4].isdigit()):
        return False
    moved = v[4:] + v[:4]
    digits = "".join(str(int(ch, 36)) for ch in moved)
    return int(digits) % 97 == 1


_VIN_MAP = {
    **{str(i): i for i in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_ok(value: str) -> bool:
    """Return whether ``value`` is a 17-character VIN whose 9th character is its check digit.

    The check digit is mandatory in North America; elsewhere it may be absent, so callers use
    context ("VIN") to accept VINs that fail it.
    """
    v = value.strip().upper()
    if len(v) != 17 or any(ch not in _VIN_MAP for ch in v):
        return False
    total = sum(_VIN_MAP[ch] * w for ch, w in zip(v, _VIN_WEIGHTS, strict=True))
    check = total % 11
    return v[8] == ("X" if check == 10 else str(check))


# MBI positions: 1 numeric 1-9; 2,5,8,9 alphabetic; 3,6 alphanumeric; 4,7,10,11 numeric.
# Letters S, L, O, I, B, Z are never used.
_MBI_ALPHA = frozenset("ACDEFGHJKMNPQRTUVWXY")
_MBI_ALNUM = _MBI_ALPHA | _DIGITS


def mbi_ok(value: str) -> bool:
    """Return whether ``value`` has the Medicare Beneficiary Identifier format (dashes allowed)."""
    v = value.replace("-", "").upper()
    if len(v) != 11 or v[0] not in "123456789":
        return False
    kinds = "CAANAANAANN"  # C: 1-9, A: alpha, N: numeric; 3 and 6 alphanumeric
    for i, (ch, kind) in enumerate(zip(v, kinds, strict=True)):
        if i in (2, 5):
            if ch not in _MBI_ALNUM:
                return False
        elif kind == "A":
            if ch not in _MBI_ALPHA:
                return False
        elif ch not in _DIGITS:
            return False
    return True


def ipv4_ok(value: str) -> bool:
    """Return whether ``value`` is a dotted-quad IPv4 address (no leading-zero octets)."""
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def ipv6_ok(value: str) -> bool:
    """Return whether ``value`` is a valid IPv6 address (zone index allowed)."""
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def expand_year(year: int, digits: int) -> int:
    """Return a four-digit year; two-digit years pivot at 30 (``29`` -> 2029, ``30`` -> 1930)."""
    if digits <= 2:
        return 2000 + year if year < 30 else 1900 + year
    return year


def real_date(year: int | None, month: int, day: int) -> bool:
    """Return whether (year, month, day) is a real calendar date.

    ``year`` None means "no year written": day must exist in some year (Feb 29 allowed).
    """
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    if year is None:
        year = 2000  # a leap year, so 2/29 passes
    if not (1800 <= year <= 2200):
        return False
    try:
        _dt.date(year, month, day)
    except ValueError:
        return False
    return True
