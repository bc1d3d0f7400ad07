"""Location tier: facilities, places after movement/residence context, and a gazetteer.

Safe Harbor category B covers every geographic subdivision smaller than a state, and this
project treats hospitals and other facilities as locations too. Evidence:

* a facility head word after one to four name words ("Good Hope Hospital", "Kessler-Adventist
  Hosp", "Lochearn Medical Center", "Hopkins Rehab");
* movement or residence context before a name-like word ("transferred from CALVERT", "to GH",
  "lives in catonsville"), where ward words ("to floor", "from CCU") are stop words;
* a gazetteer of states, countries and large cities, matched capitalised in mixed-case text
  (or cased against the text: "Towson" in lower-case notes);
* cue phrases (:mod:`pipeline.detect.place_cues`): religious hospital names ("Holy Cross"),
  "University of <place>", employers ("works for ..."), origins ("grew up in ..."), campuses.

Registered as ``location_context.v1``; runs in both profiles. Street addresses and ZIP codes
belong to the pattern tier.
"""

from __future__ import annotations

import re
import string
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from pipeline.config import Settings
from pipeline.detect.gazetteer import find_places
from pipeline.detect.patterns.clinical import unit_follows
from pipeline.detect.place_cues import FIRST_WORDS as CUE_FIRST_WORDS
from pipeline.detect.place_cues import (
    NAME_PARTICLES,
    coordinated,
    cue_spans,
    postal_after,
    qualifier_after,
)
from pipeline.detect.registry import register
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.detect.wordclass import (
    CaseMode,
    Token,
    WordClasses,
    analyse,
    default_word_classes,
    propagate,
    token_start,
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
        "memorial",
        "regional",
    ]
)
#: Heads that name a facility only after a proper name ("Elmwick Memorial", not "memorial").
_NAMED_HEADS = frozenset({"memorial", "regional"})
#: Generic words before a facility head that make it a description, not a name
#: ("outside hospital", "acute rehab", "their hospital"): they stop the walk back.
_GENERIC = frozenset(
    [
        "outside", "local", "another", "other", "previous", "prior", "prev", "same", "different",
        "nearest", "nearby", "closest", "referring", "outlying", "community", "private", "acute",
        "subacute", "inpatient", "outpatient", "cardiac", "pulmonary", "physical", "psychiatric",
        "psych", "long", "term", "transitional", "skilled", "assisted", "living", "veterans", "va",
        "vamc", "teaching", "tertiary", "rural", "area", "his", "her", "their", "our", "this",
        "that", "new", "old", "current", "home", "day", "dialysis", "any", "each", "every",
        "which", "whose", "first", "second", "possible", "potential", "planned", "future",
        "eventual", "short", "rehabilitation", "hospital", "hosp", "clinic", "center", "nursing",
    ]
)  # fmt: skip
#: Wards after a facility acronym ("XYMC ER", "XYH TCU").
_WARD_AFTER = frozenset({"er", "ed", "ew", "icu", "tcu", "ccu", "micu", "sicu", "cath", "campus"})
_ACRONYM_RE = re.compile(r"[A-Z]{1,4}(?:H|MC)")
#: A ward or unit named by a proper word and a floor number ("Gerstley 6", "Ostrander3").
_WARD_RE = re.compile(
    r"(?<![\w-])((?:[A-Z][a-z]{3,}|[A-Z]{4,}|[a-z]{4,})) ?(\d{1,2})(?![\w:/%-]|\.\d)"
)
#: Every ward match has an ASCII letter (and maybe a space) right before its floor number, a
#: run of digits: scanning for digit runs finds the few places where ``_WARD_RE`` can match.
_DIGITS_RE = re.compile(r"\d+")
_ASCII_LETTERS = frozenset(string.ascii_letters)
#: A lower-case word after a floor number: the sentence goes on ("to transfuse 2 more").
_PROSE_AFTER = re.compile(r" {1,2}[a-z]")
_WARD_CONTEXT = frozenset({"to", "on", "from", "at", "in", "back", "onto"})
#: Words that need a preceding "medical", "health", "nursing"... to be a facility head.
_HEAD_QUALIFIERS = frozenset(
    ["medical", "health", "nursing", "cancer", "heart", "care", "rehab", "surgical"]
)
_NEEDS_QUALIFIER = frozenset({"center", "centre", "ctr", "home", "healthcare"})
MOVES = frozenset(
    (
        "transferred", "transfered", "transfer", "trans", "xfer", "xferred", "admitted", "admit",
        "adm", "referred", "sent", "brought", "came", "come", "coming", "went", "go", "going",
        "returned", "discharged", "accepted", "screened", "followed", "seen", "presented",
        "arrived", "received", "recieved", "taken", "flighted", "enroute", "transported", "leave",
        "lives", "live", "living", "flew", "fly", "moved", "grew", "based", "located", "traveled",
        "travelled", "resides", "reside", "moved", "born", "home",
    )
)  # fmt: skip
#: Words before a ward that make it one (built once, not per candidate).
_WARD_CUES = _WARD_CONTEXT | MOVES
#: Address unit words; the field after "<unit> <number>" is the town.
_UNIT_WORDS = frozenset({"apt", "suite", "unit", "box", "ste"})
_UNIT_RE = re.compile(r"\.? ?#?\d{1,6}[A-Za-z]?(?: {2,}|\s*[,>\n]\s*)")
#: Weak place context: "son from Pikesville", "church in Germantown".
_WEAK = frozenset({"in", "from"})
_MOVE_LINKS = frozenset(["to", "from", "at", "in", "into", "by", "back", "the"])
_OFFSET_GAP = 3

