"""Data shipped with de-identification: surrogate pools and the restricted ZIP3 list.

Loaded lazily and once per process (``functools.cache``), never at import time.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from pipeline.deid.context import normalise
from pipeline.errors import ConfigError

_DATA = "pipeline.deid.data"


def _read_text(name: str) -> str:
    try:
        return resources.files(_DATA).joinpath(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"de-identification data file {name!r} is missing") from exc


def _read_list(name: str) -> tuple[str, ...]:
    lines = (line.strip() for line in _read_text(name).splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def _read_yaml(name: str) -> dict[str, object]:
    try:
        doc = yaml.safe_load(_read_text(name))
    except yaml.YAMLError as exc:
        raise ConfigError(f"de-identification data file {name!r} is not valid YAML") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"de-identification data file {name!r} must hold a mapping")
    return doc


def _str_list(doc: dict[str, object], key: str) -> tuple[str, ...]:
    value = doc.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"data key {key!r} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class NamePools:
    """Surrogate name pools, indexed by initial letter for initial-preserving choice."""

    first: tuple[str, ...]
    last: tuple[str, ...]
    first_set: frozenset[str]
    by_initial: dict[tuple[str, str], tuple[str, ...]]
    letters: tuple[str, ...]


@cache
def name_pools() -> NamePools:
    """Return the first/last name pools (``first_names.txt``, ``last_names.txt``)."""
    first = _read_list("first_names.txt")
    last = _read_list("last_names.txt")
    by_initial: dict[tuple[str, str], tuple[str, ...]] = {}
    for role, pool in (("first", first), ("last", last)):
        for letter in string.ascii_uppercase:
            by_initial[(role, letter)] = tuple(n for n in pool if n[0] == letter)
    # Initials map only to letters both pools can serve with some choice left.
    letters = tuple(
        x
        for x in string.ascii_uppercase
        if len(by_initial[("first", x)]) >= 3 and len(by_initial[("last", x)]) >= 3
    )
    return NamePools(
        first=first,
        last=last,
        first_set=frozenset(normalise(n) for n in first),
        by_initial=by_initial,
        letters=letters,
    )


@dataclass(frozen=True)
class PlacePools:
    """Word pools for fictional places, and the words a GEO span keeps."""

    words: tuple[str, ...]
    street_suffixes: tuple[str, ...]
    generic: frozenset[str]
    states: tuple[str, ...]
    state_codes: frozenset[str]


@cache
def place_pools() -> PlacePools:
    """Return the place pools (``places.yaml``)."""
    doc = _read_yaml("places.yaml")
    prefixes = _str_list(doc, "city_prefixes")
    suffixes = _str_list(doc, "city_suffixes")
    compounds = tuple(p + s for p in prefixes for s in suffixes)
    words = compounds + _str_list(doc, "street_names")
    return PlacePools(
        words=words,
        street_suffixes=_str_list(doc, "street_suffixes"),
        generic=frozenset(w.casefold() for w in _str_list(doc, "generic_words")),
        states=_str_list(doc, "states"),
        state_codes=frozenset(_str_list(doc, "state_codes")),
    )


@dataclass(frozen=True)
class RestrictedZip3:
    """The ZIP3 prefixes that must become ``000``, with where the list comes from."""

    prefixes: frozenset[str]
    source: str
    census_year: int


@cache
def restricted_zip3() -> RestrictedZip3:
    """Return the restricted ZIP3 list (``restricted_zip3.yaml``)."""
    doc = _read_yaml("restricted_zip3.yaml")
    prefixes = _str_list(doc, "prefixes")
    if not all(len(p) == 3 and p.isdigit() for p in prefixes):
        raise ConfigError("restricted ZIP3 prefixes must be three digits")
    source, year = doc.get("source"), doc.get("census_year")
    if not isinstance(source, str) or not isinstance(year, int):
        raise ConfigError("restricted_zip3.yaml needs 'source' and 'census_year'")
    return RestrictedZip3(prefixes=frozenset(prefixes), source=source, census_year=year)
