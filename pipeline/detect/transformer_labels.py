"""Label handling of the transformer tier: tag schemes, Safe Harbor label maps, entity decoding.

A token-classification model emits tags such as ``B-PATIENT``, ``I-DATE``, ``U-HOSP`` or a bare
``AGE`` (IO scheme). This module splits a tag into its scheme prefix and entity type, maps the
entity type to a Safe Harbor :class:`~pipeline.detect.taxonomy.Category` (built-in maps for the
common clinical de-identification label sets, optionally overridden by a YAML file), and decodes
a sequence of word-level tags into entities.

Nothing here sees more text than the characters of one age span (to apply the "over 89" rule),
and nothing here logs text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from pipeline.detect.taxonomy import Category
from pipeline.errors import ConfigError

#: Tag prefixes of the BIO / IOB2 / BILOU / BIOES schemes.
_BEGIN = frozenset("BUS")  # a tag that starts a new entity
_END = frozenset("LUES")  # a tag after which the entity is closed
_PREFIXES = frozenset("BILUES")

#: Value of a label map entry that drops an entity type (not Safe Harbor PHI).
DROP = "drop"

#: Entity types (normalised: upper case, ``_``/space -> ``-``) of the common clinical
#: de-identification label sets -> Safe Harbor label, or ``None`` for "not Safe Harbor PHI".
#: Sources: i2b2 2014 (PATIENT, DOCTOR, ...), obi/deid_roberta_i2b2 (STAFF, HOSP, LOC, PATORG,
#: OTHERPHI, ID), StanfordAIMI/stanford-deidentifier-* (HCW, HOSPITAL, VENDOR, ID), i2b2 2006,
#: PhysioNet deid and generic NER sets (PER, LOC, ORG, ...).
#:
#: Decisions: hospitals and rooms are GEO (the development corpora label hospital names GEO, and
#: a facility name narrows a location below state level); states are GEO as well, a deliberate
#: over-redaction (a state may stay under Safe Harbor, but models often confuse states with
#: cities and counties); countries, organisations, vendors, departments and professions are not
#: Safe Harbor identifiers and are dropped (``models/label_maps/conservative.yaml`` keeps them).
#: An ID type the model cannot narrow (``ID``, ``IDNUM``, ``OTHERPHI``) is OTHER_ID.
BUILTIN_LABEL_MAP: dict[str, Category | None] = {
    # A. names
    "PATIENT": Category.NAME,
    "DOCTOR": Category.NAME,
    "USERNAME": Category.NAME,
    "STAFF": Category.NAME,
    "HCW": Category.NAME,
    "NAME": Category.NAME,
    "PERSON": Category.NAME,
    "PER": Category.NAME,
    "RELATIVE": Category.NAME,
    # B. geography
    "HOSPITAL": Category.GEO,
    "HOSP": Category.GEO,
    "ROOM": Category.GEO,
    "STREET": Category.GEO,
    "CITY": Category.GEO,
    "STATE": Category.GEO,
    "ZIP": Category.GEO,
    "LOCATION-OTHER": Category.GEO,
    "LOCATION": Category.GEO,
    "LOC": Category.GEO,
    "GPE": Category.GEO,
    "ADDRESS": Category.GEO,
    "COUNTRY": None,
    "ORGANIZATION": None,
    "ORG": None,
    "PATORG": None,
    "VENDOR": None,
    "DEPARTMENT": None,
    "PROFESSION": None,
    # C. dates and ages (an age is kept only when its value is over 89)
    "DATE": Category.DATE,
    "DATE-TIME": Category.DATE,
    "AGE": Category.AGE_OVER_89,
    # D-F. contacts
    "PHONE": Category.PHONE,
    "FAX": Category.FAX,
    "EMAIL": Category.EMAIL,
    "URL": Category.URL,
    "WEB": Category.URL,
    "IPADDR": Category.IP,
    "IP": Category.IP,
    # G-M, R. identifiers
    "SSN": Category.SSN,
    "MEDICALRECORD": Category.MRN,
    "MRN": Category.MRN,
    "HEALTHPLAN": Category.HEALTH_PLAN,
    "ACCOUNT": Category.ACCOUNT,
    "LICENSE": Category.LICENSE,
    "VEHICLE": Category.VEHICLE,
    "DEVICE": Category.DEVICE,
    "BIOID": Category.BIOMETRIC,
    "IDNUM": Category.OTHER_ID,
    "ID": Category.OTHER_ID,
    "OTHERPHI": Category.OTHER_ID,
}


def normalize_type(entity_type: str) -> str:
    """Return the canonical form of an entity type: upper case, ``_`` and spaces as ``-``."""
    return entity_type.strip().upper().replace("_", "-").replace(" ", "-")


def split_tag(tag: str) -> tuple[str, str | None]:
    """Split a model tag into ``(prefix, entity type)``.

    ``"O"`` gives ``("O", None)``; ``"B-PATIENT"`` gives ``("B", "PATIENT")``; a tag with no
    scheme prefix (IO scheme, e.g. ``"AGE"``) gives ``("I", "AGE")``.
    """
    text = tag.strip()
    if text.upper() in {"O", ""}:
        return "O", None
    if len(text) > 2 and text[1] in "-_" and text[0].upper() in _PREFIXES:
        return text[0].upper(), normalize_type(text[2:])
    return "I", normalize_type(text)


class LabelMapFile(BaseModel):
    """A label-map override file (YAML).

    Example::

        version: 1
        extends_builtin: true      # false: only the labels below are mapped
        labels:
          VENDOR: GEO              # a Safe Harbor label ...
          PROFESSION: drop         # ... or "drop"
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    extends_builtin: bool = True
    labels: dict[str, str]

    @field_validator("labels")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = {c.value for c in Category} | {DROP}
        bad = sorted({v for v in value.values() if v not in allowed})
        if bad:
            raise ValueError(f"unknown target label(s) {bad}; use a Safe Harbor label or 'drop'")
        return value