_SCORE_FACILITY, _SCORE_CONTEXT, _SCORE_GAZETTEER, _SCORE_WEAK = 0.85, 0.7, 0.5, 0.45
_BOUNDARY = frozenset(["in", "from", "to", "near", "at", "by", "into", "for", "with", "of"])

#: The cue groups :meth:`LocationContextRecognizer.find` tests each token against, as one
#: look-up: word -> its first group in the order tested (a word in two groups keeps the first).
_FACILITY, _MOVE, _UNIT, _WEAK_CUE, _SAINT, _PHRASE = range(6)


def _cue_index(groups: tuple[frozenset[str], ...]) -> dict[str, int]:
    index: dict[str, int] = {}
    for kind, group in enumerate(groups):
        for word in group:
            index.setdefault(word, kind)
    return index


_CUES = _cue_index(
    (FACILITY_HEADS, MOVES, _UNIT_WORDS, _WEAK, frozenset({"st", "saint"}), CUE_FIRST_WORDS)
)


def _ward_matches(text: str) -> Iterator[re.Match[str]]:
    """Yield the matches of ``_WARD_RE.finditer(text)``, trying the regex only where it can match.

    A match starts a run of ASCII letters (its look-behind rules out a letter before it) whose
    last letter a floor number (a run of digits) follows, maybe after a space; the regex is
    tried at the start of that run only. Runs are disjoint and come in order, so the matches,
    and their order, are those of ``finditer`` (which spends most of its time failing at other
    words).
    """
    last_end = 0
    for digits in _DIGITS_RE.finditer(text):
        start = digits.start() - 1
        if start > 0 and text[start] == " ":
            start -= 1
        if start < 0 or text[start] not in _ASCII_LETTERS:
            continue
        while start > 0 and text[start - 1] in _ASCII_LETTERS:
            start -= 1
        if start < last_end:
            continue  # inside the previous match, which finditer would not look at again
        m = _WARD_RE.match(text, start)  # the look-behind still sees text[start - 1]
        if m is not None:
            last_end = m.end()
            yield m


