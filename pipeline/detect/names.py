"""Name tier: person names from clinical context and name lexicons (no model).

Evidence, strongest first:

* a title before the name ("Dr.", "Mr.", "Mrs.", "Ms."), even in lower case ("dr healey");
* a credential after it ("J. Smith RN", "Jones, MD") or a sign-off line ("Dan A. Forman-Lyons");
* a family relation or a clinical verb before it ("wife Carol", "spoke with Helen", "per Susan");
* a first name followed by a last name from the lexicons ("mary souza");
* a single lexicon name that is not an everyday word, capitalised mid-sentence.

Clinical vocabulary (drugs, abbreviations, devices) and stop words are never names; everyday
English words ("Small", "Will") need a title to count. The tier is registered as
``name_context.v1`` and runs in both profiles.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence

from pipeline.config import Settings
from pipeline.detect.lexicons import word_list
from pipeline.detect.name_cues import (
    AFTER_WEAK,
    AFTER_WORDS,
    CREDENTIALS,
    GREETINGS,
    LINKED_VERBS,
    LINKS,
    RELATIONS,
    ROLES,
    TITLES,
    VERBS,
    between,
    name_end,
    segments,
    sentence_start,
    split_glued,
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
    token_end,
    token_start,
)

NAME = "name_context.v1"

_TRIGGERS = TITLES | RELATIONS | VERBS | CREDENTIALS | ROLES | AFTER_WORDS | AFTER_WEAK
#: The two trigger groups of :meth:`NameContextRecognizer.find`, each one set look-up a token.
_BEFORE_NAME = TITLES | ROLES | RELATIONS | VERBS
_AFTER_NAME = CREDENTIALS | AFTER_WORDS | AFTER_WEAK
#: Every word the main loop reacts to ("d" as in "d/w Smith").
_CUES = _BEFORE_NAME | _AFTER_NAME | {"d"}
AddFn = Callable[[int, int, float], None]

_STRONG, _MEDIUM = 0.9, 0.8
_SINGLE_FIRST_RANK = 500
_SINGLE_START = 0.35
_LISTED = 0.5
_REPEAT = 0.6
#: English function words: never a name even after a title (clinical words may be: "Dr. Foley").
_COMMON_STOP = word_list("stop_words")
_PAIR, _SIGNOFF, _INITIAL, _AFTER, _SINGLE = 0.7, 0.65, 0.7, 0.6, 0.4
#: A capitalised word after a relation rarer than this (Zipf) reads as a name ("Son Dusty").
_RELATION_MAX_ZIPF = 4.5
#: Bits of a word's memoised facts (see ``NameContextRecognizer._facts``).
_NON, _ENG, _NAMED = 1, 2, 4
#: The facts memo is cleared when it grows past this many words (bounded memory).
_MEMO_MAX = 100_000


class NameContextRecognizer:
    """Finds person names by context and lexicons; see the module docstring."""

    name = NAME
    categories = frozenset({Category.NAME})

    def __init__(self, words: WordClasses) -> None:
        self._w = words
        # Every whole word that is never a name, in one set: _non_name runs for most tokens.
        self._never = words.stop | GREETINGS | _TRIGGERS
        # Lower-cased word -> _NON/_ENG/_NAMED bits. Each capitalised word used to cost a
        # dozen look-ups (never a name? English? a lexicon name?) per mention; the answers
        # depend on the word alone. In-process memory only (like the analyse cache), never
        # logged, and cleared past _MEMO_MAX words.
        self._memo: dict[str, int] = {}

    # --- word tests -------------------------------------------------------------------------
    def _facts(self, low: str) -> int:
        """Return the memoised _NON/_ENG/_NAMED bits of the lower-cased word ``low``."""
        facts = self._memo.get(low)
        if facts is None:
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            facts = (
                (_NON if self._non_name_word(low) else 0)
                | (_ENG if self._w.is_english(low) else 0)
                | (_NAMED if self._w.is_name(low) else 0)
            )
            self._memo[low] = facts
        return facts

    def _non_name(self, tok: Token) -> bool:
        return bool(self._facts(tok.low) & _NON)

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
        if facts & _NON or len(tok.text) < 2:
            return False
        if mode is CaseMode.MIXED and tok.text.islower() and not lower_ok:
            return False
        if mode is CaseMode.MIXED and tok.text.isupper() and len(tok.text) <= 4:
            return False  # an acronym in mixed-case text ("EW", "OSH"), not a name
        if facts & _ENG:
            # An everyday word that is also a name ("Rose") counts only when capitalised.
            return bool(facts & _NAMED) and mode is CaseMode.MIXED
        return True

    # --- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _gap_ok(text: str, left: Token, right: Token) -> bool:
        """Two name parts are separated by a space, or an initial's period and a space."""
        gap = text[left.end : right.start]
        if gap in (" ", "-"):
            return True
        return gap in (". ", ".") and len(left.text) == 1

    def _is_initial(self, text: str, tok: Token) -> bool:
        return len(tok.text) == 1 and tok.text.isalpha() and text[tok.end : tok.end + 1] == "."

    def _extend(
        self,
        text: str,
        toks: list[Token],
        i: int,
        mode: CaseMode,
        first_ok: bool,
        *,
        titled: bool = False,
    ) -> int:
        """Return the index one past the name that starts at ``toks[i]`` (``i`` if none).

        After a title, a capitalised word that is also a name continues the name even when it
        is an everyday word ("Dr. Art Quimby").
        """
        if not first_ok:
            return i
        j = i + 1
        while j < len(toks) and j - i < 4 and self._gap_ok(text, toks[j - 1], toks[j]):
            if name_end(toks[j - 1]) != toks[j - 1].end:
                break  # a possessive ends the name: "Vornqvist's Collected Letters"
            nxt = toks[j]
            ok = self._is_initial(text, nxt) or self._ok_medium(nxt, mode)
            if (
                not ok
                and mode is CaseMode.MIXED
                and j + 1 < len(toks)
                and self._bare_initial(text, nxt, toks[j + 1])
                and self._proper(toks[j + 1])
            ):
                ok = True  # "Ruth T Okafor": a middle initial without its period
            if not ok and self._is_initial(text, toks[j - 1]):
                # "E. Mason": after an initial, a surname that is also an everyday word.
                ok = self._surname_after_initial(nxt, mode)
            if not ok and titled and mode is CaseMode.MIXED and nxt.text[:1].isupper():
                ok = not self._non_name(nxt) and self._w.is_name(nxt.low)
            if not ok:
                break
            j += 1
        return j

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

    def _surname_after_initial(self, tok: Token, mode: CaseMode) -> bool:
        """A word after an initial is a surname when it is a name and looks like one."""
        if self._non_name(tok) or len(tok.text) < 2 or not self._w.is_name(tok.low):
            return False
        return mode is not CaseMode.MIXED or tok.text[:1].isupper()

    def _after_trigger(self, text: str, toks: list[Token], i: int) -> int:
        """Return the index of the first name candidate after the trigger at ``i``."""
        j = i + 1
        # Skip link words and a second title ("spoke with dr smith", "wife, Mrs Jones").
        while j < len(toks) and j - i <= 3 and (toks[j].low in LINKS or toks[j].low in TITLES):
            j += 1
        if j < len(toks) and text[toks[j - 1].end : toks[j].start].strip(" ,.:;-(/'?"):
            return len(toks)  # something other than punctuation sits between: not a name
        if j < len(toks) and toks[j].start - toks[j - 1].end > 4:
            return len(toks)  # too far: the trigger belongs to something else
        return j

    # --- recognition ------------------------------------------------------------------------
    def find(self, text: str) -> list[Span]:
        """Return the name spans in ``text``."""
        toks, mode = analyse(text)
        if not toks:
            return []
        toks = split_glued(toks, lambda p: p in _COMMON_STOP, self._w.is_stop)
        spans: list[Span] = []
        n = len(toks)
        mixed = mode is CaseMode.MIXED

        def add(a: int, b: int, score: float) -> None:
            if b <= a:
                return
            spans.append(Span(toks[a].start, name_end(toks[b - 1]), Category.NAME, score, NAME))
            # Coordinated names share the evidence: "Drs Ballou and Dutter", "Sons A, B and C".
            while b < n - 1 and toks[b].start - toks[b - 1].end <= 3:
                link = text[toks[b - 1].end : toks[b].start].strip()
                if link in (",", "&") and self._ok_medium(toks[b], mode):
                    c = b
                elif toks[b].low == "and" and self._ok_medium(toks[b + 1], mode):
                    c = b + 1
                else:
                    break
                b = self._extend(text, toks, c, mode, True)
                spans.append(Span(toks[c].start, toks[b - 1].end, Category.NAME, score, NAME))

        if mixed:
            # Most words of mixed-case text: no cue, and no name (a lower-case word fails
            # _ok_medium, the initial test and the capital the lexicon test needs): skipped
            # in one pass at C speed.
            todo = [k for k, t in enumerate(toks) if t.low in _CUES or not t.text.islower()]
        else:
            todo = list(range(n))
        for i in todo:
            tok = toks[i]
            low = tok.low
            if low == "d" and text[tok.end : tok.end + 2].lower() == "/w":
                low = "discussed"  # "d/w Smith": the nursing shorthand for "discussed with"
            if (
                i + 1 < n
                and toks[i + 1].low in RELATIONS
                and name_end(tok) != tok.end
                and text[tok.end : toks[i + 1].start] == " "
                and self._ok_medium(tok, mode)
            ):
                # "Ingrid's daughter": a possessive before a relation is a person.
                add(i, i + 1, _AFTER)
            if low in _BEFORE_NAME:
                j = self._after_trigger(text, toks, i)
                if j >= n:
                    continue
                cand = toks[j]
                if low in TITLES:
                    ok = self._ok_strong(cand, mode) or self._is_initial(text, cand)
                    if (
                        not ok
                        and len(cand.low) >= 4
                        and self._w.is_name(cand.low)
                        and cand.low in self._w.clinical
                    ):
                        ok = cand.low not in _COMMON_STOP  # "Dr. Foley": eponym or not
                    if not ok and mode is CaseMode.MIXED:
                        ok = self._titled_pair(text, toks, j)
                    if text[tok.end : cand.start] not in (" ", ". ", ".", "  ", ".  "):
                        ok = False  # "MS: pt ...", "Dr- aware": a heading, not a title
                    score = _STRONG
                elif low in ROLES:
                    ok = self._is_initial(text, cand) or self._ok_medium(cand, mode, lower_ok=True)
                    score = _MEDIUM
                else:
                    ok = self._is_initial(text, cand) or self._ok_medium(cand, mode)
                    if not ok and mode is CaseMode.MIXED and cand.text.islower():
                        # "spoke with daughter dagny": a lower-case lexicon name with no
                        # everyday reading still counts after a relation or a verb.
                        ok = (
                            not self._non_name(cand)
                            and self._w.is_name(cand.low)
                            and not self._w.is_word(cand.low)
                        )
                    score = _MEDIUM
                if not ok and low not in TITLES:
                    ok = self._pair_rescue(text, toks, j, mode)
                if ok and low in LINKED_VERBS:
                    ok = self._linked_name(toks, i, j, mode)
                if not ok and low in RELATIONS:
                    # "son bill called": a common first name right after a relation.
                    ok = not self._non_name(cand) and self._w.first_rank(cand.low) <= 300
                    ok = ok or self._titled_after_relation(text, tok, cand, mode)
                add(j, self._extend(text, toks, j, mode, ok, titled=low in TITLES), score)
                if (
                    low in CREDENTIALS
                    and low != "pa"  # "PA line": the pulmonary artery far more often
                    and i > 0
                    and "," in text[toks[i - 1].end : tok.start]
                    and (mode is not CaseMode.MIXED or tok.text.isupper())
                ):
                    self._before(text, toks, i, mode, add)  # "Vandermolen,MD": role and credential
            elif low in _AFTER_NAME:
                if low in CREDENTIALS and mode is CaseMode.MIXED and not tok.text.isupper():
                    continue
                self._before(text, toks, i, mode, add)
            elif (
                len(tok.text) == 1
                and self._is_initial(text, tok)
                and tok.text.isupper()
                and i + 1 < n
            ):
                # "E. Mason", "W. MAROTTA": an initial, its period, a capitalised surname.
                nxt = toks[i + 1]
                prev = text[tok.start - 1] if tok.start else " "
                after = toks[i + 2].low if i + 2 < n else ""
                if (
                    (prev.isspace() or prev in "(-/,;")
                    and text[tok.end : nxt.start] == ". "
                    and nxt.text[0].isupper()
                    and not self._non_name(nxt)
                    and (
                        not self._w.is_english(nxt.low)
                        # "E. MASON AWARE": an everyday-word surname needs a verb after it.
                        or (after in AFTER_WORDS | AFTER_WEAK and self._w.is_name(nxt.low))
                    )
                ):
                    add(i, self._extend(text, toks, i + 1, mode, True), _INITIAL)
            elif not mixed or tok.text[0].isupper():
                # In mixed-case text only a capitalised word can be a lexicon hit.
                self._lexicon_hits(text, toks, i, mode, add)
        spans.extend(self._signoffs(text, toks, mode))
        if spans and mode is CaseMode.MIXED:
            spans.extend(self._lists(text, toks, spans))
        spans.extend(propagate(toks, spans, self._w, score=_REPEAT, recognizer=NAME))
        return spans

    def _lists(self, text: str, toks: list[Token], spans: list[Span]) -> list[Span]:
        """Capitalised words listed with a found name ("Eklund, Michael and Hodge")."""
        n = len(toks)
        out: list[Span] = []
        seen: set[int] = set()

        def listed(k: int) -> bool:
            t = toks[k]
            return (
                k not in seen
                and t.text[:1].isupper()
                and not t.text.isupper()
                and not self._non_name(t)
                and (self._w.is_name(t.low) or not self._w.is_english(t.low))
            )

        for span in spans:
            # The tokens that start and end the span, if any (tokens are sorted, disjoint).
            k0 = bisect_left(toks, span.start, key=token_start)
            k1 = bisect_left(toks, span.end, key=token_end)
            if k0 == n or toks[k0].start != span.start or k1 == n or toks[k1].end != span.end:
                continue
            for step, k in ((-1, k0), (1, k1)):
                while 0 <= k + step < len(toks):
                    a, b = (k + step, k) if step < 0 else (k, k + step)
                    link = text[toks[a].end : toks[b].start].strip()
                    nxt = k + step
                    if link == "and" or link not in (",", "&", "and"):
                        # "X and Y": the link word is a token of its own
                        if toks[nxt].low == "and" and 0 <= nxt + step < len(toks):
                            nxt += step
                            a, b = (nxt, k) if step < 0 else (k, nxt)
                        elif link != ",":
                            break
                    gap = text[toks[min(k, nxt)].end : toks[max(k, nxt)].start]
                    if len(gap) > 6 or gap.strip() not in (",", "and", ", and", "&"):
                        break
                    if not listed(nxt):
                        break
                    seen.add(nxt)
                    out.append(Span(toks[nxt].start, toks[nxt].end, Category.NAME, _LISTED, NAME))
                    k = nxt
        return out

    def _proper(self, tok: Token) -> bool:
        """Capitalised (not ALL CAPS), not a stop/clinical word, no everyday reading."""
        return (
            tok.text[:1].isupper()
            and not tok.text.isupper()
            and len(tok.text) >= 2
            and not self._facts(tok.low) & (_NON | _ENG)
        )

    def _mixed_pair(self, text: str, toks: list[Token], i: int) -> int:
        """Find a mixed-case "First [M] Last" name starting at ``toks[i]``.

        Two proper-looking words, one of them a lexicon name, optionally around a bare middle
        initial ("Ingrid Vornqvist", "Oskar T Brandvold").

        Return the index one past the name, or ``i`` when there is none.
        """
        first = toks[i]
        if not self._proper(first):
            return i
        j = i + 1
        if (
            j + 1 < len(toks)
            and len(toks[j].text) == 1
            and toks[j].text.isupper()
            and text[first.end : toks[j].start] == " "
            and text[toks[j].end : toks[j + 1].start] in (" ", ". ")
        ):
            j += 1  # a middle initial
        last = toks[j]
        if j == i + 1 and not self._gap_ok(text, first, last):
            return i
        if j > i + 1 and toks[j - 1].text in ("A", "I"):
            return i
        if not self._proper(last):
            return i
        first_named = self._facts(first.low) & _NAMED
        if not (first_named or self._facts(last.low) & _NAMED):
            return i
        if j == i + 1 and not first_named and sentence_start(text, first):
            return i
        return j + 1

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

    def _before(self, text: str, toks: list[Token], i: int, mode: CaseMode, add: AddFn) -> None:
        """Walk back over the name before a credential or a verb ("J. Smith, RN", "X aware").

        Before a plain verb ("aware") everyday words are too risky: names only, unless an
        initial precedes them ("E. Mason aware"); before a weak verb ("ordered", "called")
        every word must be a lexicon name or an initial ("J KOWALCZYK ORDERED").
        """
        if i == 0:
            return
        k = i - 1
        gap = text[toks[k].end : toks[i].start]
        if gap.strip(" ,-()") or len(gap) > 3:
            return
        strict = toks[i].low in AFTER_WORDS
        weak = toks[i].low in AFTER_WEAK
        start = k
        while start >= 0 and i - start <= 4:
            t = toks[start]
            if self._is_initial(text, t) or (
                start < k and self._bare_initial(text, t, toks[start + 1])
            ):
                start -= 1
                continue  # a middle initial: the first name may precede it
            if not self._before_ok(text, toks, start, k, strict=strict, weak=weak, mode=mode):
                break
            if start < k and not self._gap_ok(text, t, toks[start + 1]):
                break
            start -= 1
        if start + 1 <= k:
            if weak and not any(self._w.is_name(t.low) for t in toks[start + 1 : k + 1]):
                return
            if weak and start + 1 == k and self._w.is_english(toks[k].low):
                return
            add(start + 1, k + 1, _MEDIUM if not (strict or weak) else _AFTER)

    def _before_ok(
        self,
        text: str,
        toks: list[Token],
        start: int,
        k: int,
        *,
        strict: bool,
        weak: bool,
        mode: CaseMode,
    ) -> bool:
        """May ``toks[start]`` be part of the name that ends at ``toks[k]``?"""
        t = toks[start]
        initial_before = self._initial_before(text, toks, start)
        ok = self._ok_medium(t, mode) or (start < k and self._surname_ok_before(t, mode))
        if not ok:
            # "E. MASON AWARE": an everyday-word surname right after an initial.
            ok = start == k and strict and self._surname_after_initial(t, mode) and initial_before
        if ok and (strict or weak) and self._w.is_english(t.low):
            ok = initial_before
        return ok and not (weak and not self._w.is_name(t.low))

    def _surname_ok_before(self, tok: Token, mode: CaseMode) -> bool:
        """A first name before a found surname may be an everyday word ("Art Vandermolen")."""
        del mode
        return not self._non_name(tok) and self._w.first_rank(tok.low) <= 1000

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
            and cand.low not in _COMMON_STOP
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

    def _lexicon_hits(
        self, text: str, toks: list[Token], i: int, mode: CaseMode, add: AddFn
    ) -> None:
        """Pairs first+last from the lexicons, and names that have no everyday reading."""
        w = self._w
        tok = toks[i]
        if mode is CaseMode.MIXED and not tok.text[0].isupper():
            return  # the cheapest test first: most words of mixed-case text are lower case
        if len(tok.text) < 2:
            return
        facts = self._facts(tok.low)
        if facts & _NON:
            return
        if not facts & _NAMED:
            # Most words: a lexicon pair needs a first name of rank <= 3000 and a single hit
            # a lexicon name, both implying is_name; only a mixed-case pair can start here,
            # at a word that is _proper (tested here first: most words are English or acronyms).
            if (
                mode is CaseMode.MIXED
                and i + 1 < len(toks)
                and not facts & _ENG
                and not tok.text.isupper()
            ):
                end = self._mixed_pair(text, toks, i)
                if end > i:
                    add(i, end, _PAIR)
            return
        eng = bool(facts & _ENG)
        if w.first_rank(tok.low) <= 3000 and i + 1 < len(toks):
            nxt = toks[i + 1]
            if (
                self._gap_ok(text, tok, nxt)
                and w.last_rank(nxt.low) < 10**9
                and not self._non_name(nxt)
                and (mode is not CaseMode.MIXED or nxt.text[0].isupper())
            ):
                nxt_eng = bool(self._facts(nxt.low) & _ENG)
                titled = mode is CaseMode.MIXED
                if (not eng and not nxt_eng) or (titled and not (eng and nxt_eng)):
                    add(i, i + 2, _PAIR)
                    return
        if mode is CaseMode.MIXED and i + 1 < len(toks) and not eng and not tok.text.isupper():
            # (An English or ALL-CAPS word is not _proper: no mixed pair starts there.)
            end = self._mixed_pair(text, toks, i)
            if end > i:
                add(i, end, _PAIR)
                return
        # Alone, a name must have no everyday reading at all ("Healey", not "Tan" or "Prior"),
        # unless mixed-case writing capitalises it mid-sentence and its name sense dominates
        # ("Hannah", not "Will").
        if len(tok.text) < 3:
            return  # (a lexicon name: tested above)
        if (mode is not CaseMode.MIXED or eng) and w.is_word(tok.low):
            return
        if mode is CaseMode.MIXED and tok.text.isupper() and len(tok.text) <= 4:
            return  # an acronym in mixed-case text
        if mode is CaseMode.MIXED:
            # Capitalised mid-sentence (sentence starts are capitalised anyway).
            before = text[max(0, tok.start - 3) : tok.start].rstrip(" \t")
            if not before or before[-1] in ".!?:\n":
                # A sentence start proves nothing; a name with no everyday reading still counts
                # ("Tomomi is from ..."), more weakly; so does a name-first word ("David")
                # opening a sentence that goes on in lower case or as a speaker label ("John:").
                if tok.text.isupper() or eng:
                    return
                after = text[tok.end : tok.end + 2]
                first_name = w.first_rank(tok.low) <= min(1000, w.last_rank(tok.low))
                if w.is_word(tok.low) and not (
                    first_name and (after[:1] == ":" or (after[:1] == " " and after[1:2].islower()))
                ):
                    return
                add(i, i + 1, _SINGLE_START)
                return
            add(i, i + 1, _SINGLE)
        elif w.first_rank(tok.low) <= _SINGLE_FIRST_RANK:
            # Without case evidence only well-known first names stand alone ("SUSAN").
            add(i, i + 1, _SINGLE)

    def _signoffs(self, text: str, toks: list[Token], mode: CaseMode) -> list[Span]:
        """Short segments on their own (line or wide gap) made of names: signatures."""
        out: list[Span] = []
        w = self._w
        for a, b in segments(text):
            lo = bisect_left(toks, a, key=token_start)
            hi = bisect_left(toks, b, key=token_start)
            seg = toks[lo:hi]
            if not 2 <= len(seg) <= 4 or seg[-1].end > b:
                continue
            if any(ch not in " .-,'\u2019" for ch in between(text, seg, a, b)):
                continue
            good = all(self._is_initial(text, t) or self._ok_medium(t, mode) for t in seg)
            named = any(w.is_name(t.low) and not w.is_english(t.low) for t in seg)
            if good and named:
                out.append(Span(seg[0].start, seg[-1].end, Category.NAME, _SIGNOFF, NAME))
        return out

    def find_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        """Return the spans of each text."""
        return [self.find(t) for t in texts]


@register(NAME)
def _factory(settings: Settings) -> NameContextRecognizer:
    del settings  # the tier has no settings yet; the signature is the registry's contract
    return NameContextRecognizer(default_word_classes())
