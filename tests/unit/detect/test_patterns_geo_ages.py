"""Addresses, ZIP codes and ages over 89: positives next to near misses (synthetic values)."""

from __future__ import annotations

import pytest

from pipeline.detect.taxonomy import Category
from tests.support.pattern_tier import found, tier


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


# Synthetic international addresses: each line of the address is joined into one span.
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Lives at 12 Puistotie 4, Tampere.", "12 Puistotie 4, Tampere"),
        ("Visit Hauptstrasse 17 when you can", "Hauptstrasse 17"),
        (
            "The office is on Lindenweg 5\n10115 Berlin\nGermany",
            "Lindenweg 5\n10115 Berlin\nGermany",
        ),
        ("Home: Via Roma 71, Torino", "Via Roma 71, Torino"),
        ("Send it to 62 Rue Lafleur Apt. 9\nLyon", "62 Rue Lafleur Apt. 9\nLyon"),
        ("Sent to 5 Kossuth u. 12. yesterday", "5 Kossuth u. 12."),
        (
            "Billing address: Ann Example\n  812 Tammikuja 7 Apt. 3\n  OULU\n  90100",
            "812 Tammikuja 7 Apt. 3\n  OULU\n  90100",
        ),
        (
            "41 Orchard Street\n Suite 12\n Springfield\n United States 10001",
            "41 Orchard Street\n Suite 12\n Springfield\n United States 10001",
        ),
        ("Mail: 77 Birch Road, Leeds, LS1 4AB.", "77 Birch Road, Leeds, LS1 4AB"),
        ("Return to PSC 1234, Box 5678\nAPO AE 09876 soon", "PSC 1234, Box 5678\nAPO AE 09876"),
        (
            "Meet at 90 Alder Lane\nToronto\n, ON\n K1A 0B1",
            "90 Alder Lane\nToronto\n, ON\n K1A 0B1",
        ),
        ("She lives at 3104 Meadow Hill 58, Larnaca", "3104 Meadow Hill 58, Larnaca"),
        ("Ship to 9 Oak Drive Suite 200 Dayton Ohio", "9 Oak Drive Suite 200 Dayton Ohio"),
        ("ZIP: 4520", "4520"),
        ("Postcode SW1A 1AA please", "SW1A 1AA"),
        ("City: Springfield\nNext line", "Springfield"),
        ("C/ Olmo 4, 2º B 28001 Madrid. Tel: 900", "C/ Olmo 4, 2º B 28001 Madrid"),
        ("Drop it at 48 rue des Lilas, Nantes", "48 rue des Lilas, Nantes"),
        ("Rue de Rivoli 99, 75001 Paris, France", "Rue de Rivoli 99, 75001 Paris, France"),
        ("Via della Spiga 5, Milano", "Via della Spiga 5, Milano"),
        (
            "Address: 221B Baker Street, London NW1 6XE, UK",
            "221B Baker Street, London NW1 6XE, UK",
        ),
        (
            "Lives at 123 Main St, Springfield, IL 62704 with wife.",
            "123 Main St, Springfield, IL 62704",
        ),
        ("She lives on Elm Grove 50 now.", "Elm Grove 50"),
        (
            "Stop at the corner of 12 Oak Street and Pine Road.",
            "the corner of 12 Oak Street and Pine Road",
        ),
        ("my zip code is 4410", "4410"),
        ("Ship to USNS Example\nFPO AP 01234", "USNS Example\nFPO AP 01234"),
        ("return to psc 1234, box 5678\napo ae 09876", "psc 1234, box 5678\napo ae 09876"),
        (
            "Office: 7 Kossuth u. 12. Suite 4 Szeged Hungary. It is near.",
            "7 Kossuth u. 12. Suite 4 Szeged Hungary",
        ),
    ],
)
def test_address_composed(text: str, value: str) -> None:
    assert value in found(text, Category.GEO)


@pytest.mark.parametrize(
    "text",
    [
        "Gave 2 units via PEG 30 min ago.",  # "via" is a route here
        "Tie 2 sutures at the end.",
        "Pt c/o pain 5 out of 10.",
        "C/O CONSTIPATION SINCE 2 DAYS.",
        "Moved to unit 5 overnight.",
        "Address concerns with family at 2 pm.",  # an address keyword with no address
        "Discussed during rounds 3 times.",
        "Bed 12 Room 4 transfer.",
        "Gave 2 via mouth today.",  # a route after a count, not "2 Via ..."
        "The corner of the bed and the wall.",
        "Lives on oxygen 2 liters at home.",
        "Transfer to USNS Example tomorrow.",  # a ship's name alone, without its FPO line
        "Sent via de Novo 5 days ago.",
    ],
)
def test_address_negative(text: str) -> None:
    assert found(text, Category.GEO) == set()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Lives at 12 Oak St. Patient denies pain.", "12 Oak St."),  # a sentence follows
        ("Pt from 12 Oak Street\nPMH: HTN, DM", "12 Oak Street"),  # a section label follows
        (
            "Home: 45 Elm Avenue\nBoston, MA 02115\nPhone: 617-555-0100",
            "45 Elm Avenue\nBoston, MA 02115",
        ),
        ("She lives on Elm Grove 50 now.", "Elm Grove 50"),
    ],
)
def test_address_ends_where_the_address_ends(text: str, value: str) -> None:
    assert found(text, Category.GEO) == {value}