def _with_end(span: Span, end: int) -> Span:
    """Return ``span`` ending at ``end`` (itself when the end is unchanged: spans are values)."""
    if end == span.end:
        return span
    return Span(span.start, end, span.label, span.score, span.recognizer)


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
        cues = _CUES
        phrase_starts: list[int] = []
        # Only the cue words (a few per text), found in one pass at C speed.
        for i in [k for k, t in enumerate(toks) if t.low in cues]:
            tok = toks[i]
            if tok.low in CUE_FIRST_WORDS:
                phrase_starts.append(i)  # may start a cue phrase too ("lives in DC")
            kind = cues[tok.low]
            if kind == _FACILITY:
                span = self._facility(text, toks, i, mode)
                if span is not None:
                    spans.append(span)
                    other = coordinated(text, toks, span.end, self._w)
                    if other is not None:
                        spans.append(Span(*other, Category.GEO, _SCORE_WEAK, NAME))
            elif kind == _MOVE:
                span = self._after_move(text, toks, i, mode)
                if span is not None:
                    spans.append(span)
            elif kind == _UNIT and i + 1 < len(toks):
                span = self._after_unit(text, toks, i)
                if span is not None:
                    spans.append(span)
            elif kind == _WEAK_CUE and i + 1 < len(toks):
                nxt = toks[i + 1]
                if text[tok.end : nxt.start] == " " and self._unknown_proper(nxt, mode):
                    spans.append(Span(nxt.start, nxt.end, Category.GEO, _SCORE_WEAK, NAME))
            elif kind == _SAINT and i + 1 < len(toks):
                # "St. Agnes", "ST. MARY'S", "Saint Joseph": a saint's name is a facility here.
                nxt = toks[i + 1]
                gap = text[tok.end : nxt.start]
                if (gap in (". ", ".") or (tok.low == "saint" and gap == " ")) and (
                    self._w.is_name(nxt.low.removesuffix("'s")) and nxt.text[:1].isupper()
                ):
                    spans.append(Span(tok.start, nxt.end, Category.GEO, _SCORE_CONTEXT, NAME))
        spans.extend(
            Span(a, b, Category.GEO, score, NAME)
            for a, b, score in cue_spans(text, toks, phrase_starts, mode, self._w, MOVES)
        )
        spans.extend(self._gazetteer(text, toks, mode))
        if mode is CaseMode.MIXED and spans:
            # A postal code written after a town ("in Bjert 6091"); facilities have none.
            spans = [
                s if s.score >= _SCORE_FACILITY else _with_end(s, postal_after(text, s.end))
                for s in spans
            ]
        spans.extend(self._acronyms(text, toks))
        spans.extend(self._wards(text, toks, mode))
        spans.extend(self._phrases(toks, spans))
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

    def _gazetteer(self, text: str, toks: list[Token], mode: CaseMode) -> list[Span]:
        """Gazetteer places (see :mod:`pipeline.detect.gazetteer` for the evidence needed)."""
        return [
            Span(
                toks[a].start,
                qualifier_after(text, toks[b - 1].end),  # "Cyprus (Greek)"
                Category.GEO,
                _SCORE_GAZETTEER,
                NAME,
            )
            for a, b in find_places(text, toks, mode, self._w, MOVES)
        ]

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

    def _boundary(self, text: str, toks: list[Token], k: int) -> bool:
        """A facility name may start at ``toks[k]``: after a preposition, a move, a line start."""
        if k == 0:
            return True
        prev = toks[k - 1]
        gap = text[prev.end : toks[k].start]
        if any(c in gap for c in "\n|:;(@"):
            return True
        if prev.low in _BOUNDARY or prev.low in MOVES:
            return True
        if prev.low == "the" and k >= 2:
            return toks[k - 2].low in _BOUNDARY or toks[k - 2].low in MOVES
        return False

    def _facility(self, text: str, toks: list[Token], i: int, mode: CaseMode) -> Span | None:
        """A facility: one to five name words before a head word ("Elmwick Memorial Hospital").

        Proper-looking words (capitalised in mixed case, not everyday words otherwise) always
        count; everyday words ("Good Hope", "mercy vale") count when the name starts right
        after a preposition, a move verb or a line start, and is not a generic description
        ("outside hospital").
        """
        head = toks[i]
        if head.low in _NEEDS_QUALIFIER and not (i > 0 and toks[i - 1].low in _HEAD_QUALIFIERS):
            return None
        lower_head = mode is CaseMode.MIXED and not head.text[0].isupper()
        strict = i
        loose = i
        k = i - 1
        strict_open = True
        while k >= 0 and i - k <= 5:
            gap = text[toks[k].end : toks[k + 1].start]
            if gap not in (" ", "-", ". ", "'s ") or len(gap) > 3:
                break
            t = toks[k]
            proper = (
                t.low in _HEAD_QUALIFIERS
                or t.low in ("st", "saint", "of", "memorial", "general")
                or self._placeish(t, mode)
            ) and not lower_head
            if proper and strict_open:
                strict = k
            else:
                strict_open = False
            if (
                proper
                or (
                    not self._w.is_stop(t.low)
                    and t.low not in _GENERIC
                    and t.low not in MOVES
                    and (t.low not in _HEAD_QUALIFIERS or k < i - 1)
                )
                or t.low in _HEAD_QUALIFIERS
                or t.low in ("st", "of")
            ):
                loose = k
            else:
                break
            k -= 1
        start = strict
        if loose < strict and self._boundary(text, toks, loose):
            start = loose
        elif lower_head:
            return None
        # A bare head word ("the hospital") or only qualifiers ("medical center") is no name.
        named = [
            t for t in toks[start:i] if t.low not in _HEAD_QUALIFIERS and t.low not in ("of", "st")
        ]
        if not named:
            return None
        if head.low in _NAMED_HEADS and (
            len(named) != i - start or any(t.low in _GENERIC for t in named)
        ):
            return None
        return Span(toks[start].start, head.end, Category.GEO, _SCORE_FACILITY, NAME)

    def _acronyms(self, text: str, toks: list[Token]) -> list[Span]:
        """Facility acronyms ("XYMC", "XYH"): capitals ending in H or MC, in place context.

        Found once in a document, every other mention of the same acronym counts too.
        """
        found: set[str] = set()
        # The last-letter test first, in one pass: it rules out nearly every word.
        for k in [k for k, t in enumerate(toks) if t.text[-1] in "HC"]:
            t = toks[k]
            if not (2 <= len(t.text) <= 5 and _ACRONYM_RE.fullmatch(t.text)):
                continue
            if self._w.is_stop(t.low) or self._w.is_word(t.low) or t.text in found:
                continue  # "TOUCH", "HIGH" in ALL-CAPS text are words, not acronyms
            if t.start and text[t.start - 1].isalnum():
                continue  # the tail of a unit or code ("4.5CCH")
            nxt = toks[k + 1].low if k + 1 < len(toks) else ""
            if (nxt in _WARD_AFTER and text[t.end : toks[k + 1].start] == " ") or (
                k > 0
                and self._boundary(text, toks, k)
                and not (any(c in text[toks[k - 1].end : t.start] for c in "\n|:;("))
            ):
                found.add(t.text)
        if not found:
            return []  # (most texts: no pass over every token for nothing)
        return [
            Span(t.start, t.end, Category.GEO, _SCORE_CONTEXT, NAME)
            for t in toks
            if t.text in found
        ]

    def _wards(self, text: str, toks: list[Token], mode: CaseMode) -> list[Span]:
        """Wards named by an unknown word and a floor number after "to"/"on" ("on Ostrander 6").

        The word must have no everyday, clinical or stop-word reading. Once found, its glued
        or bare mentions elsewhere in the document count too ("Ostrander6").
        """
        found: set[str] = set()
        hits: list[tuple[int, int, str]] = []
        for m in _ward_matches(text):
            word = m.group(1)
            low = word.lower()
            if self._w.is_stop(low) or self._w.is_word(low) or low in MOVES:
                continue
            before = text[max(0, m.start() - 12) : m.start()].split()
            cued = bool(before) and before[-1].lower().strip(".,") in _WARD_CUES
            if word.islower() and mode is not CaseMode.LOWER:
                # "able to advance 30 cm": prose, not a ward; but "called to quartermain 6",
                # a long word with no everyday, clinical or name reading, right after "to".
                if not (cued and len(word) >= 6 and text[m.start() - 1] == " "):
                    continue
                if text[m.end(1)] != " " or _PROSE_AFTER.match(text, m.end()) is not None:
                    continue  # "to transfuse 2 additional", "to commodex3": prose, not a ward
                if self._w.is_name(low) or unit_follows(text, m.end()):
                    continue  # "titrated to levofed 5 mcg": a misspelt drug and its dose
            hits.append((m.start(1), m.end(1), low))
            if cued:
                found.add(low)
        if not found:
            return []
        out = [Span(a, b, Category.GEO, _SCORE_CONTEXT, NAME) for a, b, low in hits if low in found]
        out.extend(
            Span(t.start, t.end, Category.GEO, _SCORE_WEAK, NAME) for t in toks if t.low in found
        )
        return out

    def _phrases(self, toks: list[Token], spans: list[Span]) -> list[Span]:
        """Other mentions of a found multi-word facility name ("Mercy Vale" in "... Hospital")."""
        phrases: set[tuple[str, ...]] = set()
        for span in spans:
            k = bisect_left(toks, span.start, key=token_start)
            if k == len(toks) or toks[k].start != span.start:
                continue  # no token starts the span
            words: list[str] = []
            while k < len(toks) and toks[k].end <= span.end:
                low = toks[k].low
                if low in FACILITY_HEADS:
                    break
                words.append(low)
                k += 1
            # "Johns Hopkins Medical" -> "Johns Hopkins"; "Mercy Vale" keeps its qualifier.
            while len(words) > 2 and words[-1] in _HEAD_QUALIFIERS:
                words.pop()
            if len(words) >= 2 and not all(self._w.is_stop(w) for w in words):
                phrases.add(tuple(words))
        out: list[Span] = []
        if not phrases:
            return out
        for phrase in phrases:
            n = len(phrase)
            first = phrase[0]
            # Candidate starts in one pass (the phrase's first word), then the full test.
            for k in [k for k, t in enumerate(toks[: max(0, len(toks) - n + 1)]) if t.low == first]:
                if all(toks[k + m].low == phrase[m] for m in range(1, n)):
                    out.append(
                        Span(toks[k].start, toks[k + n - 1].end, Category.GEO, _SCORE_WEAK, NAME)
                    )
        return out

    def _after_move(self, text: str, toks: list[Token], i: int, mode: CaseMode) -> Span | None:
        j = i + 1
        linked = False
        while j < len(toks) and toks[j].low in _MOVE_LINKS and j - i <= 3:
            linked = linked or toks[j].low != "the"
            j += 1
        if not linked or j >= len(toks):
            return None
        if toks[j].start - toks[j - 1].end > _OFFSET_GAP:
            # "transferred to 209 Ostrander": a room number may sit before an unknown name.
            gap = text[toks[j - 1].end : toks[j].start].strip()
            if not (gap.isdigit() and len(gap) <= 4) or self._w.is_word(toks[j].low):
                return None
            if len(toks[j].text) < 4 or not self._placeish(toks[j], mode):
                return None
        start = j
        end = j
        while j < len(toks) and end - start < 3:
            if j > start and text[toks[j - 1].end : toks[j].start] not in (" ", "-"):
                break
            if j > start and toks[j].low in NAME_PARTICLES and j + 1 < len(toks):
                j += 1  # "Reguengos de Monsaraz": a particle joins two place words
                continue
            if not self._placeish(toks[j], mode):
                break
            j += 1
            end = j
        if end == start:
            return None
        return Span(toks[start].start, toks[end - 1].end, Category.GEO, _SCORE_CONTEXT, NAME)

    def find_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        """Return the spans of each text."""
        return [self.find(t) for t in texts]


@register(NAME)
def _factory(settings: Settings) -> LocationContextRecognizer:
    del settings  # no settings yet; the signature is the registry's contract
    return LocationContextRecognizer(default_word_classes())
