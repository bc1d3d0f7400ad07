"""spaCy NER tier: PERSON as NAME; GPE, LOC, FAC and facility ORGs as GEO.

The model (``settings.models.spacy_model``, a package name or a path) loads with only the NER
component: the tagger, parser, lemmatizer and the shared ``tok2vec`` are excluded (the small
English model's NER has its own embedding layer), which measured 1.45x faster than keeping them.

Robust to casing: clinical notes are often ALL CAPS or all lower case, where a cased model sees
no proper-noun signal. Such text is truecased first (lexicon names Capitalised, everything else
lower case). Only ASCII-stable letters change case, so every offset of the copy is an offset of
the original; characters whose case mapping changes length ("ß" -> "SS") are left as they are.

Long texts are cut into chunks at line (else space) boundaries of at most ``_CHUNK_CHARS``, so a
multi-megabyte input runs in linear time and bounded memory; chunks of all texts in a batch go
through ``nlp.pipe`` together. Hits are filtered by the clinical stop list (no "CAD", "Lasix").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

from pipeline.config import Settings
from pipeline.detect.places import FACILITY_HEADS
from pipeline.detect.registry import register
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.detect.wordclass import (
    CaseMode,
    WordClasses,
    analyse,
    case_mode,
    default_word_classes,
    propagate,
    tokenize,
)
from pipeline.errors import ConfigError

NAME = "spacy_ner.v1"
_CHUNK_CHARS = 5000
_EXCLUDE = (
    "tok2vec",
    "tagger",
    "parser",
    "senter",
    "attribute_ruler",
    "lemmatizer",
    "morphologizer",
)
_LABELS = {"PERSON": Category.NAME, "GPE": Category.GEO, "LOC": Category.GEO, "FAC": Category.GEO}
_SINGLE_FIRST_RANK = 1000
_SCORES = {Category.NAME: 0.6, Category.GEO: 0.55}


@cache
def load_nlp(model: str) -> Any:
    """Load ``model`` (name or path) with only its NER component (cached per process).

    Raises:
        ConfigError: the model is not installed or has no NER component.
    """
    import spacy

    try:
        nlp = spacy.load(model, exclude=list(_EXCLUDE))
    except (OSError, ImportError) as exc:
        raise ConfigError(f"spaCy model {model!r} is not available") from exc
    if "ner" not in nlp.pipe_names:
        raise ConfigError(f"spaCy model {model!r} has no 'ner' component")
    return nlp


def chunks(text: str, limit: int = _CHUNK_CHARS) -> Iterator[tuple[int, int]]:
    """Yield (start, end) pieces of ``text`` of at most ``limit`` chars, cut at line ends.

    A piece without a newline is cut at its last space, else hard at ``limit``.
    """
    n = len(text)
    start = 0
    while start < n:
        end = min(start + limit, n)
        if end < n:
            cut = text.rfind("\n", start, end)
            if cut <= start:
                cut = text.rfind(" ", start, end)
            if cut > start:
                end = cut + 1
        yield start, end
        start = end


def truecase(text: str, words: WordClasses) -> str:
    """Return ``text`` with lexicon names Capitalised and other words lower-cased.

    Used on ALL-CAPS and all-lower-case text only; the result has the same length and every
    character keeps its offset (a word whose case mapping would change length is kept as is).
    """
    toks = tokenize(text)
    out: list[str] = []
    pos = 0
    for tok in toks:
        out.append(text[pos : tok.start])
        low = tok.low
        # Only names without an everyday reading: "Tan" in "thick TAN sputum" stays a colour.
        if words.is_name(low) and not words.is_stop(low) and not words.is_word(low):
            new = tok.text[:1].upper() + low[1:]
        else:
            new = low
        out.append(new if len(new) == len(tok.text) else tok.text)
        pos = tok.end
    out.append(text[pos:])
    result = "".join(out)
    return result if len(result) == len(text) else text


class SpacyNerRecognizer:
    """spaCy NER over bounded, case-normalised chunks; see the module docstring."""

    name = NAME
    categories = frozenset({Category.NAME, Category.GEO})

    def __init__(self, nlp: Any, words: WordClasses, *, batch_size: int = 32) -> None:
        self._nlp = nlp
        self._w = words
        self._batch_size = batch_size

    def find(self, text: str) -> list[Span]:
        """Return the NER spans of ``text``."""
        return self.find_batch([text])[0]

    def find_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        """Return the spans of each text; all pieces of the batch share one ``nlp.pipe``."""
        pieces: list[tuple[int, int, str, CaseMode]] = []  # (text, offset, input, mode)
        for i, text in enumerate(texts):
            for a, b in chunks(text):
                mode = case_mode(text[a:b])
                for la, lb in self._candidate_lines(text, a, b, mode):
                    piece = text[la:lb]
                    if mode is not CaseMode.MIXED:
                        piece = truecase(piece, self._w)
                    pieces.append((i, la, piece, mode))
        out: list[list[Span]] = [[] for _ in texts]
        docs = self._nlp.pipe((p[2] for p in pieces), batch_size=self._batch_size)
        for (i, offset, _, mode), doc in zip(pieces, docs, strict=True):
            for ent in doc.ents:
                label = self._label(ent, doc.text, mode)
                if label is not None:
                    out[i].append(
                        Span(
                            offset + ent.start_char,
                            offset + ent.end_char,
                            label,
                            _SCORES[label],
                            NAME,
                        )
                    )
        for i, text in enumerate(texts):
            out[i].extend(self._spread(text, out[i]))
        return out

    def _spread(self, text: str, spans: list[Span]) -> list[Span]:
        """Other mentions in the same text of distinctive words the model found.

        The model sees each piece separately and misses a name it tagged elsewhere when the
        context is thin ("Thornbury aware"); the document-level rule of the other tiers
        (:func:`pipeline.detect.wordclass.propagate`) adds them back.
        """
        if not spans:
            return []
        toks, _ = analyse(text)
        out: list[Span] = []
        for label in (Category.NAME, Category.GEO):
            # Only multi-word person entities ("Margaret Thornbury") spread: a lone word the
            # model tagged as a person is too often a product or a misspelling.
            found = [
                sp
                for sp in spans
                if sp.label is label and (label is Category.GEO or " " in text[sp.start : sp.end])
            ]
            out.extend(propagate(toks, found, self._w, score=_SCORES[label] - 0.1, recognizer=NAME))
        return out

    def _candidate_lines(
        self, text: str, start: int, end: int, mode: CaseMode
    ) -> list[tuple[int, int]]:
        """Return the runs of lines in ``text[start:end]`` worth sending to the model.

        The model only adds names and places that look like proper nouns: a capitalised word
        that is not a sentence start (mixed case), or a lexicon name (ALL CAPS / lower case),
        in either case not clinical vocabulary or an everyday word. Lines without such a word
        are skipped; adjacent kept lines go together so the model keeps their context.
        """
        w = self._w
        runs: list[tuple[int, int]] = []
        pos = start
        while pos < end:
            nl = text.find("\n", pos, end)
            line_end = end if nl < 0 else nl + 1
            keep = False
            for tok in tokenize(text[pos:line_end]):
                low = tok.low
                if len(low) < 2 or w.is_stop(low):
                    continue
                if mode is CaseMode.MIXED:
                    if not tok.text[0].isupper() or tok.start == 0:
                        continue
                    before = text[pos + tok.start - 2 : pos + tok.start].strip()
                    if before[-1:] in (".", "!", "?", ":"):
                        continue
                    if w.is_english(low) and not w.is_name(low):
                        continue
                elif not (w.is_name(low) and not w.is_english(low)):
                    continue
                keep = True
                break
            if keep:
                if runs and runs[-1][1] == pos:
                    runs[-1] = (runs[-1][0], line_end)
                else:
                    runs.append((pos, line_end))
            pos = line_end
        return runs

    def _label(self, ent: Any, text: str, mode: CaseMode = CaseMode.MIXED) -> Category | None:
        """Map an entity to our label, or None when it is clinical vocabulary or noise.

        An entity must hold at least one proper-noun-like word: a lexicon name, or (in
        mixed-case text) a capitalised word that is neither an everyday word nor clinical.
        """
        words = [t for t in ent if t.is_alpha]
        if not words or any(any(c.isdigit() for c in t.text) for t in ent):
            return None
        lows = [t.lower_ for t in words]
        if mode is CaseMode.MIXED and not any(
            t.text[:1].isupper() and not (t.text.isupper() and len(t.text) <= 4) for t in words
        ):
            # Mixed-case writing capitalises proper nouns: an entity of lower-case words and
            # short acronyms ("heparin", "IV", "CA") is the model reading clinical shorthand.
            return None
        label = _LABELS.get(ent.label_)
        if ent.label_ == "ORG" and any(w in FACILITY_HEADS for w in lows):
            label = Category.GEO
        if label is None:
            return None
        w = self._w
        proper = False
        single = len([x for x in lows if not w.is_stop(x)]) == 1
        for tok, low in zip(words, lows, strict=True):
            if w.is_stop(low) or len(low) < 2:
                continue
            if not tok.text[:1].isupper() and w.is_word(low):
                continue  # an everyday word the (truecased) input left in lower case: "tan"
            if w.is_name(low) and not w.is_english(low):
                # Alone, a name that is also a word ("Tan", "Brown") is not enough.
                proper = proper or not (
                    single and w.is_word(low) and w.first_rank(low) > _SINGLE_FIRST_RANK
                )
            elif tok.text[0].isupper() and not tok.text.isupper() and not w.is_english(low):
                proper = True
            elif label is Category.GEO and tok.text[:1].isupper() and not tok.text.isupper():
                # Places are often everyday words too ("Chicago", "Harbor"): Title-case counts.
                proper = True
        if (
            proper
            and len(words) == 1
            and not w.is_name(lows[0])
            and _treatment_context(text, ent.start_char, ent.end_char)
        ):
            return None  # "started on Ancef 2g", "covered with Mepilex": a product
        return label if proper else None


#: Words before a drug, device or dressing: "started on", "covered with", "restart".
_TREATMENT_BEFORE = frozenset(
    [
        "on",
        "with",
        "started",
        "start",
        "restart",
        "restarted",
        "resumed",
        "given",
        "receiving",
        "received",
        "continue",
        "continued",
        "cont",
        "applied",
        "placed",
        "using",
        "via",
        "changed",
        "titrated",
        "increased",
        "decreased",
        "weaned",
        "held",
        "hold",
        "add",
        "added",
        "dc'd",
        "d/c",
        "of",
        "per",
    ]
)
_DOSE_RE = re.compile(r"\s*(?:\d|x\s?\d|gtt|drip|dsg|dressing|mdi|neb|po\b|iv\b)", re.I)


def _treatment_context(text: str, start: int, end: int) -> bool:
    """Return True when a single unknown word is used like a product.

    That is: after a treatment word, or followed by a dose or a route ("Ancef 2g").
    """
    before = text[max(0, start - 24) : start].split()
    # A word ending a sentence ("given. Margaret visited") is no context for the next one.
    if (
        before
        and not before[-1].endswith((".", ";", ":"))
        and before[-1].lower() in _TREATMENT_BEFORE
    ):
        return True
    return _DOSE_RE.match(text, end) is not None


@register(NAME)
def _factory(settings: Settings) -> SpacyNerRecognizer:
    nlp = load_nlp(settings.models.spacy_model)
    return SpacyNerRecognizer(nlp, default_word_classes(), batch_size=settings.detection.batch_size)
