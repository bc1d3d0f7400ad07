"""Table tests of the lexicon/context name and location tiers: positives and near misses."""

import pytest

from pipeline.config import load_settings
from pipeline.detect.names import NameContextRecognizer
from pipeline.detect.names import _factory as name_factory
from pipeline.detect.places import LocationContextRecognizer
from pipeline.detect.places import _factory as place_factory
from pipeline.detect.taxonomy import Category


@pytest.fixture(scope="module")
def names() -> NameContextRecognizer:
    return name_factory(load_settings())


@pytest.fixture(scope="module")
def places() -> LocationContextRecognizer:
    return place_factory(load_settings())


def found(rec, text):
    return sorted(text[s.start : s.end] for s in rec.find(text))


def covered(rec, text, needle):
    i = text.index(needle)
    return any(s.start <= i and i + len(needle) <= s.end for s in rec.find(text))


NAME_POSITIVES = [
    ("Plan discussed with Dr. Quigley today.", "Quigley"),
    ("PLAN: DR ABERNATHY AWARE OF LABS.", "ABERNATHY"),
    ("pt seen by dr tomaszewski this am", "tomaszewski"),
    ("Spoke with wife, Carol Pennington, at bedside.", "Carol Pennington"),
    ("SOCIAL: PT'S SON JOHN IN TO VISIT.", "JOHN"),
    ("husband milovan called for update", "milovan"),
    ("- J. Whitcombe RN", "J. Whitcombe"),
    ("Report given.   DAN A. FORMAN-LYONS, RRT  \n", "FORMAN-LYONS"),
    ("Sputum sent. E. HOLLINGWORTH aware.", "HOLLINGWORTH"),
    ("Dr. Griffin and Swackhamer aware.", "Swackhamer"),
    ("IV NURSE VIRGINIA SALLESE CALLED BACK", "VIRGINIA SALLESE"),
    ("HOUSE STAFF mary souza AWARE.", "mary souza"),
    ("Family meeting with Mrs. Okonkwo this afternoon.", "Okonkwo"),
]

NAME_NEGATIVES = [
    "Given Lasix 40 mg IV and heparin gtt at 800 u/hr.",
    "PMH: CAD, NIDDM, HTN, COPD. s/p CABG.",
    "Small amount of thin tan sputum. Brown stool, guaiac neg.",
    "Pt will call if pain increases; may need more morphine.",
    "Foley draining clear yellow urine. FiO2 weaned to 40%.",
    "Dr. aware of labs, MD notified, team to follow.",
    "E. coli in urine, S. aureus in sputum; C. diff negative.",
    "Wife at bedside, daughter visited, son updated by phone.",
]


@pytest.mark.parametrize(("text", "needle"), NAME_POSITIVES)
def test_name_positive(names, text, needle):
    assert covered(names, text, needle), found(names, text)


@pytest.mark.parametrize("text", NAME_NEGATIVES)
def test_name_near_miss_negative(names, text):
    assert found(names, text) == []


def test_name_spans_carry_recognizer_and_label(names):
    spans = names.find("Dr. Quigley")
    assert spans and all(s.recognizer == "name_context.v1" for s in spans)
    assert all(s.label is Category.NAME and 0 <= s.score <= 1 for s in spans)


GEO_POSITIVES = [
    ("PT ADMITTED IN TRANSFER FROM CALVERT FOR MGMT.", "CALVERT"),
    ("HYPOTENSIVE, REFERRED TO GH FOR CATH.", "GH"),
    ("pt married, lives in catonsville with husband", "catonsville"),
    ("Heart transplant at Holy Cross Hospital last year.", "Holy Cross Hospital"),
    ("Was at Kessler-Adventist Hosp before.", "Kessler-Adventist Hosp"),
    ("Seen at Lochearn Medical Center in March.", "Lochearn Medical Center"),
    ("Her sister lives in San Diego.", "San Diego"),
]

GEO_NEGATIVES = [
    "transferred to floor, sent to CCU, came from the OR",
    "went to sleep after midnight; went to bed early",
    "the hospital and the medical center were called",
    "Will go to rehab when stable.",
]


@pytest.mark.parametrize(("text", "needle"), GEO_POSITIVES)
def test_geo_positive(places, text, needle):
    assert covered(places, text, needle), found(places, text)


@pytest.mark.parametrize("text", GEO_NEGATIVES)
def test_geo_near_miss_negative(places, text):
    assert found(places, text) == []


def test_name_found_in_context_spreads_to_other_mentions(names):
    text = "Seen by Dr. Quigley this am. Labs reviewed, quigley aware of K 5.9."
    assert covered(names, text, "quigley")


def test_everyday_word_does_not_spread(names):
    text = "Dr. Rose Quigley aware. Rose colored sputum noted."
    spans = names.find(text)
    second = text.index("Rose colored")
    assert not any(s.start <= second < s.end for s in spans)


def test_place_found_in_context_spreads(places):
    text = "ADMITTED FROM CALVERT YESTERDAY. CALVERT RECORDS REQUESTED."
    assert len({s.start for s in places.find(text)}) == 2
