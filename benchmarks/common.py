"""Helpers shared by the benchmarks: corpus paths, loading, the shared scorer, JSON output."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.interpreter import interpreter_info

REPO = Path(__file__).resolve().parent.parent
#: The shared corpora and scorer live next to the repository (never copied into it).
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"
SCORER = SHARED / "eval" / "score.py"


def corpus_path(name: str, corpora_dir: Path | None = None) -> Path:
    """Return the path of corpus ``name`` (file stem, e.g. ``physionet_dev``)."""
    return (corpora_dir or CORPORA) / f"{name}.jsonl"


def load_corpus(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Return the first ``limit`` documents of a JSONL corpus."""
    docs = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                docs.append(json.loads(line))
                if limit is not None and len(docs) >= limit:
                    break
    return docs


def load_scorer(path: Path = SCORER) -> ModuleType | None:
    """Import the shared scorer by path (the one definition of the metrics); None if absent."""
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("phi_shared_score", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows as JSON lines."""
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def emit(result: dict[str, Any], output: Path | None) -> None:
    """Print ``result`` as JSON to stdout and, when given, to ``output``.

    An ``interpreter`` key records the Python build it ran on (its speed depends on it; see
    :mod:`benchmarks.interpreter`), unless the result has one already.
    """
    result = {**result, "interpreter": result.get("interpreter") or interpreter_info()}
    text = json.dumps(result, indent=1, sort_keys=True)
    print(text)
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")


def skip(message: str) -> int:
    """Report a clean skip (missing corpora) on stderr and return exit code 0."""
    print(f"skipped: {message}", file=sys.stderr)
    return 0
