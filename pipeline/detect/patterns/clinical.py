"""Clinical precision filters: numbers that look like identifiers or dates but are not.

ICU notes are full of slash- and dash-separated numbers: blood pressures (``120/80``), blood
gases (``7.35/45/80``), ventilator settings (``PS 10/5``), doses (``10/12 mg``), fractions
(``1/2 NS``). A month/day date (``10/12``) is PHI, so these filters reject a candidate only on
evidence: a unit after it, a vital-sign or ventilator keyword right before it, or being one link
of a longer chain of numbers.
"""

from __future__ import annotations

import re

_UNIT_AFTER = re.compile(
    r"\s{0,2}(?:mg|mcg|ug|ml|cc|l\b|lpm|l/m|meq|mmol|mosm|mmhg|cmh2o|units?\b|u\b|iu|g\b|gm|kg|"
    r"lbs?\b|%|/min|/hr|/h\b|min\b|mins\b|hrs?\b|h\b|nc\b|fio2|mm\b|cm\b|strength|tabs?\b|"
    r"caps?\b|puffs?|drops?|gtts?|liters?|sec\b|bpm|breaths|ns\b|normal saline|times\b|"
    r"nitro|ntg|ss\b|sliding|scale|doses?\b|to\s+\d|peep|cpap|bipap|ps\b|psv|ips\b|"
    r"epap|ipap|pressure|support|settings?)"
)
# Vital-sign, ventilator, lab and score words that precede slash-separated numbers.
_VITAL_WORDS = frozenset(
    (
        "bp", "b/p", "nbp", "abp", "sbp", "dbp", "art", "aline", "a-line", "cuff", "ps",
        "psv", "peep", "cpap", "bipap", "ipap", "epap", "simv", "imv", "vent", "settings",
        "setting", "ratio", "i:e", "grade", "strength", "motor", "power", "pupil", "pupils",
        "gcs", "ph", "abg", "vbg", "map", "cvp", "pap", "pcwp", "rr", "hr", "tv", "vt", "sat",
        "sats", "pa", "pad", "cvvh", "cvvhd", "cvvhdf", "murmur", "sbt", "pc", "vc", "prvc",
        "ps/peep", "cpap/ps", "ps/cpap", "psv/cpap", "cpap/psv", "bi-pap", "bs", "fs", "fsbg",
        "glucose", "i/o", "i&o", "in/out", "lytes", "perrla",
        "flowby", "flow-by", "ventilation", "mode", "stv", "svr", "co/ci", "ci", "co", "pain",
        "cp", "score", "rated", "wean", "weaned", "weaning", "increased",
        "decreased", "titrated"
    )
)  # fmt: skip
# Filler allowed between the keyword and the number ("BP was 110/70", "PS of 10/5").
_FILLER = frozenset(
    (
        "of", "was", "is", "at", "~", "@", "=", ":", "now", "down", "up", "to", "from"
    )
)  # fmt: skip
_TOKEN = re.compile(r"[a-z0-9/&:%~@=.+-]+")
_X_SETTING = re.compile(r"\d+x\d*\.?$")  # "600x12x." ventilator shorthand before "7/5"


def in_number_chain(text: str, start: int, end: int) -> bool:
    """Return whether ``text[start:end]`` is one link of a longer number chain.

    ``36/7`` inside ``119/36/7.47/27`` or ``12/5`` inside ``1.12/5``: a separator and a digit
    directly before or after the candidate.
    """
    if start >= 2 and text[start - 1] in "/.:" and text[start - 2].isdigit():
        return True
    if start >= 1 and (text[start - 1].isalnum() or text[start - 1] in "+"):
        return True
    if end + 1 < len(text) and text[end] in "/.:" and text[end + 1].isdigit():
        return True
    return end < len(text) and text[end].isalnum()


def unit_follows(text: str, end: int) -> bool:
    """Return whether a unit or dose word follows ``end`` ("10/12 mg", "1/2 NS", "3/4 strength")."""
    return _UNIT_AFTER.match(text[end : end + 16].lower()) is not None


def vital_precedes(text: str, start: int) -> bool:
    """Return whether a vital-sign, ventilator or lab keyword precedes ``start`` ("BP 110/70").

    Looks at the last few tokens of a 24-character window: set look-ups, no regex search.
    """
    tokens = _TOKEN.findall(text[max(0, start - 24) : start].lower())
    for token in reversed(tokens[-4:]):
        word = token.strip(".:=")
        if word in _VITAL_WORDS or word.endswith("%") or _X_SETTING.search(word):
            return True
        if word not in _FILLER and not word.replace("-", "").isdigit():
            return False
    return False
