"""Phrase cues of the location tier: named facilities, universities, employers, origins.

Some locations carry no facility head word and no gazetteer entry, but a phrase around them
says what they are:

* religious and charitable hospital names, which are names without a head word ("Holy Cross",
  "Sacred Heart Memorial", "Our Lady of Lourdes", "Good Samaritan");
* "University of <place>" ("University of Maryland", "U of MD"; the head words after it,
  "Medical Center", are left out);
* an employer after an employment cue ("works for Acme Corp", "CEO of IBM", "his business
  Zentrix"): an organisation is recorded as a location here, like a facility;
* a place after an origin or residence phrase ("grew up in Porvoo", "originally from X",
  "home city X", "Where: X Country Club", "lives in DC");
* a campus name ("North Campus"), a coastal region ("the Eastern Shore"), a second facility
  after "and" ("X Rehab and Kimbrough"), a postal code after a town ("in Bjert 6091") and a
  bracketed qualifier ("Cyprus (Greek)"): helpers the location tier calls.

A cue phrase is tried only at the tokens that may start one (a set look-up the location tier
makes in the pass it makes anyway); its few matches are read further over a bounded window.
"""

from __future__ import annotations

import re
from bisect import bisect_left

from pipeline.detect.gazetteer import STATE_CODES, gazetteer_index
from pipeline.detect.patterns.clinical import unit_follows
from pipeline.detect.wordclass import CaseMode, Token, WordClasses, token_start

#: Religious and charitable names that name a hospital on their own. ``_STRONG`` ones are
#: hardly ever anything else when capitalised; the others ("Holy Spirit") need place context
#: or a head word after them.
_STRONG = ("sacred heart", "holy cross", "good samaritan", "holy redeemer", "holy name")
_WEAK = ("holy family", "holy spirit", "holy trinity", "good shepherd", "our lady of")
#: Head words that may follow such a name and belong to it ("Sacred Heart Memorial Hospital").
_HEADS = frozenset(
    (
        "memorial", "hospital", "hosp", "medical", "med", "center", "centre", "ctr", "health",
        "healthcare", "rehab", "rehabilitation", "clinic", "regional", "general", "system",
        "campus", "infirmary",
    )
)  # fmt: skip
#: Words that lead into a place name ("to", "at", "from", a move verb is checked separately).
_LEAD_IN = frozenset(("to", "at", "from", "in", "into", "by", "near", "of", "back", "for"))
#: Words allowed inside a multi-word place or organisation name ("Ostrov nad Ohri").
_CONNECTORS = frozenset(
    (
        "de", "del", "la", "las", "los", "do", "da", "dos", "das", "di", "du", "des", "le",
        "von", "van", "der", "den", "nad", "pod", "pri", "na", "u", "v", "y", "&", "and", "of",
        "upon", "on", "am", "an", "im", "sur", "the",
    )
)  # fmt: skip
#: Particles inside a place name that never end it ("Reguengos de Monsaraz", "Vrh nad Idrijo").
NAME_PARTICLES = frozenset(
    (
        "de", "del", "la", "da", "do", "dos", "das", "di", "du", "des", "von", "van", "der",
        "den", "nad", "pod", "pri", "u", "y",
    )
)  # fmt: skip
#: Titles before a person's name: an employer cue followed by one names a person.
_TITLES = frozenset(("dr", "doctor", "mr", "mrs", "ms", "miss", "prof", "professor", "rev"))
#: Venue words that end a place read after "Where:" ("Where: Elmvale Country Club").
_VENUE = frozenset(("country", "club", "hotel", "inn", "restaurant", "cafe", "hall", "golf"))
#: An employer named in lower case is taken only when its first word is rarer than this
#: (Zipf): "works for zentrix health" yes, "works for government" / "works at night" no.
_MAX_ZIPF_LOWER_EMPLOYER = 4.5
#: An ALL-CAPS employer read as an acronym must be rarer than this as a word (Zipf).
_MAX_ZIPF_ACRONYM = 4.2
#: A capitalised stop word rarer than this (Zipf) may be part of a name ("Port", "Mount").
_MAX_ZIPF_CAPITALISED_STOP = 5.5

