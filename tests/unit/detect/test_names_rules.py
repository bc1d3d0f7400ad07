"""Table tests of the name-tier rules added for issue 3 (synthetic text only).

Each rule has positives and near-miss negatives side by side: a cue or shape must not turn a
clinical, stop or everyday English word into a name.
"""

import logging

import pytest

from pipeline.config import load_settings
from pipeline.detect.names import NameContextRecognizer
from pipeline.detect.names import _factory as name_factory
from pipeline.detect.wordclass import CaseMode, case_mode


@pytest.fixture(scope="module")
def names() -> NameContextRecognizer:
    return name_factory(load_settings())


def found(rec: NameContextRecognizer, text: str) -> list[str]:
    return sorted(text[s.start : s.end] for s in rec.find(text))


def covered(rec: NameContextRecognizer, text: str, needle: str) -> bool:
    i = text.index(needle)
    return any(s.start <= i and i + len(needle) <= s.end for s in rec.find(text))


POSITIVES = [
    # relation glued by a hyphen, title glued after a hyphen
    ("SOCIAL: DAUGHTER-MARGIT---555 0100. PT RESTING.", "MARGIT"),
    ("PLAN UNCLEAR-?RESTART-DR. HALVORSEN AWARE.", "HALVORSEN"),
    # carer as kin, quoted name after a relation
    ("PT RECOGNIZED HIS CAREGIVER, ROSALIND. VSS.", "ROSALIND"),
    ('Family visiting; daughter "hannah" at bedside.', "hannah"),
    # possessive title and coordination
    ("DR'S OKONJO AND FENWICK AT BEDSIDE.", "FENWICK"),
    # kin word after the name
    ("LARGE FAMILY. MIRELA VANTONGEREN (DAUGHTER) IS SPOKESPERSON.", "MIRELA VANTONGEREN"),
    ("KEEP DELGADO FAMILY UPDATED ON PLAN.", "DELGADO"),
    # credential after a name without a comma (mixed case), eponym surname
    ("Seen by Andrei Kowalczyk MD who spoke with family.", "Kowalczyk"),
    ("Vent settings unchanged.  Bernard Foley CRT", "Bernard Foley"),
    # verbs: consult with
    ("will consult with brenda quarshie re wound care.", "brenda"),
    # capital in lower-case text
    ("pt slept well, once Josephine arrived pt calmer. vss. will cont plan.", "Josephine"),
    # Irish O written apart after a title
    ("Dr. o connell and team in room.", "o connell"),
    # middle initials
    ("Please add Marcus T Whitfield as guardian.", "Marcus T Whitfield"),
    ("follow up with martina b. kowalski next week.", "martina b. kowalski"),
    # sentence shapes
    ("Orsolya, can you call me back tomorrow?", "Orsolya"),
    ('Tamsin: "Where were you?" Greta: "At home."', "Tamsin"),
    ("Radomir lives on Elm Street.", "Radomir"),
    # a list of first names
    ("they invited 5: margarethe, william, dorothy, janice and kevin.", "margarethe"),
    # a role in parentheses after the name
    ("TAP PLANNED...PETRA VOLKONSKAYA (RESIDENT) ON IT.", "PETRA VOLKONSKAYA"),
    # an initial glued to the word before it by a hyphen
    ("GIVEN SUCRALFATE-R. HOLLINGWORTH AWARE.", "R. HOLLINGWORTH"),
    # two unknown words around a capital initial, one from the lexicons
    ("Invoice sent to Zorvan K Lindqvist yesterday.", "Zorvan K Lindqvist"),
    # a first name closing the note after its last sentence
    ("HEPARIN AT 850 U/HR. SUSAN\n", "SUSAN"),
    # a first name that is also charting shorthand, after a relation
    ("SOCIAL: MOTHER, GIRLFRIEND EVE IN ALL DAY.", "EVE"),
]

NEGATIVES = [
    # kin word after a non-name
    "LARGE FAMILY SUPPORTIVE. THE FAMILY IS AWARE.",
    "Mother (daughter) relationship noted.",
    # credential after clinical words
    "Ostomy RN applied new pouch. Wound RN to follow.",
    # quoted everyday word after relation
    'son "very upset" per nurse.',
    # middle-initial shape with clinical or everyday words
    "BAKAITIS W IMPROVED FLOW RATES.",
    "Given Lasix 40 mg IV x 1 at noon.",
    # vocative / subject / speaker shapes with everyday or clinical words
    "Also, can you check the potassium?",
    "Heparin began at 800 units per hour.",
    'Plan: "wean as tolerated".',
    # Spanish prose: conjunctions and capitalised terms are no initials or names
    "Superficie lisa y mucosa conservada; Penicilina G Benzatina im.",
    "Se realiza con sonda en modo B que muestra flujo normal.",
    # a last word that is no name, an everyday word closing a note
    "HEPARIN AT 850 U/HR. STABLE",
    "MOM GIVEN COLACE THIS AM.",
    # lists of drugs and problems
    "Meds: lasix, heparin, coumadin and lisinopril.",
    "PMH: CAD, HTN, COPD, NIDDM and CHF.",
]


@pytest.mark.parametrize(("text", "needle"), POSITIVES)
def test_rule_positive(names: NameContextRecognizer, text: str, needle: str) -> None:
    assert covered(names, text, needle), found(names, text)


@pytest.mark.parametrize("text", NEGATIVES)
def test_rule_near_miss_negative(names: NameContextRecognizer, text: str) -> None:
    assert found(names, text) == []


def test_list_needs_mostly_first_names(names: NameContextRecognizer) -> None:
    # two first names among things: not a list of people
    assert found(names, "bring apples, pears, plums, grapes and karen") == []


def test_no_record_text_in_logs(
    names: NameContextRecognizer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    names.find("Radomir lives on Elm Street. DAUGHTER-MARGIT CALLED.")
    assert "Radomir" not in caplog.text and "MARGIT" not in caplog.text


def test_lower_case_letter_is_no_middle_initial(names: NameContextRecognizer) -> None:
    # "a" after a capitalised name in mixed-case text is the article, not an initial
    assert set(found(names, "Seen by Quigley a bit later.")) == {"Quigley"}


def test_capital_in_lower_case_notes(names: NameContextRecognizer) -> None:
    # all-lower writing: a capital marks a proper noun
    text = (
        "pt restless early in evening, short of breath while lethargic. once Josephine "
        "arrived pt calmer and slept well. breathing regular with no distress overnight."
    )
    assert case_mode(text) is CaseMode.LOWER
    assert "Josephine" in found(names, text)
    # prose that capitalises its sentences: a sentence-start capital proves nothing
    text = (
        "en el ingreso se realizo una exploracion completa sin hallazgos relevantes para el "
        "caso. Una vez evaluado el paciente se decidio el alta hospitalaria sin complicaciones "
        "posteriores. Con el paciente estable se completo el estudio ambulatorio sin incidencias."
    )
    assert case_mode(text) is CaseMode.LOWER
    assert found(names, text) == []
