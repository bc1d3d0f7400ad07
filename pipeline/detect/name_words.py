"""Word tests of the name tier: is this token a name part, given its case and context?

Split from :mod:`pipeline.detect.names`: :class:`NameWords` holds the per-word judgements
(stop/clinical words, everyday English words, lexicon names, initials) that the span-growing
code in :mod:`pipeline.detect.name_growth` and the cue loop in :mod:`pipeline.detect.names`
share. Every answer depends on the word (and its neighbours) only, never on record state.
"""

from __future__ import annotations

from pipeline.detect.lexicons import word_list
from pipeline.detect.name_cues import (
    AFTER_WEAK,
    AFTER_WORDS,
    CREDENTIALS,
    GREETINGS,
    RELATIONS,
    ROLES,
    TITLES,
    VERBS,
)
from pipeline.detect.wordclass import CaseMode, Token, WordClasses

#: Every cue word: a trigger is never itself a name.
TRIGGERS = TITLES | RELATIONS | VERBS | CREDENTIALS | ROLES | AFTER_WORDS | AFTER_WEAK
#: English function words: never a name even after a title (clinical words may be: "Dr. Foley").
COMMON_STOP = word_list("stop_words")
#: A capitalised word after a relation rarer than this (Zipf) reads as a name ("Son Dusty").
_RELATION_MAX_ZIPF = 4.5
#: Bits of a word's memoised facts (see ``NameWords._facts``).
NON, ENG, NAMED = 1, 2, 4
#: The facts memo is cleared when it grows past this many words (bounded memory).
_MEMO_MAX = 100_000


