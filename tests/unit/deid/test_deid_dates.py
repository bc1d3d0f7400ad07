"""Date shift: per-scope keyed offset, original format kept, partial dates stay partial."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pipeline.deid.crypto import Keyring
from pipeline.deid.dates import scope_offset, shift_date
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "days", "order", "expected"),
    [
        ("03/04/2021", 10, "MDY", "03/14/2021"),
        ("3/4/2021", -4, "MDY", "2/28/2021"),
        ("3/4/21", 30, "MDY", "4/3/21"),
        ("03/04/2021", 10, "DMY", "13/04/2021"),
        ("25/12/2020", 7, "MDY", "1/1/2021"),  # 25 > 12: the values say D/M
        ("2021-03-04", 1, "MDY", "2021-03-05"),
        ("2021.03.04", 1, "MDY", "2021.03.05"),
        ("3/4", 10, "MDY", "3/14"),
        ("12/31", 1, "MDY", "1/1"),
        ("Feb 29", 1, "MDY", "Mar 1"),
        ("March 4th", 1, "MDY", "March 5th"),
        ("March 4th", 18, "MDY", "March 22nd"),
        ("MARCH 4TH", 8, "MDY", "MARCH 12TH"),
        ("march 4", 31, "MDY", "april 4"),
        ("March 4, 2021", 365, "MDY", "March 4, 2022"),
        ("Mar. 4, 2021", -5, "MDY", "Feb. 27, 2021"),
        ("4 March 2021", 2, "MDY", "6 March 2021"),
        ("4th of March", 2, "MDY", "6th of March"),
        ("Thursday, March 4, 2021", 1, "MDY", "Friday, March 5, 2021"),
        ("Monday, March 4", 10, "MDY", "Thursday, March 14"),
        ("Tue", 3, "MDY", "Fri"),
        ("March 2021", 20, "MDY", "April 2021"),
        ("12 de diciembre de 2016", 20, "DMY", "1 de enero de 2017"),
        ("10/22/2020 10:30", 10, "MDY", "11/1/2020 10:30"),
        ("2021", 300, "MDY", "2021"),
        ("the day after", 5, "MDY", "[DATE]"),
    ],
)
def test_shift_keeps_format(value, days, order, expected):
    assert shift_date(value, days, order=order) == expected


def test_shift_preserves_intervals():
    a, b = "01/10/2021", "02/20/2021"
    sa, sb = shift_date(a, -33), shift_date(b, -33)

    def parse(s: str) -> date:
        m, d, y = map(int, s.split("/"))
        return date(y, m, d)

    assert parse(sb) - parse(sa) == parse(b) - parse(a)
    assert parse(sa) == parse(a) - timedelta(days=33)


def test_offset_per_scope_nonzero_in_range_and_keyed(keys, other_keys):
    ring = Keyring.from_provider(keys)
    offsets = [scope_offset(ring, f"patient:{i}", 5, 30) for i in range(200)]
    assert all(5 <= abs(o) <= 30 for o in offsets)
    assert 0 not in offsets
    assert any(o < 0 for o in offsets) and any(o > 0 for o in offsets)
    assert scope_offset(ring, "patient:1", 5, 30) == scope_offset(
        Keyring.from_provider(keys), "patient:1", 5, 30
    )
    other = Keyring.from_provider(other_keys)
    assert [scope_offset(other, f"patient:{i}", 5, 30) for i in range(20)] != offsets[:20]


def test_offset_range_validated(keyring):
    with pytest.raises(ConfigError):
        scope_offset(keyring, "s", 0, 10)
    with pytest.raises(ConfigError):
        scope_offset(keyring, "s", 10, 5)