_CUE_RE = re.compile(
    r"(?:"
    r"(?P<fac>" + "|".join(p.replace(" ", r"\s+") for p in _STRONG + _WEAK) + r")"
    r"|(?P<uni>univ(?:ersity)?|u)\s+of\s+"
    r"|(?P<emp>(?:works?|working|worked)\s+(?:for|at)|employed\s+(?:by|at|with)"
    r"|(?:ceo|cfo|president|owner|founder)\s+of"
    r"|(?:his|her|their|own|family)\s+(?:business|company|employer|firm))\s+"
    r"|(?P<origin>grew\s+up\s+in|raised\s+in|originally\s+from|moved\s+here\s+from"
    r"|home\s+(?:city|town)(?:\s+of)?|hometown(?:\s+of)?|native\s+of|where\s*:)\s*"
    r"|(?P<reside>(?:lives?|living|resides?|residing)\s+in\s+)"
    r"|(?P<region>(?:east|west|north|south)(?:ern)?[ \t](?:shores?|coast|seaboard)\b)"
    r")",
    re.IGNORECASE,
)


#: The first word of every cue phrase: the caller passes the tokens that are one of these
#: (found in the pass it makes anyway), and the regex is tried only there.
FIRST_WORDS = frozenset(
    (
        "sacred", "holy", "good", "our", "univ", "university", "u", "works", "work", "working",
        "worked", "employed", "ceo", "cfo", "president", "owner", "founder", "his", "her",
        "their", "own", "family", "grew", "raised", "originally", "moved", "home", "hometown",
        "native", "where", "lives", "live", "living", "resides", "reside", "residing", "campus",
        "eastern", "western", "northern", "southern", "east", "west", "north", "south",
    )
)  # fmt: skip


def cue_spans(
    text: str,
    toks: list[Token],
    candidates: list[int],
    mode: CaseMode,
    words: WordClasses,
    moves: frozenset[str],
) -> list[tuple[int, int, float]]:
    """Return ``(start, end, score)`` for the locations that a cue phrase points at.

    Args:
        text: the text.
        toks: its tokens.
        candidates: indexes of the tokens whose lower-case form is in :data:`FIRST_WORDS`.
        mode: the text's case mode.
        words: word classes.
        moves: the move verbs of the location tier.
    """
    out: list[tuple[int, int, float]] = []
    for c in candidates:
        if toks[c].low == "campus":
            found = _campus(text, toks, c, mode, words)
            if found is not None:
                out.append(found)
            continue
        m = _CUE_RE.match(text, toks[c].start)
        if m is None:
            continue
        k = bisect_left(toks, m.end(), key=token_start)
        if m.group("fac") is not None:
            found = _facility(text, toks, m, mode, moves)
        elif m.group("uni") is not None:
            found = _university(text, toks, m, k, mode, words)
        elif m.group("emp") is not None:
            found = _employer(text, toks, k, mode, words)
        elif m.group("origin") is not None:
            found = _origin(text, toks, m, k, mode, words)
        elif m.group("region") is not None:
            found = _region(text, toks, c, m)
        else:
            found = _state(text, m.end())
        if found is not None:
            out.append(found)
    return out


def _gap_ok(text: str, a: Token, b: Token) -> bool:
    return text[a.end : b.start] in (" ", "-", "'", "' ")


def _heads_after(text: str, toks: list[Token], j: int) -> int:
    """Index one past the head words that follow ``toks[j - 1]`` ("... Memorial Hospital")."""
    while j < len(toks) and toks[j].low in _HEADS and _gap_ok(text, toks[j - 1], toks[j]):
        j += 1
    return j


def _lead_in(text: str, toks: list[Token], k: int, moves: frozenset[str]) -> bool:
    """A place may start at ``toks[k]``: after "to"/"at"/a move verb, "(", "@" or a line start."""
    if k == 0:
        return True
    gap = text[toks[k - 1].end : toks[k].start]
    if any(c in gap for c in "\n(@:"):
        return True
    prev = toks[k - 1].low
    if prev == "the" and k >= 2:
        prev = toks[k - 2].low
    return prev in _LEAD_IN or prev in moves