class NameWords:
    """Per-word tests over the word classes, memoised per lower-cased word."""

    def __init__(self, words: WordClasses) -> None:
        self._w = words
        # Every whole word that is never a name, in one set: _non_name runs for most tokens.
        self._never = words.stop | GREETINGS | TRIGGERS
        # Lower-cased word -> NON/ENG/NAMED bits. Each capitalised word used to cost a
        # dozen look-ups (never a name? English? a lexicon name?) per mention; the answers
        # depend on the word alone. In-process memory only (like the analyse cache), never
        # logged, and cleared past _MEMO_MAX words.
        self._memo: dict[str, int] = {}

    def _facts(self, low: str) -> int:
        """Return the memoised NON/ENG/NAMED bits of the lower-cased word ``low``."""
        facts = self._memo.get(low)
        if facts is None:
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            facts = (
                (NON if self._non_name_word(low) else 0)
                | (ENG if self._w.is_english(low) else 0)
                | (NAMED if self._w.is_name(low) else 0)
            )
            self._memo[low] = facts
        return facts

    def _non_name(self, tok: Token) -> bool:
        return bool(self._facts(tok.low) & NON)

    def _non_name_word(self, low: str) -> bool:
        if low.endswith(("'s", "\u2019s")):
            low = low[:-2]  # "MD'S", "pt's": the possessive of a non-name is no name
        # "I'm", "Hi Marten": a pronoun or a greeting, not a name; stop and clinical words
        # (a hyphenated word when any part is one, as in WordClasses.is_stop) and triggers.
        if low in self._never or low.startswith(("i'", "i\u2019")):
            return True
        return "-" in low and any(p in self._w.stop for p in low.split("-"))

    def _ok_strong(self, tok: Token, mode: CaseMode) -> bool:
        """After a title: anything but stop/clinical words and non-name English words."""
        if self._non_name(tok):
            return False
        if self._w.is_english(tok.low) and not self._w.is_name(tok.low):
            return mode is CaseMode.MIXED and tok.text[0].isupper() and not tok.text.isupper()
        return True

    def _ok_medium(self, tok: Token, mode: CaseMode, *, lower_ok: bool = False) -> bool:
        """After a relation/verb/role, before a credential: names, or unknown words."""
        facts = self._facts(tok.low)
        if facts & NON or len(tok.text) < 2:
            return False
        if mode is CaseMode.MIXED and tok.text.islower() and not lower_ok:
            return False
        if mode is CaseMode.MIXED and tok.text.isupper() and len(tok.text) <= 4:
            return False  # an acronym in mixed-case text ("EW", "OSH"), not a name
        if facts & ENG:
            # An everyday word that is also a name ("Rose") counts only when capitalised.
            return bool(facts & NAMED) and mode is CaseMode.MIXED
        return True

    @staticmethod
    def _gap_ok(text: str, left: Token, right: Token) -> bool:
        """Two name parts are separated by a space, or an initial's period and a space."""
        gap = text[left.end : right.start]
        if gap in (" ", "-"):
            return True
        return gap in (". ", ".") and len(left.text) == 1

    def _is_initial(self, text: str, tok: Token) -> bool:
        return len(tok.text) == 1 and tok.text.isalpha() and text[tok.end : tok.end + 1] == "."

    def _surname_after_initial(self, tok: Token, mode: CaseMode) -> bool:
        """A word after an initial is a surname when it is a name and looks like one."""
        if self._non_name(tok) or len(tok.text) < 2 or not self._w.is_name(tok.low):
            return False
        return mode is not CaseMode.MIXED or tok.text[:1].isupper()

    def _proper(self, tok: Token) -> bool:
        """Capitalised (not ALL CAPS), not a stop/clinical word, no everyday reading."""
        return (
            tok.text[:1].isupper()
            and not tok.text.isupper()
            and len(tok.text) >= 2
            and not self._facts(tok.low) & (NON | ENG)
        )

    def _bare_initial(self, text: str, tok: Token, nxt: Token) -> bool:
        """A capital letter standing alone right before a name part ("J SMITH")."""
        return (
            len(tok.text) == 1
            and tok.text.isupper()
            and text[tok.end : nxt.start] == " "
            and tok.text not in ("A", "I")
        )

    def _initial_before(self, text: str, toks: list[Token], k: int) -> bool:
        """An initial sits right before ``toks[k]`` ("E. Mason")."""
        if k == 0:
            return False
        prev = toks[k - 1]
        return (
            self._is_initial(text, prev) and text[prev.end : toks[k].start] in (". ", ".")
        ) or self._bare_initial(text, prev, toks[k])

    def _surname_ok_before(self, tok: Token, mode: CaseMode) -> bool:
        """A first name before a found surname may be an everyday word ("Art Vandermolen")."""
        del mode
        return not self._non_name(tok) and self._w.first_rank(tok.low) <= 1000

    def _titled_pair(self, text: str, toks: list[Token], j: int) -> bool:
        """Accept a titled first name that is also clinical shorthand when a surname follows.

        ("Dr. Art Quimby": "art" is also an arterial line.)
        """
        if j + 1 >= len(toks):
            return False
        cand, nxt = toks[j], toks[j + 1]
        return (
            cand.text[:1].isupper()
            and not cand.text.isupper()
            and cand.low not in COMMON_STOP
            and self._w.first_rank(cand.low) <= 1000
            and self._gap_ok(text, cand, nxt)
            and nxt.text[:1].isupper()
            and self._w.is_name(nxt.low)
            and not self._non_name(nxt)
        )

    def _titled_after_relation(self, text: str, rel: Token, cand: Token, mode: CaseMode) -> bool:
        """Accept a capitalised, not very common word right after a relation (mixed case).

        It is a name even when it is also a word ("Son Dusty", "wife, Ginger").
        """
        if mode is not CaseMode.MIXED or self._non_name(cand) or len(cand.text) < 3:
            return False
        if not cand.text[:1].isupper() or cand.text.isupper():
            return False
        if text[rel.end : cand.start] not in (" ", ", "):
            return False
        return self._w.zipf.get(cand.low, 0.0) < _RELATION_MAX_ZIPF

    def _pair_rescue(self, text: str, toks: list[Token], j: int, mode: CaseMode) -> bool:
        """An everyday word that is a name counts when a clear surname follows it.

        ("NURSE VIRGINIA SALLESE": "Virginia" alone could be the state.)
        """
        if j + 1 >= len(toks) or self._non_name(toks[j]) or not self._w.is_name(toks[j].low):
            return False
        nxt = toks[j + 1]
        return (
            self._gap_ok(text, toks[j], nxt)
            and self._ok_medium(nxt, mode)
            and not self._w.is_english(nxt.low)
        )

    def _linked_name(self, toks: list[Token], i: int, j: int, mode: CaseMode) -> bool:
        """Check the name after "talk"/"discuss": a link word, then a lexicon name.

        In mixed-case text a capitalised unknown word also counts; misspelt clinical words
        in ALL-CAPS text ("DISCUSS PLAN") do not.
        """
        if not any(t.low in ("with", "w", "to") for t in toks[i + 1 : j]):
            return False
        cand = toks[j]
        if self._w.is_name(cand.low):
            return True
        return mode is CaseMode.MIXED and cand.text[:1].isupper() and not cand.text.isupper()

    def _eponym(self, tok: Token, mode: CaseMode) -> bool:
        """A capitalised lexicon surname that is also clinical vocabulary ("Foley")."""
        return (
            len(tok.low) >= 4
            and (mode is not CaseMode.MIXED or tok.text[:1].isupper())
            and tok.low in self._w.clinical
            and tok.low not in COMMON_STOP
            and self._w.is_name(tok.low)
        )

    def _capital_first(self, tok: Token, mode: CaseMode) -> bool:
        """A common first name, capitalised in mixed-case text ("Bernard")."""
        return (
            (mode is not CaseMode.MIXED or tok.text[:1].isupper())
            and not self._non_name(tok)
            and self._w.first_rank(tok.low) <= 1000
        )

    def _named(self, tok: Token) -> bool:
        """A lexicon name with no everyday reading that outweighs it, not a stop word."""
        low = tok.low
        if low[:2] in ("o'", "o\u2019") and len(low) > 4:
            low = low[2:]  # "O'Connell": the lexicons hold the stem
        return self._facts(low) & (NON | ENG | NAMED) == NAMED

    def _eponym_first(self, tok: Token) -> bool:
        """A common first name that is also clinical shorthand, not a function word ("Eve")."""
        return (
            len(tok.low) >= 3
            and tok.low in self._w.clinical
            and tok.low not in COMMON_STOP
            and self._w.first_rank(tok.low) <= 500
            and not self._w.is_english(tok.low)  # "MOM GIVEN THIS AM"
        )
