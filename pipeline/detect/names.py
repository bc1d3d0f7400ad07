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

The code is split in three layers: per-word tests (:mod:`pipeline.detect.name_words`), span
growing (:mod:`pipeline.detect.name_growth`) and, here, the loop over cue words.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.config import Settings
from pipeline.detect.fastspan import new_span
from pipeline.detect.name_cues import (
    AFTER_WEAK,
    AFTER_WORDS,
    CREDENTIALS,
    FAMILY_WORDS,
    LINKED_VERBS,
    RELATIONS,
    ROLES,
    TITLE_FORMS,
    TITLES,
    VERBS,
    lower_sentence_starts,
    name_end,
    split_glued,
)
from pipeline.detect.name_growth import AFTER, INITIAL, MEDIUM, NAME, STRONG
from pipeline.detect.name_rules import NameRules
from pipeline.detect.name_words import COMMON_STOP
from pipeline.detect.registry import register
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.detect.wordclass import (
    CaseMode,
    analyse,
    default_word_classes,
    propagate,
)

__all__ = ["NAME", "NameContextRecognizer"]

#: The two trigger groups of :meth:`NameContextRecognizer.find`, each one set look-up a token.
_BEFORE_NAME = TITLES | ROLES | RELATIONS | VERBS
_AFTER_NAME = CREDENTIALS | AFTER_WORDS | AFTER_WEAK
#: Every word the main loop reacts to ("d" as in "d/w Smith").
_CUES = _BEFORE_NAME | _AFTER_NAME | FAMILY_WORDS | TITLE_FORMS.keys() | {"d"}
#: Cues also read backwards, as a word after the name: "(daughter)", "(resident)", "family".
_AFTER_ONLY = RELATIONS | ROLES | FAMILY_WORDS
_SPECIAL = _AFTER_ONLY | TITLE_FORMS.keys()
#: Hyphen-glued parts that make a token two words: function words and cue words.
_GLUE_WORDS = COMMON_STOP | RELATIONS | TITLES


def _glue_part(part: str) -> bool:
    return part in _GLUE_WORDS


_REPEAT = 0.6


class NameContextRecognizer(NameRules):
    """Finds person names by context and lexicons; see the module docstring."""

    name = NAME
    categories = frozenset({Category.NAME})

    def find(self, text: str) -> list[Span]:
        """Return the name spans in ``text``."""
        toks, mode = analyse(text)
        if not toks:
            return []
        # "DAUGHTER-KRISSY", "?REASSON-DR. WILLIAMS": a cue glued to a word by a hyphen.
        toks = split_glued(toks, _glue_part, self._w.is_stop)
        spans: list[Span] = []
        n = len(toks)
        mixed = mode is CaseMode.MIXED

        def add(a: int, b: int, score: float) -> None:
            if b <= a:
                return
            spans.append(new_span(toks[a].start, name_end(toks[b - 1]), Category.NAME, score, NAME))
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

        lower_starts: bool | None = None  # computed on the first capital of LOWER text
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
            if low in _SPECIAL:  # one set look-up for the rare cues below
                low = TITLE_FORMS.get(low, low)  # "DR'S CAMARDA AND CLIFFORD"
                if low in _AFTER_ONLY and self._kin_after(text, toks, i, mode, add):
                    continue  # "URSLA MORETTI (DAUGHTER)", "KEEP ROMERO FAMILY AWARE"
            if (
                i + 1 < n
                and toks[i + 1].low in RELATIONS
                and name_end(tok) != tok.end
                and text[tok.end : toks[i + 1].start] == " "
                and self._ok_medium(tok, mode)
            ):
                # "Ingrid's daughter": a possessive before a relation is a person.
                add(i, i + 1, AFTER)
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
                        ok = cand.low not in COMMON_STOP  # "Dr. Foley": eponym or not
                    if not ok and mode is CaseMode.MIXED:
                        ok = self._titled_pair(text, toks, j)
                    if text[tok.end : cand.start] not in (" ", ". ", ".", "  ", ".  "):
                        ok = False  # "MS: pt ...", "Dr- aware": a heading, not a title
                    elif not ok and self._particle(text, toks, j):
                        add(j, j + 2, STRONG)  # "Dr. o rourke": an Irish O written apart
                        continue
                    score = STRONG
                elif low in ROLES:
                    ok = self._is_initial(text, cand) or self._ok_medium(cand, mode, lower_ok=True)
                    score = MEDIUM
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
                    score = MEDIUM
                if not ok and low not in TITLES:
                    ok = self._pair_rescue(text, toks, j, mode)
                if ok and low in LINKED_VERBS:
                    ok = self._linked_name(toks, i, j, mode)
                if not ok and low in RELATIONS:
                    # "son bill called": a common first name right after a relation.
                    ok = not self._non_name(cand) and self._w.first_rank(cand.low) <= 300
                    ok = ok or self._titled_after_relation(text, tok, cand, mode)
                    # "GIRLFRIEND EVE": a first name that is also charting shorthand
                    # ("eve" for evening), never a function word.
                    ok = ok or (self._eponym_first(cand) and text[tok.end : cand.start] == " ")
                add(j, self._extend(text, toks, j, mode, ok, titled=low in TITLES), score)
                if (
                    low in CREDENTIALS
                    and low != "pa"  # "PA line": the pulmonary artery far more often
                    and i > 0
                    and (
                        "," in text[toks[i - 1].end : tok.start]
                        # "Andrwe O'connell MD spoke": no name after the role, so the
                        # capitals of mixed-case text read it as a credential.
                        # ("Ostomy RN": a surname from the lexicons must sit right there.)
                        or (mixed and not ok and self._named(toks[i - 1]))
                    )
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
                    add(i, self._extend(text, toks, i + 1, mode, True), INITIAL)
            elif not mixed or tok.text[0].isupper():
                # In mixed-case text only a capitalised word can be a lexicon hit. In
                # lower-case text a capitalised word stands out as in mixed-case text
                # ("once Natalie woke up"): judged by the mixed-case rules, when the
                # writer does not capitalise sentences (prose with few capitals is
                # LOWER too, and its sentence-start capitals prove nothing).
                word_mode = mode
                if mode is CaseMode.LOWER and tok.text[0].isupper() and not tok.text.isupper():
                    if lower_starts is None:
                        lower_starts = lower_sentence_starts(text)
                    if lower_starts:
                        word_mode = CaseMode.MIXED
                self._lexicon_hits(text, toks, i, word_mode, add)
        spans.extend(self._signoffs(text, toks, mode))
        spans.extend(self._rule_spans(text, toks, mode, spans))
        if spans and mode is CaseMode.MIXED:
            spans.extend(self._lists(text, toks, spans))
        spans.extend(propagate(toks, spans, self._w, score=_REPEAT, recognizer=NAME))
        return spans

    def find_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        """Return the spans of each text."""
        return [self.find(t) for t in texts]


@register(NAME)
def _factory(settings: Settings) -> NameContextRecognizer:
    del settings  # the tier has no settings yet; the signature is the registry's contract
    return NameContextRecognizer(default_word_classes())