def _previous_word(toks: list[Token], k: int) -> str:
    """The word before ``toks[k]``, skipping an article ("to the Holy Family" -> "to")."""
    if k >= 1 and toks[k - 1].low == "the":
        k -= 1
    return toks[k - 1].low if k >= 1 else ""


def _facility(
    text: str, toks: list[Token], m: re.Match[str], mode: CaseMode, moves: frozenset[str]
) -> tuple[int, int, float] | None:
    """A religious or charitable hospital name, with the head words that follow it."""
    first = bisect_left(toks, m.start(), key=token_start)
    last = bisect_left(toks, m.end(), key=token_start)  # one past the phrase's last word
    if first >= len(toks) or toks[first].start != m.start():
        return None
    phrase = " ".join(t.low for t in toks[first:last])
    if phrase == "our lady of":
        # "Our Lady of Lourdes": one or two capitalised words complete the name.
        j = last
        while j < len(toks) and j - last < 2 and toks[j].text[:1].isupper():
            j += 1
        if j == last or not toks[first].text[:1].isupper():
            return None
        last = j
    end = _heads_after(text, toks, last)
    headed = end > last
    context = _lead_in(text, toks, first, moves)
    titled = all(t.text[:1].isupper() for t in toks[first:last] if t.low != "of")
    if phrase in _STRONG:
        ok = context or headed or (titled and mode is CaseMode.MIXED) or mode is not CaseMode.MIXED
    else:
        # "went to Holy Family", not "prays to the Holy Spirit": a move verb, or a head word.
        prev = _previous_word(toks, first)
        before = first - (2 if first >= 2 and toks[first - 1].low == "the" else 1)
        moved = prev in moves or (
            prev in ("to", "at", "from") and before >= 1 and toks[before - 1].low in moves
        )
        ok = (moved or headed) and (titled or mode is not CaseMode.MIXED)
    if not ok:
        return None
    return toks[first].start, toks[end - 1].end, 0.8


def _name_run(
    text: str, toks: list[Token], k: int, mode: CaseMode, words: WordClasses, limit: int
) -> int:
    """Index one past a run of up to ``limit`` name words starting at ``toks[k]``.

    In mixed-case text a name word is capitalised; otherwise it is a word with no everyday
    reading, or one cased against the text ("Towson" in lower-case notes). Connectors ("de",
    "nad") may join name words but never end the run.
    """
    j = k
    end = k
    while j < len(toks) and j - k < limit + 2:
        t = toks[j]
        if j > k and not _gap_ok(text, toks[j - 1], t):
            break
        if j > k and t.low in _CONNECTORS:
            j += 1
            continue
        if not _name_word(t, mode, words):
            break
        j += 1
        end = j
        if end - k >= limit:
            break
    return end


def _name_word(t: Token, mode: CaseMode, words: WordClasses) -> bool:
    if words.is_stop(t.low) and not t.text[:1].isupper():
        return False
    if mode is CaseMode.MIXED:
        # Capitalised: a clinical stop word may still be a place word ("Port", "Mount"), a
        # function word ("The", "I") may not.
        return t.text[:1].isupper() and (
            not words.is_stop(t.low) or words.zipf.get(t.low, 0.0) < _MAX_ZIPF_CAPITALISED_STOP
        )
    if mode is CaseMode.LOWER and t.text[:1].isupper():
        return True
    if mode is CaseMode.UPPER and t.text[:1].isupper() and not t.text.isupper():
        return True
    return not words.is_stop(t.low) and not words.is_english(t.low)


