"""Location tier: cue phrases, gazetteer casing, wards, campuses, postal codes (synthetic text)."""

from __future__ import annotations

import logging

import pytest

from pipeline.config import load_settings
from pipeline.detect.places import LocationContextRecognizer
from pipeline.detect.places import _factory as place_factory

#: Enough lower-case filler to make a text lower-case mode (under 2% capitals).
_LOWER_FILLER = " pt resting comfortably, vss, no acute events overnight, plan to continue."
_UPPER_FILLER = " PT RESTING COMFORTABLY, VSS, NO ACUTE EVENTS OVERNIGHT, PLAN TO CONTINUE."


@pytest.fixture(scope="module")
def places() -> LocationContextRecognizer:
    return place_factory(load_settings())


def covered(rec: LocationContextRecognizer, text: str, needle: str) -> bool:
    i = text.index(needle)
    return any(s.start <= i and i + len(needle) <= s.end for s in rec.find(text))


def touched(rec: LocationContextRecognizer, text: str, needle: str) -> bool:
    i = text.index(needle)
    return any(s.start < i + len(needle) and i < s.end for s in rec.find(text))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        # Religious and charitable hospital names, with or without a head word.
        ("Pt will be transferred to Sacred Heart tomorrow.", "Sacred Heart"),
        ("Pt d/c'd to Sacred Heart Memorial at 4pm.", "Sacred Heart Memorial"),
        ("plan: back to holy cross for rehab." + _LOWER_FILLER, "holy cross"),
        ("WENT TO HOLY CROSS WITH FEVER." + _UPPER_FILLER, "HOLY CROSS"),
        ("slated to go to rehab(good samaritan) today", "good samaritan"),
        ("Admitted from Our Lady of Lourdes overnight.", "Our Lady of Lourdes"),
        ("Sent to Holy Family Hospital.", "Holy Family Hospital"),
        # University of <place>.
        ("TRANSFERRED FROM UNIVERSITY OF MD MEDICAL CENTER." + _UPPER_FILLER, "UNIVERSITY OF MD"),
        ("PRESENTED TO U OF MD MED CENTER." + _UPPER_FILLER, "U OF MD"),
        ("ADMITTED FROM UNIVERSITY OF OREGON YESTERDAY." + _UPPER_FILLER, "UNIVERSITY OF OREGON"),
        ("She studied at the University of Elmwick.", "University of Elmwick"),
        # Employers.
        ("HUSBAND IS CEO OF ZYNTEX." + _UPPER_FILLER, "ZYNTEX"),
        ("worried about his business Quorvane today", "Quorvane"),
        ("he works for zentrix health." + _LOWER_FILLER, "zentrix health"),
        ("She works at Brightwell Analytics in sales.", "Brightwell Analytics"),
        # Origin and residence phrases.
        ("Mr. Example grew up in HELVARA.", "HELVARA"),
        ("I'm Ann, originally from PORT O' BRAMBLE, and i'm 40.", "PORT O' BRAMBLE"),
        ("We moved here from Villanova del Rio", "Villanova del Rio"),
        ("Where: Elmvale Country Club.", "Elmvale"),
        ("Where: Unionvale (Orange) Country Club.", "Unionvale (Orange)"),
        ("the economy of the band's home city Norvik: mills", "Norvik"),
        ("proxy is her son who lives in DC.", "DC"),
        ("Was on vacation on the Eastern Shore when pain began.", "Eastern Shore"),
        ("FAMILY ARRIVED FROM THE WEST COAST." + _UPPER_FILLER, "WEST COAST"),
        ("Daughter resides in MD with family.", "MD"),
        # Title case against the text's case: as telling as in mixed-case text.
        ("nephew, john example of Towson visited today." + _LOWER_FILLER, "Towson"),
        ("son from Middle River, MD called." + _LOWER_FILLER, "Middle River"),
        ("DAUGHTER WILL RETURN TO Baltimore TOMORROW." + _UPPER_FILLER, "Baltimore"),
        ("FOUND IN HIS HOME IN MILFORD MILL BY EMS." + _UPPER_FILLER, "MILFORD MILL"),
        # Particles inside a place after a move verb; a postal code after a town.
        ("Mr. Example flew to Vila Nova de Ourem on Tuesday.", "Vila Nova de Ourem"),
        ("Looking to support Acme in Bjertrup 6091 in its mission", "Bjertrup 6091"),
        # Campus names, a second facility after "and", a ward after "to" in lower case.
        ("Pt left for radiation on North Campus today.", "North"),
        ("transferred from er zelwick campus." + _LOWER_FILLER, "zelwick"),
        ("SCREENED BY ELMWICK REHAB AND KORVALLIS." + _UPPER_FILLER, "KORVALLIS"),
        ("Cardiac arrest called To tremaine 6 At 0455. Pt was found", "tremaine"),
    ],
)
def test_cue_positive(places: LocationContextRecognizer, text: str, needle: str) -> None:
    assert covered(places, text, needle), [text[s.start : s.end] for s in places.find(text)]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("He believes in the Holy Spirit.", "Holy Spirit"),
        ("Family prays to the Holy Trinity daily.", "Holy Trinity"),
        ("he works for the city." + _LOWER_FILLER, "city"),
        ("works at night." + _LOWER_FILLER, "night"),
        ("works for government." + _LOWER_FILLER, "government"),
        ("He works for himself.", "himself"),
        ("The patient moved to OR at 10.", "OR"),
        ("Patient lives in ME with wife.", "ME"),
        ("PT ABLE TO CONVERSE COHERENTLY." + _UPPER_FILLER, "CONVERSE"),
        ("SPOKE TO CHARLOTTE AT BEDSIDE." + _UPPER_FILLER, "CHARLOTTE"),
        ("He moved to Bjertrup 2019 and", "2019"),
        ("pt went into PSVT 1300 and resolved", "1300"),
        ("Pt titrated to levofed 5 mcg/min overnight.", "levofed"),
        ("Order to transfuse 2 additional units.", "transfuse"),
        ("went to main campus for imaging", "main"),
        ("erythema along the east shore of the wound", "east shore"),
        ("North coast was quiet today.", "North coast"),
        ("U of C is far away.", "U of C"),
        ("The university of the future.", "university"),
        ("PT EVALUATED BY REHAB AND PT." + _UPPER_FILLER, "PT."),
        ("PT WORKS AT NIGHT AS A NURSE." + _UPPER_FILLER, "NIGHT"),
        ("WIFE WORKS FOR THE STATE." + _UPPER_FILLER, "STATE"),
        ("SON WORKS AT DESK." + _UPPER_FILLER, "DESK"),
        ("She works for Dr. Lindqvist.", "Dr"),
        ("Pt is a native of the area.", "area"),
        ("Lipase raised in setting of pancreatitis.", "setting"),
        ("BP RAISED IN RESPONSE TO PAIN." + _UPPER_FILLER, "RESPONSE"),
    ],
)
def test_cue_near_miss(places: LocationContextRecognizer, text: str, needle: str) -> None:
    assert not touched(places, text, needle), [text[s.start : s.end] for s in places.find(text)]


