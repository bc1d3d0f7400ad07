"""Name lexicons and word lists used by the name/location tiers.

The first/last-name lexicons come from the maintained ``names-dataset`` package (3.x). Loading
that package costs about 18 s and 2 GB of RAM (measured here), so the first use extracts a
compact, frequency-filtered lexicon (names ranked in the top few thousand of English-speaking
countries) and caches it as JSON under ``~/.cache/phi-pipeline``; later loads take milliseconds.
The extraction runs in a child process so the parent never holds the 2 GB dataset.

Curated word lists (clinical vocabulary that must never be a name, facility words, places) are
plain text data files under ``pipeline/detect/data/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from pipeline.errors import ConfigError

#: Bump when the extraction rule changes so stale caches are rebuilt.
LEXICON_VERSION = 2
#: English-speaking countries keep deeper rankings (the notes' surrogates are drawn from them);
#: every other country in the dataset contributes its most common names.
_COUNTRIES = ("US", "GB", "CA", "AU", "IE", "NZ", "ZA")
_FIRST_MAX_RANK = 4000
_LAST_MAX_RANK = 20000
_WORLD_FIRST_MAX_RANK = 1000
_WORLD_LAST_MAX_RANK = 2000

_DEFAULT_CACHE = Path.home() / ".cache" / "phi-pipeline"


@dataclass(frozen=True, slots=True)
class NameLexicon:
    """Lower-cased first and last names with their best rank (1 = most common)."""

    first: dict[str, int]
    last: dict[str, int]

    def is_first(self, word: str) -> bool:
        """Return True when ``word`` (any case) is a common first name."""
        return word.lower() in self.first

    def is_last(self, word: str) -> bool:
        """Return True when ``word`` (any case) is a common last name."""
        return word.lower() in self.last

    def is_name(self, word: str) -> bool:
        """Return True when ``word`` is a common first or last name."""
        low = word.lower()
        return low in self.first or low in self.last


def _extract_to(path: Path) -> None:
    """Extract the compact lexicon from ``names_dataset`` into ``path`` (runs in a child)."""
    from names_dataset import NameDataset

    def best_rank(info: dict[str, object], limit: int, world_limit: int) -> int | None:
        """Return the name's rank to keep (None to drop): English-speaking rank first."""
        ranks = info.get("rank") or {}
        if not isinstance(ranks, dict):
            return None
        home = [r for c, r in ranks.items() if c in _COUNTRIES and isinstance(r, int)]
        if home and min(home) <= limit:
            return min(home)
        world = [r for r in ranks.values() if isinstance(r, int)]
        if world and min(world) <= world_limit:
            # Ranked after every kept English-speaking name: a weaker signal.
            return limit + min(world)
        return None

    nd = NameDataset()
    out: dict[str, dict[str, int]] = {"first": {}, "last": {}}
    for key, table, limit, world_limit in (
        ("first", nd.first_names, _FIRST_MAX_RANK, _WORLD_FIRST_MAX_RANK),
        ("last", nd.last_names, _LAST_MAX_RANK, _WORLD_LAST_MAX_RANK),
    ):
        for name, info in table.items():
            rank = best_rank(info, limit, world_limit)
            # Keep alphabetic names only (hyphens/apostrophes allowed): digits are noise.
            if rank is None or len(name) < 2:
                continue
            if not name.replace("-", "").replace("'", "").isalpha():
                continue
            low = name.lower()
            if rank < out[key].get(low, 10**9):
                out[key][low] = rank
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": LEXICON_VERSION, **out}), encoding="utf-8")
    os.replace(tmp, path)


def lexicon_path(cache_dir: Path | None = None) -> Path:
    """Return where the compact lexicon is cached."""
    base = cache_dir or Path(os.environ.get("PHI_PIPELINE_CACHE", _DEFAULT_CACHE))
    return base / f"names_lexicon.v{LEXICON_VERSION}.json"


@cache
def load_name_lexicon(cache_dir: Path | None = None) -> NameLexicon:
    """Return the name lexicon, extracting and caching it on first use.

    Args:
        cache_dir: where to cache the compact lexicon (default ``~/.cache/phi-pipeline``).

    Raises:
        ConfigError: the dataset package is missing or the extraction failed.
    """
    path = lexicon_path(cache_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # A child process keeps the 2 GB dataset out of this process's peak RSS.
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / path.name
            proc = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"from {__name__} import _extract_to; import pathlib; "
                    f"_extract_to(pathlib.Path({str(target)!r}))",
                ],
                capture_output=True,
                check=False,
                timeout=600,
            )
            if proc.returncode != 0 or not target.exists():
                raise ConfigError("could not extract the name lexicon from names-dataset")
            os.replace(target, path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return NameLexicon(first=dict(raw["first"]), last=dict(raw["last"]))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"name lexicon cache {path} is unreadable") from exc


@cache
def word_list(name: str) -> frozenset[str]:
    """Return a curated word list from ``pipeline/detect/data/<name>.txt`` (lower-cased).

    Lines starting with ``#`` are comments; other lines hold whitespace-separated words.
    """
    try:
        text = (
            resources.files("pipeline.detect")
            .joinpath("data", f"{name}.txt")
            .read_text(encoding="utf-8")
        )
    except (OSError, ModuleNotFoundError) as exc:
        raise ConfigError(f"word list {name!r} is missing") from exc
    words: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.update(w.lower() for w in line.split())
    return frozenset(words)


@cache
def common_words() -> frozenset[str]:
    """Return words that are never a name on their own: English stop words + clinical terms."""
    return word_list("stop_words") | word_list("clinical_terms")