def _university(
    text: str, toks: list[Token], m: re.Match[str], k: int, mode: CaseMode, words: WordClasses
) -> tuple[int, int, float] | None:
    """A university named by a place: "University of Maryland", "U of MD"."""
    if k >= len(toks) or toks[k].start != m.end():
        return None
    short = m.group("uni").lower() != "university"
    if not m.group("uni")[0].isupper() and mode is CaseMode.MIXED:
        return None
    place = _gazetteer_place(text, toks, k)
    if toks[k].text in STATE_CODES:
        j = k + 1
    elif place > k:
        j = place  # "University of Maryland", "UNIVERSITY OF NEW MEXICO"
    elif short:
        return None  # "U of X" / "Univ of X": only a state or a gazetteer place will do
    else:
        j = _name_run(text, toks, k, mode, words, 3)
        if j == k:
            return None
    # The head words after it ("Medical Center") are left to the facility rule.
    return m.start(), toks[j - 1].end, 0.75


def _gazetteer_place(text: str, toks: list[Token], k: int) -> int:
    """Index one past the longest gazetteer place starting at ``toks[k]`` (``k`` if none)."""
    for place in gazetteer_index().get(toks[k].low, ()):  # longest first
        n = len(place.words)
        if k + n <= len(toks) and all(
            toks[k + m].low == place.words[m]
            and (m == 0 or _gap_ok(text, toks[k + m - 1], toks[k + m]))
            for m in range(n)
        ):
            return k + n
    return k


def _employer(
    text: str, toks: list[Token], k: int, mode: CaseMode, words: WordClasses
) -> tuple[int, int, float] | None:
    """An employer after an employment cue: capitalised words, or a rare lower-case phrase."""
    if k >= len(toks) or toks[k].low in _TITLES:
        return None  # "works for Dr. Lee": a person, the name tier's
    first = toks[k]
    if mode is CaseMode.MIXED and first.text[:1].isupper():
        j = _name_run(text, toks, k, mode, words, 4)
    elif mode is CaseMode.UPPER and first.text.isupper():
        # Words with no everyday reading; or a short, rare word closing the clause, read as
        # an acronym ("CEO OF IBM."), but not "WORKS AT NIGHT", "WORKS FOR THE STATE".
        j = _name_run(text, toks, k, mode, words, 3)
        if (
            j == k
            and len(first.text) <= 4
            and not words.is_stop(first.low)
            and words.zipf.get(first.low, 0.0) < _MAX_ZIPF_ACRONYM
            and text[first.end : first.end + 1] in (".", ",", ";", "\n", "")
        ):
            j = k + 1
    else:
        if words.is_stop(first.low) or words.zipf.get(first.low, 0.0) >= _MAX_ZIPF_LOWER_EMPLOYER:
            return None
        j = k + 1
        while j < len(toks) and j - k < 3 and _gap_ok(text, toks[j - 1], toks[j]):
            if words.is_stop(toks[j].low):
                return None
            j += 1
        # The phrase must end its clause: "works for zentrix health." / "... health, lives".
        after = text[toks[j - 1].end : toks[j - 1].end + 2]
        if after[:1] not in (".", ",", ";", "\n", ")", "") and after != "  ":
            return None
    if j == k:
        return None
    return first.start, toks[j - 1].end, 0.6


def _origin(
    text: str, toks: list[Token], m: re.Match[str], k: int, mode: CaseMode, words: WordClasses
) -> tuple[int, int, float] | None:
    """A place after an origin phrase ("grew up in Porvoo", "Where: Elmvale Country Club")."""
    if k >= len(toks) or toks[k].start - m.end() > 1:
        return None
    j = _name_run(text, toks, k, mode, words, 4)
    if m.group("origin").lower().startswith("where"):
        while j > k and toks[j - 1].low in _VENUE:
            j -= 1
    while j > k and toks[j - 1].low in _CONNECTORS:
        j -= 1
    if j == k:
        return None
    return toks[k].start, qualifier_after(text, toks[j - 1].end), 0.65


_QUALIFIER = re.compile(r" \([^\W\d_][^\W\d_ ]{0,20}\)")


def qualifier_after(text: str, end: int) -> int:
    """Extend a place over a one-word qualifier in brackets ("Unionville (Orange)")."""
    found = _QUALIFIER.match(text, end, min(len(text), end + 24))
    return end if found is None else found.end()


