"""Clinical precision filters: numbers that look like identifiers or dates but are not.

ICU notes are full of slash- and dash-separated numbers: blood pressures (``120/80``), blood
gases (``7.35/45/80``), ventilator settings (``PS 10/5``), doses (``10/12 mg``), fractions
(``1/2 NS``). A month/day date (``10/12``) is PHI, so these filters reject a candidate only on
evidence: a unit after it, a vital-sign or ventilator keyword right before it, being one link
of a longer chain of numbers, or (for grade-like values such as ``4/5`` or ``8/10``) score words
around it (pain, strength, limbs, named scales, ventilation; English and Spanish).
"""

from __future__ import annotations

import re

_UNIT_AFTER = re.compile(
    r"\s{0,2}(?:mg|mcg|ug|ml|cc|l\b|lpm|l/m|meq|mmol|mosm|mmhg|cmh2o|units?\b|u\b|iu|g\b|gm|kg|"
    r"lbs?\b|%|/min|/hr|/h\b|min\b|mins\b|hrs?\b|h\b|nc\b|fio2|mm\b|cm\b|strength|tabs?\b|"
    r"caps?\b|puffs?|drops?|gtts?|bottles?|liters?|sec\b|bpm|breaths|ns\b|normal saline|times\b|"
    r"nitro|ntg|ss\b|sliding|scale|doses?\b|to\s+\d(?!\d?/\d)|peep|cpap|bipap|ps\b|psv|ips\b|"
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
        "cp", "score", "rated", "wean", "weaned", "weaning"
    )
)  # fmt: skip
# Words of change: "PS increased to 10/5" is a setting, "insulin increased 7/31" a date; these
# are read past, and the word before them decides.
_CHANGE_WORDS = frozenset(("increased", "decreased", "titrated", "changed", "dropped", "went"))
_VENT_MODES = frozenset(
    ("ps", "psv", "peep", "cpap", "bipap", "simv", "imv", "ac", "prvc", "pc", "vc", "ipap", "epap")
)
# Filler allowed between the keyword and the number ("BP was 110/70", "PS of 10/5").
_FILLER = frozenset(
    (
        "of", "was", "is", "at", "~", "@", "=", ":", "now", "down", "up", "to", "from", "&"
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
    return vital_in(text[max(0, start - 24) : start].lower())


def vital_in(window: str) -> bool:
    """:func:`vital_precedes` on the lower-cased 24 characters before a candidate."""
    tokens = _TOKEN.findall(window)
    # A percentage right before the number is an FiO2 ("40% 10/5"), but not across an opening
    # parenthesis ("EF 35% (3/02)": the parenthesis starts a new statement).
    paren = window.rfind("(")
    if paren >= 0 and "%" in window[:paren]:
        inside = len(_TOKEN.findall(window, paren))
        cut = len(tokens) - inside
        tokens = [t for t in tokens[:cut] if not t.endswith("%")] + tokens[cut:]
    for token in reversed(tokens[-5:]):
        word = token.strip(".:=")
        if word in _VITAL_WORDS:
            return True
        if word in _FILLER or word in _CHANGE_WORDS:
            continue
        if word.endswith("%"):
            return True
        if "x" in word and _X_SETTING.search(word):
            return True
        if "/" in word and any(part in _VENT_MODES for part in word.split("/")):
            return True  # "PEEP/PS 5/8", "SIMV/PS": combined ventilator modes
        if not word.replace("-", "").isdigit():
            return False
    return False


# Words around a grade-like number ("4/5", "8/10", "5/5") that make it a score or a setting:
# pain and its scales, muscle strength and limbs, visual acuity, named scores (Apgar, Gleason),
# dilutions, ventilator modes; English and Spanish. Read in a short window: substrings first
# (one C-level search each), then whole words.
_SCORE_PARTS = (
    "pain", "c/o", "discomfort", "ache", "h/a", "scale", "score", "strength", "motor", "power",
    "grip", "extrem", "bicep", "tricep", "delt", "quad", "hamstring", "flex", "extens", "dorsi",
    "plantar", "wean", "vent", "peep", "cpap", "bipap", "bpap", "bi-pap", "c-pap", "psv", "simv",
    "mask", "setting", "fio2", "%", "extubat", "trial", "severe", "worst", "intensi", "angina",
    "headache", "apgar", "gleason", "acuity", "vision", "titer", "dilut", "diluci", "dolor",
    "escala", "agudeza", "visual", "pares", "pleg", "puntuaci", "califica", "índice", "indice",
    "fuerza", "balance", "daniels",
)  # fmt: skip
_SCORE_TOKENS = frozenset(
    (
        "cp", "rates", "rated", "rating", "str", "mae", "ue", "le", "rue", "lue", "rle", "lle",
        "bue", "ble", "ues", "les", "rues", "lues", "rles", "lles", "bues", "bles", "arm", "arms",
        "leg", "legs", "hand", "hands", "feet", "foot", "pulse", "pulses", "ps", "imv", "ac",
        "pc", "va", "av", "eva", "grado", "grados", "test"
    )
)  # fmt: skip
_SCORE_TOKEN_PREFIXES = ("push", "pull", "abg")
_WORD_TOKEN = re.compile(r"\w+")
_BY = re.compile(r"\d\s?x\s?\d")  # "600x12": ventilator shorthand
# Another number over the same denominator nearby: a list of scores ("2/10, 3/10 y 7/10").
_SAME_DENOMINATOR = {d: re.compile(rf"\d/{d}(?!\d)") for d in (1, 2, 3, 4, 5, 10)}


def score_context(text: str, start: int, end: int) -> bool:
    """Return whether the words around ``text[start:end]`` make a grade-like number a score.

    ``4/5`` next to "strength", "RUE" or "grip", ``8/10`` next to "pain" or "c/o", ``5/5`` next
    to "PS", "CPAP" or an FiO2 percentage, a score in parentheses ("(4/5)") or in a list of
    scores over the same denominator ("2/10, 3/10"). Reads 32 characters before and 24 after.
    """
    if start > 0 and end < len(text) and text[start - 1] == "(" and text[end] == ")":
        return True
    window = (text[max(0, start - 32) : start] + " " + text[end : end + 24]).lower()
    if any(part in window for part in _SCORE_PARTS):
        return True
    for word in _WORD_TOKEN.findall(window):
        if word in _SCORE_TOKENS or word.startswith(_SCORE_TOKEN_PREFIXES):
            return True
    if _BY.search(window) is not None:
        return True
    same = _SAME_DENOMINATOR.get(int(text[start:end].partition("/")[2]))
    return same is not None and same.search(window) is not None
