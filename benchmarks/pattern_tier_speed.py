"""Throughput of the pattern tier alone (the Hyperscan scan plus candidate validation).

    python -m benchmarks.pattern_tier_speed [--corpus physionet_dev] [--repeat 20]

Joins a corpus's texts into one string (so per-call overhead does not count), times
``PatternTier.find`` on it ``--repeat`` times and reports MB/s for the best and the median run,
plus documents/s calling it per document. It checks what it times: every span in bounds, and
the tier's token recall on the corpus's DATE and PHONE spans above a floor. Skips cleanly when
the corpora are absent.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import corpus_path, emit, load_corpus
from pipeline.config import Settings
from pipeline.detect.patterns import PatternTier
from pipeline.detect.taxonomy import Category


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="physionet_dev")
    parser.add_argument("--corpora-dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--min-recall", type=float, default=0.8)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    path = corpus_path(args.corpus, args.corpora_dir)
    if not path.exists():
        print(f"skipped: {path} not found", file=sys.stderr)
        return 0
    docs = load_corpus(path)
    joined = "\n".join(d["text"] for d in docs)
    settings = Settings.model_validate({"detection": {"max_text_chars": len(joined) + 1}})
    tier = PatternTier.from_settings(settings)
    spans = tier.find(joined)  # warm-up, and the output we check
    if any(not (0 <= s.start < s.end <= len(joined)) for s in spans):
        print("span out of bounds", file=sys.stderr)
        return 1
    # Recall on structured labels, per document (offsets are per document there).
    hit = total = 0
    for doc in docs:
        found = tier.find(doc["text"])
        for gold in doc["spans"]:
            if gold["label"] not in (Category.DATE.value, Category.PHONE.value):
                continue
            total += 1
            hit += any(s.start < gold["end"] and gold["start"] < s.end for s in found)
    recall = hit / total if total else 1.0
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        tier.find(joined)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for doc in docs:
        tier.find(doc["text"])
    per_doc_s = time.perf_counter() - start
    mb = len(joined.encode("utf-8")) / 1e6
    result = {
        "benchmark": "pattern_tier_speed",
        "corpus": args.corpus,
        "megabytes": round(mb, 3),
        "mb_per_s_best": round(mb / min(times), 1),
        "mb_per_s_median": round(mb / statistics.median(times), 1),
        "docs_per_s_per_document_calls": round(len(docs) / per_doc_s, 1),
        "date_phone_entity_recall": round(recall, 4),
        "spans_in_joined_text": len(spans),
    }
    emit(result, args.output)
    return 0 if recall >= args.min_recall else 1


if __name__ == "__main__":
    sys.exit(main())
