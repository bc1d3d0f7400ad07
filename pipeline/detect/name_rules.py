"""Extra rules of the name tier: cues written after a name, sentence shapes, name lists.

Split from :mod:`pipeline.detect.names` (the cue loop) so that each rule stays small and has
its own docstring; :class:`NameRules` adds them on top of the span growing of
:class:`pipeline.detect.name_growth.NameGrowth`:

* a kin word after the name: "URSLA MORETTI (DAUGHTER)", "KEEP ROMERO FAMILY AWARE";
* a middle initial between two name parts: "Ryan P Costa", "leidy t muris";
* sentence shapes that only people take: a vocative ("Bryce, can I ..."), a speaker label
  before quoted speech ('Alexander: "..."'), a subject of a person's verb ("Timotea lives");
* a comma list made mostly of common first names ("leonti, terrence, pamela and brian").

Each candidate must still pass the word tests: stop words, clinical words and everyday English
words are never names through these shapes alone.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left

from pipeline.detect.name_cues import FAMILY_WORDS, RELATIONS, ROLES, name_end
from pipeline.detect.name_growth import NAME, AddFn, NameGrowth
from pipeline.detect.name_words import ENG, NAMED, NON
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.detect.wordclass import CaseMode, Token, token_end, token_start

#: Sentence shapes only people take, in one pass (group 1 is the name), at a sentence start:
#: a vocative before a request ("Bryce, can I speak to ..."), a speaker label before quoted
#: speech ('Alexander: "Who are you?"'), the subject of a person's verb ("Timotea lives ...").
#: Each pattern starts with a literal or a character class so that the regex engine skips
#: to candidate positions at C speed (a leading look-behind is tried at every position).
_NAME_WORDS = r"([^\W\d_]+(?: [^\W\d_]+)?)"
_SHAPE_TAIL = (
    r"(?:, (?i:can|could|would|will|please|do|did|are|have|i|you|tell|let|what|how|where|"
    r"why|when)\b|: ?[\"\u201c]| (?:lives|lived|spent|began|listed|explained|woke|is from|"
    r"is very|is a very|had given|was born|will be talking)\b)"
)
_SHAPE_RE = re.compile(r"(?:[.!?\"\u201d] |\n)" + _NAME_WORDS + _SHAPE_TAIL)
_SHAPE_START_RE = re.compile(_NAME_WORDS + _SHAPE_TAIL)
#: The tail alone: every shape match holds one, so a text without it has no shape (most
#: texts; one search for the tail costs about half the two searches for whole shapes).
_SHAPE_TAIL_RE = re.compile(_SHAPE_TAIL)
#: A single letter between two words: a middle-initial candidate ("Ryan P Costa").
_MIDDLE_RE = re.compile(r" ([^\W\d_])(?=\.? [^\W\d_])")
#: The rest of a comma list of single words after its first item, "and" before the last
#: optional (", bo, cy and di" after "ann").
_LIST_RE = re.compile(r", [^\W\d_]+(?:, [^\W\d_]+)*(?:,? and [^\W\d_]+)?(?![\w'-])")
_WORD_RE = re.compile(r"[^\W\d_]+")
#: Score of a name found by sentence shape or list alone (weaker than a title or a cue).
_SHAPE = 0.5
#: A list of first names: at least this many items, most of them common first names.
_LIST_MIN = 3
_LIST_FIRST_RANK = 1000
#: Single letters that are words (articles, conjunctions) in English and Romance languages.
_VOWELS = frozenset("aeiouy")
#: A first name closing a note is a signature when it is at least this common.
_SIGN_FIRST_RANK = 500


class NameRules(NameGrowth):
    """Rules beyond the cue words before a name; see the module docstring."""

    def _kin_after(self, text: str, toks: list[Token], i: int, mode: CaseMode, add: AddFn) -> bool:
        """Walk back from a kin word written after the name.

        "URSLA MORETTI (DAUGHTER)", "J. OKAFOR (RESIDENT)": a relation or a role in
        parentheses labels the name before it;
        "KEEP ROMERO FAMILY AWARE": a surname names the family (lexicon names only, as
        before a weak verb: "large family", "the family" are no names).

        Return True when ``toks[i]`` was used as such a cue (it then cues nothing after it).
        """
        tok = toks[i]
        if i == 0:
            return False
        if tok.low in RELATIONS or tok.low in ROLES:
            if text[tok.start - 1 : tok.start] != "(" or text[tok.end : tok.end + 1] != ")":
                return False
            self._before(text, toks, i, mode, add)
            return True
        if tok.low in FAMILY_WORDS:
            prev = toks[i - 1]
            if text[prev.end : tok.start] != " ":
                return False
            if mode is CaseMode.MIXED and not prev.text[:1].isupper():
                return False  # "the smith family" in mixed case: no capital, no name
            self._before(text, toks, i, mode, add, weak=True)
            return True
        return False

    # --- shapes -----------------------------------------------------------------------------
    def _shape_word(self, tok: Token, mode: CaseMode) -> bool:
        """May a word be a name by sentence shape alone? Not a stop, clinical or English word.

        In mixed-case text it must be capitalised (not an ALL-CAPS acronym); in lower-case
        text only a lexicon name counts (no capital to go by).
        """
        facts = self._facts(tok.low)
        if facts & (NON | ENG) or len(tok.text) < 2:
            return False
        if mode is CaseMode.MIXED:
            return tok.text[:1].isupper() and not tok.text.isupper()
        return bool(facts & NAMED)

    def _shape_spans(self, text: str, toks: list[Token], mode: CaseMode) -> list[Span]:
        """Names by sentence shape: vocatives, speaker labels, subjects of a person's verb."""
        out: list[Span] = []
        if _SHAPE_TAIL_RE.search(text) is None:
            return out
        first = _SHAPE_START_RE.match(text)
        for m in itertools.chain([first] if first else [], _SHAPE_RE.finditer(text)):
            a, b = m.span(1)
            if text[b : b + 2] == ", " and " " in m.group(1):
                continue  # a vocative is one word ("Bryce, can ..."), not a clause
            k = bisect_left(toks, a, key=token_start)
            words = []
            while k < len(toks) and toks[k].end <= b:
                words.append(toks[k])
                k += 1
            if not words or not all(self._shape_word(t, mode) for t in words):
                continue
            out.append(Span(words[0].start, words[-1].end, Category.NAME, _SHAPE, NAME))
        return out

    # --- middle initials --------------------------------------------------------------------
    def _initial_fill(
        self, text: str, toks: list[Token], mode: CaseMode, spans: list[Span]
    ) -> list[Span]:
        """Join "First M Last" around a middle initial ("Ryan P Costa", "eric g. samoylova").

        The first part is a found name or a common first name; the initial a single letter
        (its period optional); the last part shares the first part's capitalisation and is
        not a stop or clinical word. "a" and "i" are words too: then the last part must be a
        lexicon name.
        """
        out: list[Span] = []
        found_ends = {s.end for s in spans}
        n = len(toks)
        mixed = mode is CaseMode.MIXED
        for m in _MIDDLE_RE.finditer(text):
            if mixed and not m.group(1).isupper():
                # The mixed-case test below, done first: its initial is this very letter (a
                # token that starts there is just the letter: "." or " " follows it). Most
                # candidates are the article " a ".
                continue
            k = bisect_left(toks, m.start(1), key=token_start)
            if not 0 < k < n - 1 or toks[k].start != m.start(1):
                continue
            mid = toks[k]
            first, last = toks[k - 1], toks[k + 1]
            if text[first.end : mid.start] != " " or text[mid.end : last.start] not in (" ", ". "):
                continue
            if first.text[:1].isupper() != last.text[:1].isupper() or len(last.text) < 3:
                continue
            if mode is CaseMode.MIXED and not (mid.text.isupper() and first.text[:1].isupper()):
                # "Smith a", "lisa y mucosa": in mixed-case text a name and its initial are
                # capitalised; a lower-case letter is a word ("a", Spanish "y").
                continue
            if mode is not CaseMode.MIXED and mid.text.islower() != first.text.islower():
                continue  # "modo B que": the initial of a name is written like the name
            if mode is not CaseMode.MIXED and mid.low in _VOWELS - {"a", "i"}:
                continue  # "e", "o", "u", "y": conjunctions in Romance languages
            facts = self._facts(last.low)
            if facts & NON:
                continue
            common_first = self._w.first_rank(first.low) <= _LIST_FIRST_RANK and not (
                self._facts(first.low) & (NON | ENG)
            )
            if not common_first and not (
                # a found name ("Dr. Okafor" found, then "T Brandvold"): a lexicon surname
                (first.end in found_ends and facts & NAMED)
                or self._unknown_pair(first, mid, last, mode)
            ):
                continue
            if mid.low in ("a", "i") and (facts & ENG or not facts & NAMED):
                continue
            if mode is not CaseMode.MIXED and facts & ENG:
                continue  # without capitals an everyday word ("BAKAITIS W IMPROVED") is no name
            out.append(Span(first.start, name_end(last), Category.NAME, _SHAPE, NAME))
        return out

    # --- lists ------------------------------------------------------------------------------
    def _name_lists(self, text: str, toks: list[Token], mode: CaseMode) -> list[Span]:
        """Comma lists made mostly of common first names ("leonti, terrence, pamela and brian").

        Every item of such a list that is not a stop, clinical or everyday word is a name.
        """
        out: list[Span] = []
        for m in _LIST_RE.finditer(text):
            words = [w for w in _WORD_RE.findall(m.group(0)) if w != "and"]
            if len(words) < _LIST_MIN - 1:
                continue
            # The first item is the token that ends where the match starts.
            k = bisect_left(toks, m.start(), key=token_end)
            if k == len(toks) or toks[k].end != m.start():
                continue
            if text[toks[k].start - 1 : toks[k].start] in ("'", "-"):
                continue
            words.insert(0, toks[k].text)
            run = []
            while k < len(toks) and toks[k].end <= m.end():
                if toks[k].low != "and":
                    run.append(k)
                k += 1
            if [toks[r].text for r in run] != words:
                continue  # the words are not whole tokens
            items = [toks[r] for r in run]
            firsts = sum(
                1
                for t in items
                if self._w.first_rank(t.low) <= _LIST_FIRST_RANK and not self._facts(t.low) & NON
            )
            if firsts * 5 < len(items) * 3:
                continue  # fewer than 3 in 5 are first names: a list of things
            for t in items:
                facts = self._facts(t.low)
                if facts & NON or (facts & ENG and self._w.first_rank(t.low) > 300):
                    continue
                if mode is CaseMode.MIXED and t.text.islower() != items[0].text.islower():
                    continue
                out.append(Span(t.start, t.end, Category.NAME, _SHAPE, NAME))
        return out

    def _rule_spans(
        self, text: str, toks: list[Token], mode: CaseMode, spans: list[Span]
    ) -> list[Span]:
        """Return the spans of the shape, initial and list rules (run after the cue loop)."""
        return (
            self._shape_spans(text, toks, mode)
            + self._initial_fill(text, toks, mode, spans)
            + self._name_lists(text, toks, mode)
            + self._closing_name(text, toks)
        )

    def _particle(self, text: str, toks: list[Token], j: int) -> bool:
        """An "O" written apart from its surname after a title ("Dr. o rourke")."""
        if toks[j].low != "o" or j + 1 >= len(toks):
            return False
        nxt = toks[j + 1]
        return text[toks[j].end : nxt.start] == " " and self._named(nxt)

    def _unknown_pair(self, first: Token, mid: Token, last: Token, mode: CaseMode) -> bool:
        """Two words unknown to the word lists around an initial ("leidy t muris").

        Neither part may be an English, stop or clinical word. ALL-CAPS text is left out:
        unknown capitals there are abbreviations; in lower-case text the last part must be a
        lexicon name ("ulcer l buttocks", "dyspnea c tvol" are clinical shorthand).
        """
        if mode is CaseMode.UPPER or mid.low in _VOWELS or len(first.text) < 3:
            return False  # ("y", "e", "o": "and"/"or" in Spanish, Italian, Portuguese)
        if mode is CaseMode.MIXED and not (self._proper(first) or first.text.istitle()):
            return False  # mixed case: both parts capitalised ("Mijail C Adomo")
        if mode is CaseMode.MIXED and not last.text.istitle():
            return False
        if not (self._facts(first.low) & NAMED or self._facts(last.low) & NAMED):
            return False  # one part at least from the lexicons ("Penicilina G Benzatina")
        if self._facts(first.low) & NON or self._w.is_word(first.low):
            return False
        facts = self._facts(last.low)
        if mode is not CaseMode.MIXED and not facts & NAMED:
            return False
        return len(last.text) >= 3 and not facts & (NON | ENG)

    def _closing_name(self, text: str, toks: list[Token]) -> list[Span]:
        """A common first name that closes the note after its last sentence ("... HR. SUSAN").

        Notes are signed with the writer's first name; it must be the last word, after a
        sentence end or on a line of its own, and have no everyday reading.
        """
        if len(toks) < 2:
            return []
        tok = toks[-1]
        if text[tok.end :].strip() or len(tok.text) < 3:
            return []
        before = text[toks[-2].end : tok.start]
        if not (before.startswith((".", "!", "\n")) and not before.strip(".!\n \t")):
            return []
        if self._w.first_rank(tok.low) > _SIGN_FIRST_RANK or not self._named(tok):
            return []
        return [Span(tok.start, tok.end, Category.NAME, _SHAPE, NAME)]