def load_label_map(path: Path | None) -> dict[str, Category | None]:
    """Return the label map: the built-in one, overridden by the YAML file at ``path`` if given.

    Raises:
        ConfigError: the file is missing, not YAML, or does not validate.
    """
    if path is None:
        return dict(BUILTIN_LABEL_MAP)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = LabelMapFile.model_validate(raw)
    except OSError as exc:
        raise ConfigError(f"cannot read label map {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"label map {path} is not valid YAML") from exc
    except ValidationError as exc:
        raise ConfigError(f"label map {path} is invalid: {exc.error_count()} error(s)") from exc
    base = dict(BUILTIN_LABEL_MAP) if parsed.extends_builtin else {}
    for entity_type, target in parsed.labels.items():
        base[normalize_type(entity_type)] = None if target == DROP else Category(target)
    return base


def model_categories(
    id2label: Mapping[int, str], label_map: Mapping[str, Category | None]
) -> tuple[frozenset[Category], list[str]]:
    """Return the Safe Harbor labels a model can emit and its entity types left unmapped."""
    categories: set[Category] = set()
    unmapped: set[str] = set()
    for tag in id2label.values():
        _, entity_type = split_tag(tag)
        if entity_type is None:
            continue
        if entity_type not in label_map:
            unmapped.add(entity_type)
        elif (category := label_map[entity_type]) is not None:
            categories.add(category)
    return frozenset(categories), sorted(unmapped)


@dataclass(frozen=True, slots=True)
class Word:
    """One word with the tag of its aggregated sub-tokens (offsets only, never text)."""

    start: int
    end: int
    prefix: str
    entity_type: str | None
    score: float


@dataclass(frozen=True, slots=True)
class Entity:
    """A decoded entity: consecutive words of one entity type."""

    start: int
    end: int
    entity_type: str
    score: float


def decode_entities(words: Iterable[Word]) -> list[Entity]:
    """Join word tags into entities (BIO, IOB1, BILOU, BIOES and IO schemes).

    ``B``/``U``/``S`` start an entity; ``I``/``L``/``E`` continue the open entity of the same
    type, or start one when none is open (a model's ``I-`` without ``B-`` still counts, which
    favours recall); ``L``/``U``/``E``/``S`` close it; ``O`` closes it. An entity's score is the
    mean of its words' scores.
    """
    entities: list[Entity] = []
    current: list[Word] = []

    def close() -> None:
        if current:
            score = sum(w.score for w in current) / len(current)
            entities.append(
                Entity(current[0].start, current[-1].end, current[0].entity_type or "", score)
            )
            current.clear()

    for word in words:
        if word.entity_type is None:
            close()
            continue
        if word.prefix in _BEGIN or not current or current[-1].entity_type != word.entity_type:
            close()
        current.append(word)
        if word.prefix in _END:
            close()
    close()
    return entities


_DIGITS = re.compile(r"\d{1,3}")
_OVER_89_WORDS = ("ninety", "hundred")


def age_over_89(span_text: str) -> bool:
    """Return whether an age span states an age of 90 or more (digits or English words).

    Only such ages are Safe Harbor identifiers; younger ages are dropped.
    """
    lowered = span_text.lower()
    if any(word in lowered for word in _OVER_89_WORDS):
        return True
    return any(int(m.group()) >= 90 for m in _DIGITS.finditer(span_text))


def entity_spans(
    entities: Sequence[Entity], text: str, label_map: Mapping[str, Category | None]
) -> list[tuple[int, int, Category, float]]:
    """Map entities to ``(start, end, label, score)`` Safe Harbor spans, dropping non-PHI."""
    spans: list[tuple[int, int, Category, float]] = []
    for entity in entities:
        category = label_map.get(entity.entity_type)
        if category is None:
            continue
        if category is Category.AGE_OVER_89 and not age_over_89(text[entity.start : entity.end]):
            continue
        spans.append((entity.start, entity.end, category, entity.score))
    return spans
