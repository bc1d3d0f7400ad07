"""Context cues for the name tier: titles, relations, roles, verbs, credentials, sign-offs.

Kept apart from :mod:`pipeline.detect.names` so the recognizer module stays readable; every set
is lower-case and matched against a token's lower-cased form.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from pipeline.detect.wordclass import Token

TITLES = frozenset(
    [
        "dr",
        "doctor",
        "drs",
        "mr",
        "mrs",
        "ms",
        "miss",
        "mister",
        "mrs",
        "prof",
        "professor",
        "rev",
        "sister",
        "attending",
    ]
)
RELATIONS = frozenset(
    [
        "kid",
        "kids",
        "child",
        "grandchild",
        "wife",
        "husband",
        "daughter",
        "son",
        "mother",
        "father",
        "sister",
        "brother",
        "dtr",
        "dau",
        "niece",
        "nephew",
        "aunt",
        "uncle",
        "grandson",
        "granddaughter",
        "grandmother",
        "grandfather",
        "granddtr",
        "fiance",
        "fiancee",
        "girlfriend",
        "boyfriend",
        "spouse",
        "partner",
        "friend",
        "neighbor",
        "neighbour",
        "cousin",
        "guardian",
        "proxy",
        "hcp",
        "stepdaughter",
        "stepson",
        "stepmother",
        "stepfather",
        "caseworker",
        "daughters",
        "sons",
        "sisters",
        "brothers",
        "mom",
        "dad",
        # Carers named like kin in social-work notes ("CAREGIVER, BARBARA").
        "caregiver",
        "caretaker",
        "stepsister",
        "stepbrother",
        "goddaughter",
        "godson",
    ]
)
#: Roles written before a name ("NP grace", "HO Schwarz", "RN (Edward)", "IV nurse Virginia").
ROLES = frozenset(
    [
        "rn",
        "np",
        "pa",
        "md",
        "ho",
        "nurse",
        "resident",
        "intern",
        "fellow",
        "surgeon",
        "physician",
        "physicians",
        "rabbi",
        "chaplain",
        "caseworker",
        "cm",
        "sw",
        "pcp",
        "attending",
        "cardiologist",
        "docter",
        "doc",
    ]
)
#: Verbs written right after a name ("E. Mason aware", "Clifford notified").
AFTER_WORDS = frozenset(["aware", "notified", "paged"])
#: Weaker verbs after a name ("J Kowalczyk ordered", "Helen called"): lexicon names only.
AFTER_WEAK = frozenset(
    ["ordered", "called", "stated", "states", "informed", "updated", "requested", "agreed", "wrote"]
)
VERBS = frozenset(
    [
        "spoke",
        "talked",
        "met",
        "discussed",
        "called",
        "paged",
        "per",
        "seen",
        "evaluated",
        "examined",
        "notified",
        "informed",
        "updated",
        "contacted",
        "visited",
        "name",
        "named",
        "said",
        "told",
        "asked",
        "call",
        "calls",
        "starring",
        "says",
        "i'm",
        "i\u2019m",
        "talk",
        "talking",
        "speak",
        "speaking",
        "spoken",
        "discuss",
        "discussing",
        "update",
        "updating",
        "notify",
        "page",
        "paging",
        "contact",
        "contacting",
        "meet",
        "meeting",
        "phoned",
        "consult",
        "consulted",
    ]
)
#: Verbs that name a person only through a link word ("talk with X", not "discuss plan").
LINKED_VERBS = frozenset(
    [
        "talk",
        "talking",
        "speak",
        "speaking",
        "spoken",
        "discuss",
        "discussing",
        "meet",
        "meeting",
        "contact",
        "contacting",
        "consult",
        "consulted",
    ]
)
#: Words allowed between a trigger and the name ("spoke with", "seen by", "wife, Carol").
LINKS = frozenset(["with", "w", "to", "by", "named", "is", "and", "of", "me"])
CREDENTIALS = frozenset(
    [
        "rn",
        "md",
        "np",
        "pa",
        "phd",
        "cna",
        "lpn",
        "rrt",
        "msw",
        "lcsw",
        "pharmd",
        "crnp",
        "dpm",
        "aprn",
        # Therapist and social-work credentials signed after a name ("B. Foley CRT").
        "crt",
        "licsw",
        "lmsw",
        "ccc",
        "otr",
        "dpt",
        "fnp",
        "cnm",
    ]
)
#: Possessive or plural spellings of a title ("DR'S CAMARDA AND CLIFFORD").
TITLE_FORMS = {"dr's": "dr", "dr\u2019s": "dr"}
#: A family word after a surname ("KEEP ROMERO FAMILY AWARE").
FAMILY_WORDS = frozenset(["family", "families"])
#: Greetings that open a sentence before a name ("Hi Marten", "Dear Ms. Olsen").
GREETINGS = frozenset(["hi", "hello", "hey", "dear", "thanks", "thank", "bye", "goodbye"])


def name_end(tok: Token) -> int:
    """The end of a name token without its possessive ("Smith's" -> "Smith")."""
    if len(tok.text) > 3 and tok.low.endswith(("'s", "\u2019s")):
        return tok.end - 2
    return tok.end


#: A piece of a line between newlines / runs of 3+ blanks (linear: the lookahead is bounded).
#: Same matches as ``(?:(?![ \t]{3,})[^\n])+`` (a blank counts unless two more follow it),
#: written so that runs of non-blanks need no look-ahead per character.
_SEGMENT_RE = re.compile(r"(?:[^\n \t]+|[ \t]{1,2}(?![ \t]))+")
_MAX_SIGNOFF_CHARS = 60


def segments(text: str) -> list[tuple[int, int]]:
    """Return (start, end) of the short stripped pieces of ``text`` (signature candidates)."""
    out = []
    pos = 0
    # Pieces never cross a newline, so each line is matched on its own; a long line without
    # a run of 3 blanks is one piece, too long to keep: skipped without running the regex
    # (most of the text of a prompt). The matches of the other lines are exactly those of
    # the whole text: at a line's end the look-ahead sees "\n" there, the end here.
    for line in text.split("\n"):
        end = pos + len(line)
        if len(line) > _MAX_SIGNOFF_CHARS + 6 and "   " not in line and "\t" not in line:
            pos = end + 1
            continue
        for m in _SEGMENT_RE.finditer(text, pos, end):
            a, b = m.span()
            if b - a > _MAX_SIGNOFF_CHARS + 6:
                continue
            while a < b and text[a].isspace():
                a += 1
            while b > a and text[b - 1].isspace():
                b -= 1
            if 0 < b - a <= _MAX_SIGNOFF_CHARS:
                out.append((a, b))
        pos = end + 1
    return out


def between(text: str, seg: list[Token], a: int, b: int) -> str:
    """Return what separates the tokens of ``seg`` inside ``text[a:b]``."""
    out = [text[a : seg[0].start]]
    for left, right in itertools.pairwise(seg):
        out.append(text[left.end : right.start])
    out.append(text[seg[-1].end : b])
    return "".join(out)


def sentence_start(text: str, tok: Token) -> bool:
    """Return True when ``tok`` opens a sentence or a line (its capital proves nothing)."""
    before = text[max(0, tok.start - 3) : tok.start].rstrip(" \t")
    return not before or before[-1] in ".!?:\n"


def split_glued(
    toks: list[Token], is_function: Callable[[str], bool], is_stop: Callable[[str], bool]
) -> list[Token]:
    """Split hyphen-glued words with a function-word part or a final letter ("Tom-who").

    ("son-in-law" stays whole.)

    Notes glue words with hyphens instead of spaces; a hyphenated token whose parts are a
    name and a function word is two words, not one stop word. A token made only of stop
    words stays whole.
    """
    hyphenated = [k for k, t in enumerate(toks) if "-" in t.low]
    if not hyphenated:
        return toks
    out: list[Token] = []
    done = 0  # toks[:done] are in out
    for k in hyphenated:
        t = toks[k]
        parts = t.low.split("-")
        # A single letter at the end is an initial glued on ("GIVEN CARAFATE-W. MAROTTA").
        if not (any(is_function(p) for p in parts) or len(parts[-1]) == 1):
            continue
        if all(is_function(p) or is_stop(p) for p in parts):
            continue
        out.extend(toks[done:k])
        done = k + 1
        pos = t.start
        for p in parts:
            if p:
                off = pos - t.start
                out.append(Token(pos, pos + len(p), t.text[off : off + len(p)], p))
            pos += len(p) + 1
    if not done:
        return toks  # nothing split: the list as it came
    out.extend(toks[done:])
    return out


#: A sentence end, then the first letter of the next sentence.
_START_LOWER_RE = re.compile(r"[.!?]\s+[a-z]")
_START_UPPER_RE = re.compile(r"[.!?]\s+[A-Z]")


def lower_sentence_starts(text: str) -> bool:
    """Return True when most sentences of ``text`` start in lower case (an all-lower writer).

    Then a capitalised word is evidence of a proper noun; in prose that capitalises its
    sentences (however few capitals it has otherwise) it is not.
    """
    lower = len(_START_LOWER_RE.findall(text))
    return lower > len(_START_UPPER_RE.findall(text))
