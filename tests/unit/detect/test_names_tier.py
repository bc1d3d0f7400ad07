"""Table tests of the lexicon/context name and location tiers: positives and near misses."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- context cues added in name_context.v1 (synthetic names) -------------------------------
NAME_CUE_POSITIVES = [
    ("INR UP AFTER FFP. E. MASON AWARE OF LABS.", "E. MASON"),
    ("CXR DONE. AS PER E. MASON: SMALL EFFUSIONS.", "E. MASON"),
    ("UOP LOW, J KOWALCZYK ORDERED LASIX.", "J KOWALCZYK"),
    ("Orders signed on chart by Dr. Art Quimby today.", "Art Quimby"),
    ("resp- Arthur Vandermolen,MD made no vent changes.", "Arthur Vandermolen"),
    ("Sons in to visit. Son Dusty to take valuables home.", "Dusty"),
    ("SOCIAL-phone call from son Tom-who states he will come.", "Tom"),
    ("NEURO TEAM UP TO TALK WITH THOMAS ABOUT THE PLAN.", "THOMAS"),
    ("d/w Quentin re plan for tonight", "Quentin"),
    ("Follow up with Ingrid Vornqvist in a couple of months.", "Ingrid Vornqvist"),
    ("My name is Ruth T Okafor and I need help.", "Ruth T Okafor"),
    ("Report given. | OSKAR T. BRANDVOLD, RRT\n", "OSKAR T. BRANDVOLD"),
    ("Pt stable. Spoke with daughter dagny about plan.", "dagny"),
    ('Alice: "Who are you?" Bob: "I\'m Ingrid\'s daughter."', "Ingrid"),
]

NAME_CUE_NEGATIVES = [
    "DISCUSS PLAN WITH TEAM THIS AM. CONTACT SOCIAL WORK.",
    "NO STOOL TODAY, U/O. TEAM AWARE. 90'S. HO AWARE.",
    "DUODERM PLACED. LASIX ORDERED. PT CALLED OUT.",
    "New PA line placed. R FEMORAL PA line removed.",
    "Hi, I'm calling about the bill.",
    "Pt able to speak. Mouthing words constantly.",
    "Pt stable. Spoke with daughter about the plan; son will call.",
]


@pytest.mark.parametrize(("text", "needle"), NAME_CUE_POSITIVES)
def test_name_cue_positive(names, text, needle):
    assert covered(names, text, needle), found(names, text)


@pytest.mark.parametrize("text", NAME_CUE_NEGATIVES)
def test_name_cue_near_miss_negative(names, text):
    assert found(names, text) == []


def test_possessive_is_not_part_of_the_name(names):
    text = "Reviewed Dr. Quigley's note and Vornqvist's letter."
    assert "Quigley" in found(names, text)
    assert not any(t.endswith("'s") for t in found(names, text))


# --- facility, ward, acronym and gazetteer rules of location_context.v1 --------------------
GEO_RULE_POSITIVES = [
    ("TRANSFERRED FROM ELMWICK MEMORIAL FOR CATH.", "ELMWICK"),
    ("TAKEN TO LIBERTY HOSPITAL WHERE EKG WAS DONE.", "LIBERTY"),
    ("Pt went to good hope hospital for an eval.", "good hope"),
    ("REFERRED TO XYMC FOR CATH. AT XYMC EW HE WAS STABLE.", "AT XYMC"),
    ("MED-FLIGHTED TO XYH. LATER SEEN IN XYH TCU.", "XYH"),
    ("PT TRANSFERRED TO OSTRANDER 6 TODAY. PLAN: OSTRANDER6 IN AM.", "OSTRANDER6"),
    ("transferred to 209 ostrander, report given.", "ostrander"),
    ("DAUGHTER TO ARRIVE TOMORROW FROM FROSTBURG.", "FROSTBURG"),
    ("OLD RECORDS FROM FROSTBURG, MD REQUESTED.", "FROSTBURG"),
    ("Her son lives in Frostburg with his wife.", "Frostburg"),
    ("Sent to Mercy Vale Hospital. Returned from Mercy Vale today.", "from Mercy Vale"),
]

GEO_RULE_NEGATIVES = [
    "FEET COOL TO TOUCH. SATS IN HIGH 90S. UNABLE TO COUGH.",
    "PMH: HTN. GIVEN NPH 10 UNITS. PH 7.31 ON ABG.",
    "ADMITTED TO OSH WITH CP. TRANSFERRED TO OUTSIDE HOSPITAL.",
    "Still plans for possible rehab on tuesday.",
    "NO STOOL DESPITE BEING PLACED ON BEDPAN 6-8 TIMES.",
    "Urology able to advance 30 cm catheter today.",
    "SITTING IN CHAIR. IN BED BY 9. FLUID IN MARION POUCH.",
]


@pytest.mark.parametrize(("text", "needle"), GEO_RULE_POSITIVES)
def test_geo_rule_positive(places, text, needle):
    start = text.index(needle)
    if needle.startswith(("AT ", "from ")):
        start += needle.index(" ") + 1  # the place after the context word
    end = text.index(needle) + len(needle)
    assert any(
        (s.start <= start and end <= s.end) or s.start == start for s in places.find(text)
    ), found(places, text)


@pytest.mark.parametrize("text", GEO_RULE_NEGATIVES)
def test_geo_rule_near_miss_negative(places, text):
    assert found(places, text) == []


def test_facility_head_alone_is_not_named(places):
    assert found(places, "ELMWICK MEMORIAL") == ["ELMWICK MEMORIAL"]
    assert found(places, "a memorial service was held") == []


# --- the speed-ups keep the simple formulations' answers ------------------------------------
# The tiers scan each text with cheaper equivalents of straightforward regexes and loops; these
# properties compare them with the straightforward versions on arbitrary text.

_PIECES = st.sampled_from(
    [
        *["a", "Z", "é", "É", " ", "  ", "   ", "\t", "\n", "-", "'", "\u2019", "_", ".", ":"],
        *["/", "1", "23", "\u0663", "\u00b2", "Ward", "WARD", "ostrander", "Ab", "x9", "İ"],
    ]
)
_TEXTS = st.lists(_PIECES, max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_ward_scan_equals_finditer(text):
    from pipeline.detect.places import _WARD_RE, _ward_matches

    expected = [(m.span(), m.groups()) for m in _WARD_RE.finditer(text)]
    assert [(m.span(), m.groups()) for m in _ward_matches(text)] == expected


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_segment_regex_equals_lookahead_form(text):
    from pipeline.detect.name_cues import _SEGMENT_RE

    plain = re.compile(r"(?:(?![ \t]{3,})[^\n])+")
    assert [m.span() for m in _SEGMENT_RE.finditer(text)] == [
        m.span() for m in plain.finditer(text)
    ]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60) | _TEXTS)
def test_tokenize_and_case_mode_equal_plain_forms(text):
    from pipeline.detect.wordclass import TOKEN_RE, CaseMode, Token, case_mode, tokenize

    assert tokenize(text) == [
        Token(m.start(), m.end(), m.group(), m.group().lower()) for m in TOKEN_RE.finditer(text)
    ]
    assert all(type(t) is Token for t in tokenize(text))
    upper, lower = len(re.findall("[A-Z]", text)), len(re.findall("[a-z]", text))
    share = upper / (upper + lower) if upper + lower else None
    expected = (
        CaseMode.MIXED
        if share is None
        else CaseMode.UPPER
        if share > 0.6
        else CaseMode.LOWER
        if share < 0.02
        else CaseMode.MIXED
    )
    assert case_mode(text) == expected


def test_memoised_word_facts_match_the_word_tests(names):
    words = names._w
    for low in ["the", "helen", "will", "small", "quigley", "md's", "i'm", "gu-foley", "zzxq"]:
        before = (names._non_name_word(low), words.is_english(low), words.is_name(low))
        facts = names._facts(low)
        assert (bool(facts & 1), bool(facts & 2), bool(facts & 4)) == before
        assert names._facts(low) == facts  # the memo answers the same the second time
