"""Validator tables: valid identifiers next to near misses (synthetic or published test values)."""

from __future__ import annotations

import pytest

from pipeline.detect import validators as v


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("4111111111111111", True),  # the standard Visa test number
        ("4111 1111 1111 1111", True),
        ("4111-1111-1111-1111", True),
        ("378282246310005", True),  # Amex test number
        ("4111111111111112", False),  # last digit off
        ("1111111111111111", False),  # one repeated digit
        ("411111111111", False),  # too short for a card
        ("41111111111111111111", False),  # too long
    ],
)
def test_card(value: str, ok: bool) -> None:
    assert v.card_ok(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("123-45-6789", True),
        ("123456789", True),
        ("000-12-3456", False),  # area 000
        ("666-12-3456", False),  # area 666
        ("912-34-5678", False),  # area 9xx
        ("123-00-4567", False),  # group 00
        ("123-45-0000", False),  # serial 0000
        ("123-45-678", False),  # too short
    ],
)
def test_ssn(value: str, ok: bool) -> None:
    assert v.ssn_ok(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("1234567893", True), ("1234567890", False), ("3234567893", False), ("123456789", False)],
)
def test_npi(value: str, ok: bool) -> None:
    assert v.npi_ok(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("AB1234563", True), ("AB1234564", False), ("A91234563", True), ("ZZ1234563", False)],
)
def test_dea(value: str, ok: bool) -> None:
    assert v.dea_ok(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("011000015", True), ("011000016", False), ("000000000", False), ("01100001", False)],
)
def test_aba(value: str, ok: bool) -> None:
    assert v.aba_ok(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("GB82 WEST 1234 5698 7654 32", True),
        ("GB82WEST12345698765432", True),
        ("DE89 3704 0044 0532 0130 00", True),
        ("GB82 WEST 1234 5698 7654 33", False),
        ("GB82 WEST", False),
    ],
)
def test_iban(value: str, ok: bool) -> None:
    assert v.iban_ok(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("1HGCM82633A004352", True), ("1HGCM82623A004352", False), ("1HGCM82633A00435", False)],
)
def test_vin(value: str, ok: bool) -> None:
    assert v.vin_ok(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1EG4-TE5-MK73", True),
        ("1EG4TE5MK73", True),
        ("0EG4TE5MK73", False),  # first character 1-9
        ("1SG4TE5MK73", False),  # S is never used
        ("1EG4TE5MK7", False),  # too short
    ],
)
def test_mbi(value: str, ok: bool) -> None:
    assert v.mbi_ok(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("192.168.10.20", True), ("256.1.1.1", False), ("1.2.3", False), ("01.2.3.4", False)],
)
def test_ipv4(value: str, ok: bool) -> None:
    assert v.ipv4_ok(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2001:db8::1", True),
        ("fe80::1ff:fe23:4567:890a", True),
        ("12:30:45", False),
        ("::g", False),
    ],
)
def test_ipv6(value: str, ok: bool) -> None:
    assert v.ipv6_ok(value) is ok


@pytest.mark.parametrize(
    ("year", "month", "day", "ok"),
    [
        (2019, 3, 4, True),
        (2019, 2, 29, False),
        (2020, 2, 29, True),
        (None, 2, 29, True),  # no year written: Feb 29 exists in some year
        (None, 4, 31, False),
        (None, 13, 1, False),
        (None, 0, 5, False),
        (1700, 1, 1, False),
    ],
)
def test_real_date(year: int | None, month: int, day: int, ok: bool) -> None:
    assert v.real_date(year, month, day) is ok


def test_expand_year() -> None:
    assert v.expand_year(19, 2) == 2019
    assert v.expand_year(45, 2) == 1945
    assert v.expand_year(1999, 4) == 1999


def test_luhn_rejects_non_digits() -> None:
    assert not v.luhn_ok("4111a11111111111")
    assert not v.luhn_ok("")
