"""CPU cost of the name and location tiers (``name_context.v1``, ``location_context.v1``).

    python -m benchmarks.name_tier_speed [--repeat 3] [--write-spans F] [--check-spans F]

Runs both recognizers over the synthetic prompts (``benchmarks.prompts.make_prompts``) and over
the shared ``physionet_dev`` / ``presidio_synth`` corpora (skipped when absent), one document
at a time in the detector's order (names, then places), and reports the CPU milliseconds per
document (``time.thread_time``, best of ``--repeat`` passes) of each recognizer per corpus.

It checks what it times: every span is in bounds with the recognizer's label, every pass
returns the same spans, and with ``--check-spans`` the spans must equal a file written earlier
by ``--write-spans`` (one JSON line per document: corpus, index, spans as
``[start, end, label, score, recognizer]``), which is how an optimisation proves it changed
no output. Exit status 1 on any mismatch. The location tier orders some spans by iterating a
set of strings, so both runs need the same ``PYTHONHASHSEED`` (the script refuses otherwise):

    PYTHONHASHSEED=0 python -m benchmarks.name_tier_speed --write-spans /tmp/before.jsonl
    # ... change the tiers ...
    PYTHONHASHSEED=0 python -m benchmarks.name_tier_speed --check-spans /tmp/before.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import corpus_path, emit, load_corpus
from benchmarks.prompts import make_prompts
from pipeline.config import Settings
from pipeline.detect.profiles import import_recognizer_module
from pipeline.detect.registry import Recognizer, resolve
from pipeline.detect.types import Span

RECOGNIZERS = ("name_context.v1", "location_context.v1")
CORPORA = ("physionet_dev", "presidio_synth")


def _texts(args: argparse.Namespace) -> dict[str, list[str]]:
    out = {"prompts": [p.text for p in make_prompts(args.prompts)]}
    for name in CORPORA:
        path = corpus_path(name, args.corpora_dir)
        if path.exists():
            out[name] = [d["text"] for d in load_corpus(path, args.limit)]
        else:
            print(f"skipped corpus: {path} not found", file=sys.stderr)
    return out


def _row(span: Span) -> list[Any]:
    return [span.start, span.end, span.label.value, span.score, span.recognizer]


def _run_pass(
    recs: list[Recognizer], texts: list[str]
) -> tuple[list[list[list[Any]]], dict[str, float]]:
    """Run every recognizer over every text; return the spans per text and CPU s per recognizer."""
    spans: list[list[list[Any]]] = []
    cpu = {r.name: 0.0 for r in recs}
    for text in texts:
        rows: list[list[Any]] = []
        for rec in recs:
            t0 = time.thread_time()
            found = rec.find(text)
            cpu[rec.name] += time.thread_time() - t0
            for s in found:
                if not (0 <= s.start < s.end <= len(text)) or s.label not in rec.categories:
                    raise SystemExit(f"{rec.name} returned an invalid span")
            rows.extend(_row(s) for s in found)
        spans.append(rows)
    return spans, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--limit", type=int, default=None, help="documents per corpus")
    parser.add_argument("--corpora-dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-spans", type=Path, default=None)
    parser.add_argument("--check-spans", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if (args.write_spans or args.check_spans) and os.environ.get("PYTHONHASHSEED") in (
        None,
        "random",
    ):
        print("set PYTHONHASHSEED (e.g. 0) to write or check spans", file=sys.stderr)
        return 2
    settings = Settings()
    recs: list[Recognizer] = []
    for name in RECOGNIZERS:
        import_recognizer_module(name)
        recs.append(resolve(name)(settings))
    corpora = _texts(args)
    # Warm-up: lexicons, word lists and the gazetteer index load on first use.
    for rec in recs:
        rec.find("Dr. Ada Quimby transferred from Good Hope Hospital in Frostburg, MD.")
    result: dict[str, Any] = {"unit": "CPU ms per document (thread_time, best pass)"}
    lines: list[str] = []
    for corpus, texts in corpora.items():
        best = {r.name: float("inf") for r in recs}
        first: list[list[list[Any]]] | None = None
        for _ in range(max(1, args.repeat)):
            spans, cpu = _run_pass(recs, texts)
            if first is None:
                first = spans
            elif spans != first:
                print(f"{corpus}: spans differ between passes", file=sys.stderr)
                return 1
            for name, secs in cpu.items():
                best[name] = min(best[name], secs)
        result[corpus] = {
            "documents": len(texts),
            "chars_per_doc": round(sum(map(len, texts)) / max(1, len(texts)), 1),
            **{name: round(1000 * secs / max(1, len(texts)), 4) for name, secs in best.items()},
            "total": round(1000 * sum(best.values()) / max(1, len(texts)), 4),
        }
        lines.extend(
            json.dumps({"corpus": corpus, "index": i, "spans": rows})
            for i, rows in enumerate(first or [])
        )
    dump = "\n".join(lines) + "\n"
    if args.write_spans is not None:
        args.write_spans.write_text(dump, encoding="utf-8")
    if args.check_spans is not None:
        same = args.check_spans.read_text(encoding="utf-8") == dump
        result["spans_identical_to"] = str(args.check_spans) if same else None
        if not same:
            emit(result, args.output)
            print(f"spans differ from {args.check_spans}", file=sys.stderr)
            return 1
    emit(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
