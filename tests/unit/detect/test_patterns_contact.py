"""Phone, fax, email, URL and IP: positives next to near misses (synthetic values only)."""

from __future__ import annotations

import pytest

from pipeline.detect.taxonomy import Category
from tests.support.pattern_tier import found


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Call (201) 555-0100 today.", "(201) 555-0100"),
        ("Son at 201-555-0100.", "201-555-0100"),
        ("Wife (201/555/0100) agrees.", "201/555/0100"),
        ("Dial +1 201 555 0100 now.", "+1 201 555 0100"),
        ("Desk 201-555-0100 x1234 ok", "201-555-0100 x1234"),
        ("Desk: 201-555-0100x036", "201-555-0100x036"),
        ("UK mobile 07700 900 123 ok", "07700 900 123"),
        ("Swiss +41 (0)38 549 02 90 mobile", "+41 (0)38 549 02 90"),
        ("Oficina: Tel.: 93 416 97 00 E-mail", "93 416 97 00"),
        ("Pager #54321 overnight.", "54321"),
        ("beeper 54321", "54321"),
        ("reach ext 54321 anytime", "54321"),
        ("cell# 201-555-0100 (try first)", "201-555-0100"),
        ("dtr 555-0100 home", "555-0100"),
        ("416 60 039 office", "416 60 039"),
    ],
)
def test_phone_positive(text: str, value: str) -> None:
    assert value in found(text, Category.PHONE)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Fax: 201-555-0199.", "201-555-0199"),
        ("f: (201) 555-0199", "(201) 555-0199"),
        ("Tel 91 555 00 00 Fax: 91 555 00 01.", "91 555 00 01"),
        ("+41 (0)38 549 02 91 fax", "+41 (0)38 549 02 91"),
    ],
)
def test_fax_positive(text: str, value: str) -> None:
    assert value in found(text, Category.FAX)
    assert value not in found(text, Category.PHONE)


@pytest.mark.parametrize(
    "text",
    [
        "TV 930-1000 on AC.",  # an ascending range, not a local number
        "SVR 900-1300 on neo.",
        "HR 80-95, BP 100/60.",
        "ABG 7.35/45/80 on 40%.",
        "Labs 2245-105-4.7 pending.",
        "Given 1000 units x 2.",
        "x 15-20 minutes",
        "ph 7.352 on gas",
    ],
)
def test_phone_negative(text: str) -> None:
    assert found(text, Category.PHONE) == set()
    assert found(text, Category.FAX) == set()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Write to jane.roe@example.org soon.", "jane.roe@example.org"),
        ("E-mail:jdoe_12@mail.example.co.uk\n", "jdoe_12@mail.example.co.uk"),
        ("CONTACT J.DOE@EXAMPLE.COM", "J.DOE@EXAMPLE.COM"),
    ],
)
def test_email_positive(text: str, value: str) -> None:
    assert value in found(text, Category.EMAIL)


@pytest.mark.parametrize("text", ["a @ b", "user@localhost", "@.@.@.", "x@y", "ratio 2@3.5"])
def test_email_negative(text: str) -> None:
    assert found(text, Category.EMAIL) == set()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("See https://portal.example.com/p?id=7 now", "https://portal.example.com/p?id=7"),
        ("Site www.example.com.", "www.example.com"),
        ("Docs at example.org/path/x.", "example.org/path/x"),
        ("Visit http://example.es/", "http://example.es/"),
        ("Mirror ftp://files.example.net/a.txt", "ftp://files.example.net/a.txt"),
    ],
)
def test_url_positive(text: str, value: str) -> None:
    assert value in found(text, Category.URL)


@pytest.mark.parametrize(
    "text",
    [
        "urine dark maroon.no clots",  # a missing space, not a Norwegian domain
        "secondary to malacia.Pt stable",
        "PH 7.60.PT placed on SIMV",
        "mail jane.roe@example.org",  # the domain of an email is not a URL
        "version 1.2.3.4.5",
    ],
)
def test_url_negative(text: str) -> None:
    assert found(text, Category.URL) == set()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("blocked 192.168.10.20 again", "192.168.10.20"),
        ("from 2001:db8::1 today", "2001:db8::1"),
        ("addr fe80::1ff:fe23:4567:890a,", "fe80::1ff:fe23:4567:890a"),
    ],
)
def test_ip_positive(text: str, value: str) -> None:
    assert value in found(text, Category.IP)


@pytest.mark.parametrize(
    "text", ["256.1.1.1 is bad", "version 1.2.3.4.5", "at 12:30:45 today", "Abd: soft"]
)
def test_ip_negative(text: str) -> None:
    assert found(text, Category.IP) == set()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Please call x51234 after six.", "51234"),
        ("My number is 612 304 518.", "612 304 518"),
        ("Text me on 0961-4402715 later.", "0961-4402715"),
        ("Office 0961-4402715 today", "0961-4402715"),
        ("8005550199-Fax", "8005550199"),
        ("Phone: 60-56-85-91 evenings", "60-56-85-91"),
        ("Cell 06 12 34 56 78 ok", "06 12 34 56 78"),
    ],
)
def test_phone_more_formats(text: str, value: str) -> None:
    spans = found(text, Category.PHONE) | found(text, Category.FAX)
    assert value in spans


@pytest.mark.parametrize(
    "text",
    [
        "Dial down the drip 5 times.",
        "Gave text 2 pts to read.",
        "Her number of visits was 4.",
        "Counted 1234567 events per run",  # a long number without a phone word
    ],
)
def test_phone_more_negatives(text: str) -> None:
    assert found(text, Category.PHONE) == set()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Son visited today (301 273 45166), both met social work.", "301 273 45166"),
        ("Daughter, (240444-1243), was in the ED.", "240444-1243"),
    ],
)
def test_parenthesized_phone_length_digit_groups_are_phones(text: str, value: str) -> None:
    assert value in found(text, Category.PHONE)


@pytest.mark.parametrize(
    "text",
    [
        "BP (120 80) after the bolus.",  # too few digits for a phone
        "Counts (12 34 56) stable.",
        "Volumes (1200 1350 1400 1500) charted.",  # 16 digits: a list, not a phone
    ],
)
def test_short_or_long_parenthesized_groups_are_not_phones(text: str) -> None:
    assert found(text, Category.PHONE) == set()
