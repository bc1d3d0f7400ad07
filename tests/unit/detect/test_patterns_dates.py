"""Dates: positives next to near misses (synthetic text only)."""

from __future__ import annotations

import pytest

from pipeline.detect.taxonomy import Category
from tests.support.pattern_tier import found, tier


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Seen 3/4/19 in clinic.", "3/4/19"),
        ("DOB 03/04/2019.", "03/04/2019"),
        ("Admitted 2019-03-04.", "2019-03-04"),
        ("When: 2019-03-04 15:25:53 at home", "2019-03-04 15:25:53"),
        ("Surgery on March 4th.", "March 4th"),
        ("Seen 4 Mar 2019 by cardiology.", "4 Mar 2019"),
        ("Seen Mar. 4, 2019 by cardiology.", "Mar. 4, 2019"),
        ("Visit on the 4th was fine.", "4th"),
        ("Line placed 10/12, still in.", "10/12"),
        ("LINE PLACED ON 7/22 IN OR.", "7/22"),
        ("Fell 14/08/2016 at home.", "14/08/2016"),
        ("Ingreso el 22 de mayo de 2010.", "22 de mayo de 2010"),
        ("Diagnosticado en enero de 2004.", "enero de 2004"),
        ("Mastectomy 11/92, then chemo.", "11/92"),
        ("Symptoms since October 2005.", "October 2005"),
        ("Date 3-25-17 noted.", "3-25-17"),
        ("CXR 4-Mar-2019 clear.", "4-Mar-2019"),
        # A year in date context is flagged recall-first (Safe Harbor keeps years alone).
        ("Born in 1947.", "1947"),
        ("Symptoms since 1971, worse lately.", "1971"),
        ("Operado en 2010 sin incidencias.", "2010"),
        ("During 1999, she moved.", "1999"),
        ("When: 2000-04-16 11:34:35", "2000-04-16 11:34:35"),
        ("Seen April 16th, 2000 in clinic.", "April 16th, 2000"),
        ("Seen 16/04/2000 in clinic.", "16/04/2000"),
        ("Seen Monday, April 16, 2000 in clinic.", "Monday, April 16, 2000"),
        ("Flew home on Tuesday morning.", "Tuesday"),
        ("We'll meet Thursday at the office.", "Thursday"),
        # Each end of a range of dates is a date, even without a cue word.
        ("Ceftaz 8/2 - 8/10, then stopped.", "8/10"),
        ("Dialysis 8/9 or 8/10 per renal.", "8/10"),
    ],
)
def test_date_positive(text: str, value: str) -> None:
    assert value in found(text, Category.DATE)


@pytest.mark.parametrize(
    "text",
    [
        "ABG 119/36/7.47/27/2 on 40%.",  # blood gas chain
        "BP 120/80 and HR 72.",
        "BP 110/7 after bolus.",
        "Given 10/12 mg overnight.",  # dose
        "Start 1/2 NS at 100.",  # fraction
        "Feed at 3/4 strength.",
        "PS 10/5 tolerated well.",  # ventilator settings
        "Strength 5/5 bilaterally.",
        "Pain 8/10 at rest.",
        "Temp 37.5, K 4.1, pH 7.35.",
        "Version 1.2.3 installed.",
        "Meds q4h, x3 doses, 2L NC, 20 mEq KCl.",
        "Checked at 10:30 and 14:45.",  # times alone
        "Counted 1947 cells.",  # a bare four-digit number is not a year without a date word
        "Asleep from 2000 to 2400.",  # clock times after a time word, not years
        "Gave 2000 units of heparin.",
        "On call Monday for the team.",  # a weekday alone is not flagged
        "Crackles 1/3-1/2 up bilaterally.",  # a range of fractions, not of dates
        "Invalid 2/30 and 13/12 values.",
        "Range 4-6/2-4 noted.",
        "CO/CI 4.6/2.45 measured.",
    ],
)
def test_date_negative(text: str) -> None:
    assert found(text, Category.DATE) == set()


def test_month_name_alone_is_weak_but_reported() -> None:
    text = "Moved to rehab in September."
    spans = [s for s in tier().find(text) if s.label is Category.DATE]
    assert [text[s.start : s.end] for s in spans] == ["September"]
    assert spans[0].score < 0.5


def test_may_and_march_alone_are_not_dates() -> None:
    assert found("Pt may march to the bathroom.", Category.DATE) == set()


def test_date_cue_raises_score() -> None:
    cued = [s for s in tier().find("Seen on 10/12.") if s.label is Category.DATE]
    bare = [s for s in tier().find("Noted 10/12.") if s.label is Category.DATE]
    assert cued and bare and cued[0].score > bare[0].score


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # A real month/day is a date by default, wherever it stands in running text.
        ("Vanc stopped.\n9/9 abx restarted.", "9/9"),
        ("Stable since admission. 9/10 lasix held.", "9/10"),
        ("Nausea and chills 3/5 at the nursing home.", "3/5"),
        ("Doing well after extubation 3/8.", "3/8"),
        ("Lantus increased 7/31.", "7/31"),
        ("Creatinine decreased from 3/23 on fluids.", "3/23"),
        ("Cardiomyopathy EF 30% (4/02), on beta blocker.", "4/02"),
        ("Afebrile from 6/16 to 6/20 on cefazolin.", "6/16"),
        # Joined forms: a period before the year, a range of month/days written with slashes.
        ("11/21.93 neuro: alert.", "11/21.93"),
        ("Treatments 10/03/10/04 and due again.", "10/03/10/04"),
        ("Heart failure since March of 1993.", "March of 1993"),
        # A year used as an adjective before a proper word.
        ("Brando is a 1983 Italian drama film.", "1983"),
    ],
)
def test_month_day_defaults_to_date(text: str, value: str) -> None:
    assert value in found(text, Category.DATE)


@pytest.mark.parametrize(
    "text",
    [
        # Scores and grades: pain, strength, named scales, lists of scores.
        "Pt rates pain 9/10 in the back.",
        "c/o 7/10 chest pain.",
        "Severe 10/10 angina at rest.",
        "RUE 4/5, grip 3/5.",
        "Hemiparesis 4/5 on the left.",
        "Apgar 9/10 at five minutes.",
        "Scored 3/10, 4/10 and 8/10 on three days.",
        "Muscle bulk normal (4/5).",
        # Ventilator settings and blood gases.
        "PEEP/PS 5/8 overnight.",
        "SIMV/PS, 500x10, 40%, & 5/8 tolerated.",
        "Plan to change to 5/5 and check ABG after.",
        "PS increased to 10/5 overnight.",
        "Placed on CPAP 5/5 with 40% FiO2.",
        # Fractions, doses, counts.
        "Crackles 1/3 up bilaterally.",
        "Gave 1/2 amp D50.",
        "BC + staph 4/4 bottles.",
        "Diet a 2000 calorie ADA.",
        "Gave the 2000 Lasix dose late.",
        "Imaging on an OCT 3000 unit.",
    ],
)
def test_clinical_scores_and_settings_stay_unflagged(text: str) -> None:
    assert found(text, Category.DATE) == set()