_STATE_RE = re.compile(r"D\.C\.|[A-Z]{2}(?!\w)")
#: State codes that are also everyday or clinical words ("lives in OR"? read as a word).
_AMBIGUOUS_STATES = frozenset(("OR", "IN", "ME", "OK", "HI"))


def _state(text: str, pos: int) -> tuple[int, int, float] | None:
    """A state's postal code after "lives in" ("lives in DC", "resides in MD")."""
    found = _STATE_RE.match(text, pos)
    if found is None:
        return None
    code = found.group().replace(".", "")
    if code not in STATE_CODES or code in _AMBIGUOUS_STATES:
        return None
    return found.start(), found.end(), 0.6


_POSTAL_AFTER = re.compile(r" (\d{4,5}|\d{3}-\d{4}|\d{4}-\d{3}|\d{3} \d{2})(?![\w/:.,-]\w|[\w/:-])")
_YEAR = re.compile(r"(?:19|20)\d\d")


def postal_after(text: str, end: int) -> int:
    """Extend a place ending at ``end`` over a postal code after it ("in Bjert 6091").

    A year ("moved to Bjert 2019") or a quantity ("1000 ml") is not taken, nor a number after
    an acronym ("into PSVT 1300"), which is more often a reading than a town.
    """
    word = text[max(0, end - 6) : end].split()
    if word and word[-1].isupper() and len(word[-1]) <= 5:
        return end
    found = _POSTAL_AFTER.match(text, end, min(len(text), end + 12))
    if found is None or _YEAR.fullmatch(found.group(1)) or unit_follows(text, found.end()):
        return end
    return found.end()


def _campus(
    text: str, toks: list[Token], c: int, mode: CaseMode, words: WordClasses
) -> tuple[int, int, float] | None:
    """The name before "campus" ("on North Campus", "from er mazur campus"), not "main campus".

    Only the name is taken: "Campus" is the head word, not part of what identifies the place.
    """
    if c == 0 or text[toks[c - 1].end : toks[c].start] != " ":
        return None
    prev = toks[c - 1]
    if words.is_stop(prev.low) or prev.low in _GENERIC_CAMPUS:
        return None
    titled = mode is CaseMode.MIXED and prev.text[:1].isupper() and toks[c].text[:1].isupper()
    if not (titled or (not words.is_english(prev.low) and len(prev.low) >= 4)):
        return None
    return prev.start, prev.end, 0.6


#: Words before "campus" that describe rather than name it.
_GENERIC_CAMPUS = frozenset(("main", "same", "other", "this", "that", "our", "hospital", "the"))


def coordinated(
    text: str, toks: list[Token], end: int, words: WordClasses
) -> tuple[int, int] | None:
    """A second facility named after one ending at ``end`` ("X Rehab and Kimbrough.").

    The second name is one word with no everyday or clinical reading, closing the clause.
    """
    k = bisect_left(toks, end, key=token_start)
    if k + 1 >= len(toks) or toks[k].low not in ("and", "or"):
        return None
    if text[end : toks[k].start] != " " or text[toks[k].end : toks[k + 1].start] != " ":
        return None
    nxt = toks[k + 1]
    if len(nxt.low) < 4 or words.is_stop(nxt.low) or words.is_english(nxt.low):
        return None
    if text[nxt.end : nxt.end + 1] not in (".", ",", ";", "\n", ")", ""):
        return None
    return nxt.start, nxt.end


def _region(
    text: str, toks: list[Token], c: int, m: re.Match[str]
) -> tuple[int, int, float] | None:
    """A region named by a direction and a coast ("from the Eastern Shore", "THE WEST COAST").

    Capitalised, after "the": "the east coast of the wound" in lower case is prose.
    """
    if c == 0 or toks[c - 1].low != "the" or not m.group()[:1].isupper():
        return None
    second = m.group().split()[-1]
    if not second[:1].isupper():
        return None
    return m.start(), m.end(), 0.6