def test_university_leaves_the_head_words_to_the_facility_rule(
    places: LocationContextRecognizer,
) -> None:
    text = "ADMITTED FROM UNIVERSITY OF MD MEDICAL CENTER." + _UPPER_FILLER
    spans = {text[s.start : s.end] for s in places.find(text)}
    assert "UNIVERSITY OF MD" in spans


def test_where_label_drops_the_venue_words(places: LocationContextRecognizer) -> None:
    text = "When: 2001-01-01 Where: Elmvale Country Club."
    assert not any("Club" in text[s.start : s.end] for s in places.find(text))


def test_cues_log_no_text(
    places: LocationContextRecognizer, caplog: pytest.LogCaptureFixture
) -> None:
    text = "he works for zentrix health and grew up in Helvara; lives in DC."
    with caplog.at_level(logging.DEBUG):
        places.find(text)
    for secret in ("zentrix", "Helvara"):
        assert secret not in caplog.text


@pytest.mark.parametrize(
    "text",
    [
        "works for " * 3000,
        "University of " * 3000,
        "grew up in " * 3000 + "Aa",
        "Holy Cross " * 3000,
        "Where: " + "Aa " * 3000,
    ],
)
def test_cues_on_repetitive_text_stay_bounded(places: LocationContextRecognizer, text: str) -> None:
    spans = places.find(text)
    assert all(s.end - s.start <= 120 for s in spans)
