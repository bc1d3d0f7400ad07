"""Span growing for the name tier: from a cue or a lexicon hit to the whole name.

Split from :mod:`pipeline.detect.names`: :class:`NameGrowth` extends a name forwards over
further parts ("Dr. Ruth T Okafor"), walks back from a credential or verb ("J. Smith, RN",
"E. Mason aware"), pairs first and last names from the lexicons, and collects the names
listed next to a found one and the sign-off lines made of names.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

from pipeline.detect.name_cues import (
    AFTER_WEAK,
    AFTER_WORDS,
    LINKS,
    TITLES,
    between,
    name_end,
    segments,
    sentence_start,
)
from pipeline.detect.name_words import ENG, NAMED, NON, NameWords
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.detect.wordclass import CaseMode, Token, token_end, token_start

NAME = "name_context.v1"
AddFn = Callable[[int, int, float], None]
#: What may separate a cue from its name: punctuation and quotes ('daughter "sarah"').
_TRIGGER_GAP = " ,.:;-(/'?\"\u201c"

STRONG, MEDIUM = 0.9, 0.8
_SINGLE_FIRST_RANK = 500
_SINGLE_START = 0.35
_LISTED = 0.5
PAIR, _SIGNOFF, INITIAL, AFTER, _SINGLE = 0.7, 0.65, 0.7, 0.6, 0.4


class NameGrowth(NameWords):
    """Grows name spans from a starting token; see the module docstring."""

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

    def _after_trigger(self, text: str, toks: list[Token], i: int) -> int:
        """Return the index of the first name candidate after the trigger at ``i``."""
        j = i + 1
        # Skip link words and a second title ("spoke with dr smith", "wife, Mrs Jones").
        while j < len(toks) and j - i <= 3 and (toks[j].low in LINKS or toks[j].low in TITLES):
            j += 1
        if j < len(toks) and text[toks[j - 1].end : toks[j].start].strip(_TRIGGER_GAP):
            return len(toks)  # something other than punctuation sits between: not a name
        if j < len(toks) and toks[j].start - toks[j - 1].end > 4:
            return len(toks)  # too far: the trigger belongs to something else
        return j

    def _before(
        self,
        text: str,
        toks: list[Token],
        i: int,
        mode: CaseMode,
        add: AddFn,
        *,
        weak: bool = False,
    ) -> None:
        """Walk back over the name before a credential or a verb ("J. Smith, RN", "X aware").

        Before a plain verb ("aware") everyday words are too risky: names only, unless an
        initial precedes them ("E. Mason aware"); before a weak verb ("ordered", "called")
        every word must be a lexicon name or an initial ("J KOWALCZYK ORDERED"); ``weak``
        asks for that rule whatever the word at ``i`` is.
        """
        if i == 0:
            return
        k = i - 1
        gap = text[toks[k].end : toks[i].start]
        if gap.strip(" ,-()") or len(gap) > 3:
            return
        strict = toks[i].low in AFTER_WORDS
        weak = weak or toks[i].low in AFTER_WEAK
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
            add(start + 1, k + 1, MEDIUM if not (strict or weak) else AFTER)

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
        if not ok and not (strict or weak) and start == k and start > 0:
            # "Bernard Foley CRT": a surname that is also clinical vocabulary, right after
            # a capitalised first name and before a credential.
            ok = self._eponym(t, mode) and self._capital_first(toks[start - 1], mode)
        if ok and (strict or weak) and self._w.is_english(t.low):
            ok = initial_before
        return ok and not (weak and not self._w.is_name(t.low))

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
        first_named = self._facts(first.low) & NAMED
        if not (first_named or self._facts(last.low) & NAMED):
            return i
        if j == i + 1 and not first_named and sentence_start(text, first):
            return i
        return j + 1

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
        if facts & NON:
            return
        if not facts & NAMED:
            # Most words: a lexicon pair needs a first name of rank <= 3000 and a single hit
            # a lexicon name, both implying is_name; only a mixed-case pair can start here,
            # at a word that is _proper (tested here first: most words are English or acronyms).
            if (
                mode is CaseMode.MIXED
                and i + 1 < len(toks)
                and not facts & ENG
                and not tok.text.isupper()
            ):
                end = self._mixed_pair(text, toks, i)
                if end > i:
                    add(i, end, PAIR)
            return
        eng = bool(facts & ENG)
        if w.first_rank(tok.low) <= 3000 and i + 1 < len(toks):
            nxt = toks[i + 1]
            if (
                self._gap_ok(text, tok, nxt)
                and w.last_rank(nxt.low) < 10**9
                and not self._non_name(nxt)
                and (mode is not CaseMode.MIXED or nxt.text[0].isupper())
            ):
                nxt_eng = bool(self._facts(nxt.low) & ENG)
                titled = mode is CaseMode.MIXED
                if (not eng and not nxt_eng) or (titled and not (eng and nxt_eng)):
                    add(i, i + 2, PAIR)
                    return
        if mode is CaseMode.MIXED and i + 1 < len(toks) and not eng and not tok.text.isupper():
            # (An English or ALL-CAPS word is not _proper: no mixed pair starts there.)
            end = self._mixed_pair(text, toks, i)
            if end > i:
                add(i, end, PAIR)
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