def test_address_stops_at_next_field() -> None:
    text = "C/ Olmo 4 28001 Madrid E-mail: ann@example.org"
    spans = found(text, Category.GEO)
    assert spans == {"C/ Olmo 4 28001 Madrid"}


def test_military_address_joins_its_apo_line() -> None:
    text = "Forward to Unit 4321 Box 8765\nDPO AP 01234 by mail."
    assert "Unit 4321 Box 8765\nDPO AP 01234" in found(text, Category.GEO)


@pytest.mark.parametrize(
    "text",
    [
        "12 Oak Street\n" + "Springfield\n" * 5000,  # endless place lines: a bounded walk
        "Hauptstrasse 1 " * 5000,
        "Apt 1, " * 5000,
        "address: " * 5000 + "12",
        "Via " * 5000,
        "City: " + "Aa " * 5000,
    ],
)
def test_address_composition_is_bounded(text: str) -> None:
    spans = tier().find(text)
    assert all(s.end - s.start <= 400 for s in spans if s.label is Category.GEO)


# Address lines opened by a bullet, a street line without a street type above its place and
# postal lines, "<name> <number> St.", Slavic place particles, accented ship names.
@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            "Ship to:\n• Ann Example\n• 4410 Lipova 12\n• Suite 30\n• Kranjska Vas"
            "\n• Slovenia 41200",
            "4410 Lipova 12\n• Suite 30\n• Kranjska Vas\n• Slovenia 41200",
        ),
        (
            "- 12 Oak Street\n- Apt. 4\n- Springfield\n- United States 10001",
            "12 Oak Street\n- Apt. 4\n- Springfield\n- United States 10001",
        ),
        (
            "Please mail 30102 Tammela 94\nRivertown\n, RT\n 61089 today",
            "30102 Tammela 94\nRivertown\n, RT\n 61089",
        ),
        (
            "Return to 72134 Orvieto 3599\nLakeview\n, LV\n Netherlands 62971 soon",
            "72134 Orvieto 3599\nLakeview\n, LV\n Netherlands 62971",
        ),
        ("The bus stops at 401 Lipova 19 St. daily", "401 Lipova 19"),
        ("Visitors enter on Hoge Berk 32 St. in winter", "Hoge Berk 32"),
        ("Ana lives on Via dei Pini 17 street.", "Via dei Pini 17"),
        ("the bus stops at 74678 midtbakken 130 st.", "74678 midtbakken 130"),
        (
            "9 Lipova 28\n Suite 5\n Lhota nad Labem\n Czech Republic 56655",
            "9 Lipova 28\n Suite 5\n Lhota nad Labem\n Czech Republic 56655",
        ),
        ("Mail: 45 Strandvej 15, Kobenhavn V", "45 Strandvej 15, Kobenhavn V"),
        ("Ship to USNS Dvořáková\nFPO AP 01234 soon", "USNS Dvořáková\nFPO AP 01234"),
        ("She lives at 12 Lindou Str., Arvila", "12 Lindou Str., Arvila"),
        ("Office: Keleti fejedelem útja 62, Budapest", "Keleti fejedelem útja 62, Budapest"),
    ],
)
def test_address_lines_international(text: str, value: str) -> None:
    assert value in found(text, Category.GEO)


@pytest.mark.parametrize(
    "text",
    [
        "HR 80 BP 120\nRR 18\n, 100 sats",  # numbers ending lines: no place, no postal line
        "Gave 2 Percocet 5\nPain 4\nSlept well",
        "Gave 2 units prbc 2 st",
        "GIVEN 2 MG OF MORPHINE 2 ST",
        "The team met 2 st times",
        "Pedestrians must walk 3 streets.",
        "Moved to Room 12 street side.",  # "Room" is no street name
        "Potassium 4 St. Louis lab",  # a saint's name follows "St."
        "Lines 2 Street 4 drawn",
    ],
)
def test_address_lines_negative(text: str) -> None:
    assert found(text, Category.GEO) == set()


def test_number_then_type_leaves_the_sentence_out() -> None:
    found_values = found("Visitors must enter on Hoge Berk 32 St. the first day.", Category.GEO)
    assert found_values == {"Hoge Berk 32"}


def test_lone_capital_i_does_not_join_a_place() -> None:
    text = "I lived in 416 Tammikatu 98 Apt. 934 OULU NO. I now live here."
    assert not any(v.endswith(" I") for v in found(text, Category.GEO))
