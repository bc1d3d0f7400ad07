"""Location tier: facilities, places after movement/residence context, and a gazetteer.

Safe Harbor category B covers every geographic subdivision smaller than a state, and this
project treats hospitals and other facilities as locations too. Evidence:

* a facility head word after one to four name words ("Holy Cross Hospital", "Kessler-Adventist
  Hosp", "Lochearn Medical Center", "Hopkins Rehab");
* movement or residence context before a name-like word ("transferred from CALVERT", "to GH",
  "lives in catonsville"), where ward words ("to floor", "from CCU") are stop words;
* a gazetteer of states, countries and large cities, matched capitalised in mixed-case text.

Registered as ``location_context.v1``; runs in both profiles. Street addresses and ZIP codes
belong to the pattern tier.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from pipeline.config import Settings
from pipeline.detect.registry import register
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.detect.wordclass import (
    CaseMode,
    Token,
    WordClasses,
    analyse,
    default_word_classes,
    phrase_list,
    propagate,
    tokenize,
)

NAME = "location_context.v1"

#: Words that end a facility name.
FACILITY_HEADS = frozenset(
    [
        "hospital",
        "hosp",
        "hospitals",
        "clinic",
        "clinics",
        "center",
        "centre",
        "ctr",
        "rehab",
        "rehabilitation",
        "infirmary",
        "hospice",
        "manor",
        "sanitarium",
        "sanatorium",
        "healthcare",
    ]
)
#: Words that need a preceding "medical", "health", "nursing"... to be a facility head.
_HEAD_QUALIFIERS = frozenset(
    ["medical", "health", "nursing", "cancer", "heart", "care", "rehab", "surgical"]
)
_NEEDS_QUALIFIER = frozenset({"center", "centre", "ctr", "home", "healthcare"})
MOVES = frozenset(
    (
        "transferred",
        "transfered",
        "transfer",
        "trans",
        "xfer",
        "xferred",
        "admitted",
        "admit",
        "adm",
        "referred",
        "sent",
        "brought",
        "came",
        "come",
        "coming",
        "went",
        "go",
        "going",
        "returned",
        "discharged",
        "accepted",
        "screened",
        "followed",
        "seen",
        "presented",
        "arrived",
        "received",
        "recieved",
        "taken",
        "flighted",
        "enroute",
        "transported",
        "leave",
        "lives",
        "live",
        "living",
        "flew",
        "fly",
        "moved",
        "grew",
        "based",
        "located",
        "traveled",
        "travelled",
        "resides",
        "reside",
        "moved",
        "born",
        "home",
    )
)
#: Address unit words; the field after "<unit> <number>" is the town.
_UNIT_WORDS = frozenset({"apt", "suite", "unit", "box", "ste"})
_UNIT_RE = re.compile(r"\.? ?#?\d{1,6}[A-Za-z]?(?: {2,}|\s*[,>\n]\s*)")
#: Weak place context: "son from Pikesville", "church in Germantown".
_WEAK = frozenset({"in", "from"})
_MOVE_LINKS = frozenset(["to", "from", "at", "in", "into", "by", "back", "the"])
_OFFSET_GAP = 3

_SCORE_FACILITY, _SCORE_CONTEXT, _SCORE_GAZETTEER, _SCORE_WEAK = 0.85, 0.7, 0.5, 0.45


@cache
def _gazetteer_index() -> dict[str, list[tuple[str, ...]]]:
    """Map a place's first word to the places' word tuples, longest first."""
    index: dict[str, list[tuple[str, ...]]] = {}
    for place in phrase_list("places"):
        words = tuple(t.low for t in tokenize(place))
        if words:
            index.setdefault(words[0], []).append(words)
    for cands in index.values():
        cands.sort(key=len, reverse=True)
    return index


class LocationContextRecognizer:
    """Finds facilities and places by head words, context and gazetteer."""

    name = NAME
    categories = frozenset({Category.GEO})

    def __init__(self, words: WordClasses) -> None:
        self._w = words

    def _placeish(self, tok: Token, mode: CaseMode) -> bool:
        """Could be (part of) a place name: not a stop/clinical word, not lower-case prose."""
        if self._w.is_stop(tok.low) or tok.low in MOVES:
            return False
        if mode is CaseMode.MIXED:
            return tok.text[0].isupper()
        return not self._w.is_english(tok.low)

    def find(self, text: str) -> list[Span]:
        """Return the location spans in ``text``."""
        toks, mode = analyse(text)
        spans: list[Span] = []
        for i, tok in enumerate(toks):
            if tok.low in FACILITY_HEADS:
                span = self._facility(text, toks, i, mode)
                if span is not None:
                    spans.append(span)
            elif tok.low in MOVES:
                span = self._after_move(text, toks, i, mode)
                if span is not None:
                    spans.append(span)
            elif tok.low in _UNIT_WORDS and i + 1 < len(toks):
                span = self._after_unit(text, toks, i)
                if span is not None:
                    spans.append(span)
            elif tok.low in _WEAK and i + 1 < len(toks):
                nxt = toks[i + 1]
                if text[tok.end : nxt.start] == " " and self._unknown_proper(nxt, mode):
                    spans.append(Span(nxt.start, nxt.end, Category.GEO, _SCORE_WEAK, NAME))
            elif tok.low in ("st", "saint") and i + 1 < len(toks):
                # "St. Agnes", "ST. MARY'S", "Saint Joseph": a saint's name is a facility here.
                nxt = toks[i + 1]
                gap = text[tok.end : nxt.start]
                if (gap in (". ", ".") or (tok.low == "saint" and gap == " ")) and (
                    self._w.is_name(nxt.low.removesuffix("'s")) and nxt.text[:1].isupper()
                ):
                    spans.append(Span(tok.start, nxt.end, Category.GEO, _SCORE_CONTEXT, NAME))
        if mode is CaseMode.MIXED:
            spans.extend(self._gazetteer(text, toks))
        spans.extend(
            propagate(
                toks,
                spans,
                self._w,
                score=_SCORE_WEAK,
                recognizer=NAME,
                skip=FACILITY_HEADS | _HEAD_QUALIFIERS,
            )
        )
        return spans

    def _gazetteer(self, text: str, toks: list[Token]) -> list[Span]:
        """Capitalised gazetteer places (multi-word places matched token by token)."""
        index = _gazetteer_index()
        out = []
        for i, tok in enumerate(toks):
            cands = index.get(tok.low)
            if not cands or not tok.text[0].isupper():
                continue
            for words in cands:  # longest first
                end = i + len(words)
                if end > len(toks):
                    continue
                if all(toks[i + k].low == words[k] for k in range(1, len(words))) and all(
                    text[toks[i + k - 1].end : toks[i + k].start] in (" ", ". ")
                    for k in range(1, len(words))
                ):
                    out.append(
                        Span(tok.start, toks[end - 1].end, Category.GEO, _SCORE_GAZETTEER, NAME)
                    )
                    break
        return out

    def _after_unit(self, text: str, toks: list[Token], i: int) -> Span | None:
        """The town after an address unit ("Apt. 123  Qasigiannguit", "Suite 8 > Bashall Town").

        The unit number must be followed by a field separator (a run of spaces, a comma, a
        ``>`` or a newline); the town is the next one to three capitalised words.
        """
        m = _UNIT_RE.match(text, toks[i].end)
        if m is None:
            return None
        j = i + 1
        while j < len(toks) and toks[j].start < m.end():
            j += 1
        if j >= len(toks) or toks[j].start != m.end():
            return None
        start = j
        while (
            j < len(toks)
            and j - start < 3
            and toks[j].text[:1].isupper()
            and not self._w.is_stop(toks[j].low)
            and (j == start or text[toks[j - 1].end : toks[j].start] == " ")
        ):
            j += 1
        if j == start:
            return None
        return Span(toks[start].start, toks[j - 1].end, Category.GEO, _SCORE_CONTEXT, NAME)

    def _unknown_proper(self, tok: Token, mode: CaseMode) -> bool:
        """A word with no everyday or clinical reading that looks like a proper noun."""
        low = tok.low
        if len(low) < 5 or self._w.is_stop(low) or self._w.is_word(low) or self._w.is_name(low):
            return False
        # Without case evidence too many clinical words and misspellings look the same; an
        # ALL-CAPS word in mixed-case text must be long enough not to be an acronym.
        if mode is not CaseMode.MIXED or not tok.text[0].isupper():
            return False
        return not tok.text.isupper() or len(tok.text) >= 5

    def _facility(self, text: str, toks: list[Token], i: int, mode: CaseMode) -> Span | None:
        head = toks[i]
        if head.low in _NEEDS_QUALIFIER and not (i > 0 and toks[i - 1].low in _HEAD_QUALIFIERS):
            return None
        if mode is CaseMode.MIXED and not head.text[0].isupper():
            return None
        start = i
        k = i - 1
        while k >= 0 and i - k <= 5:
            gap = text[toks[k].end : toks[k + 1].start]
            if gap not in (" ", "-", ". ", "'s ") or len(gap) > 3:
                break
            t = toks[k]
            if (
                t.low in _HEAD_QUALIFIERS
                or t.low in ("st", "saint", "of", "memorial", "general")
                or self._placeish(t, mode)
                or (mode is CaseMode.MIXED and t.text[0].isupper())
            ):
                start = k
            else:
                break
            k -= 1
        # A bare head word ("the hospital") or only qualifiers ("medical center") is no name.
        named = [
            t for t in toks[start:i] if t.low not in _HEAD_QUALIFIERS and t.low not in ("of", "st")
        ]
        if not named:
            return None
        return Span(toks[start].start, head.end, Category.GEO, _SCORE_FACILITY, NAME)

    def _after_move(self, text: str, toks: list[Token], i: int, mode: CaseMode) -> Span | None:
        j = i + 1
        linked = False
        while j < len(toks) and toks[j].low in _MOVE_LINKS and j - i <= 3:
            linked = linked or toks[j].low != "the"
            j += 1
        if not linked or j >= len(toks) or toks[j].start - toks[j - 1].end > _OFFSET_GAP:
            return None
        start = j
        while j < len(toks) and j - start < 3 and self._placeish(toks[j], mode):
            if j > start and text[toks[j - 1].end : toks[j].start] not in (" ", "-"):
                break
            j += 1
        if j == start:
            return None
        return Span(toks[start].start, toks[j - 1].end, Category.GEO, _SCORE_CONTEXT, NAME)

    def find_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        """Return the spans of each text."""
        return [self.find(t) for t in texts]


@register(NAME)
def _factory(settings: Settings) -> LocationContextRecognizer:
    del settings  # no settings yet; the signature is the registry's contract
    return LocationContextRecognizer(default_word_classes())
