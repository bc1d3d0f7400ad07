"""Detection accuracy per corpus and profile, scored by the shared ``../shared/eval/score.py``.

    python -m benchmarks.detection_accuracy [--corpus physionet_dev ...] [--profile fast ...]
                                            [--limit N] [--split all|even|odd]
                                            [--output results.json]

Token recall/precision/F2, entity recall and per-label recall come from the shared scorer (the
one definition of the metrics); per-label token precision (by predicted label, same token rule)
is added here. The issue's bars are checked and reported. Corpora absent: a clean skip.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.common import (
    CORPORA,
    corpus_path,
    emit,
    load_corpus,
    load_scorer,
    skip,
    write_jsonl,
)

DEFAULT_CORPORA = ("physionet_dev", "presidio_synth")
#: (corpus, profile) -> (min token recall, min token precision) from the issue.
BARS: dict[tuple[str, str], tuple[float, float]] = {
    ("physionet_dev", "accurate"): (0.97, 0.60),
    ("physionet_dev", "fast"): (0.93, 0.0),
    ("presidio_synth", "accurate"): (0.95, 0.80),
}


def per_label_precision(
    scorer: ModuleType, docs: list[dict[str, Any]], preds: dict[str, list[dict[str, Any]]]
) -> dict[str, float]:
    """Token precision by predicted label, with the scorer's token and ignore rules."""
    hit: dict[str, int] = defaultdict(int)
    tot: dict[str, int] = defaultdict(int)
    for doc in docs:
        text = doc["text"]
        gold = [(s["start"], s["end"]) for s in doc.get("spans", [])]
        ign = [(s["start"], s["end"]) for s in doc.get("ignored_spans", [])]
        for span in preds.get(doc["id"], []):
            for m in scorer.TOK.finditer(text, span["start"], span["end"]):
                s, e = m.span()
                if not (span["start"] < e and s < span["end"]):
                    continue
                is_g = scorer.covered(gold, s, e)
                if not is_g and scorer.covered(ign, s, e):
                    continue
                tot[span["label"]] += 1
                hit[span["label"]] += is_g
    return {k: round(hit[k] / tot[k], 4) for k in sorted(tot)}


def evaluate(
    scorer: ModuleType,
    corpus: str,
    profile: str,
    limit: int | None,
    corpora_dir: Path,
    split: str = "all",
) -> dict[str, Any]:
    """Detect one corpus with one profile and score it.

    ``split`` keeps every document ("all"), or the even- or odd-numbered ones ("even"/"odd"):
    tune rules on one half and report the other, so error analysis does not fool the score.
    """
    from pipeline.config import load_settings
    from pipeline.detect.detector import Detector

    docs = load_corpus(corpus_path(corpus, corpora_dir), limit)
    if split != "all":
        docs = docs[0 if split == "even" else 1 :: 2]
    detector = Detector.from_settings(load_settings(), profile=profile)
    preds: dict[str, list[dict[str, Any]]] = {}
    start = time.perf_counter()
    batch = 32
    for i in range(0, len(docs), batch):
        chunk = docs[i : i + batch]
        for doc, spans in zip(
            chunk, detector.detect_batch([d["text"] for d in chunk]), strict=True
        ):
            preds[doc["id"]] = [s.to_json() for s in spans]
    elapsed = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        gold_path = Path(tmp) / "gold.jsonl"
        pred_path = Path(tmp) / "pred.jsonl"
        write_jsonl(gold_path, docs)  # the (possibly limited) gold subset, scored as is
        write_jsonl(pred_path, ({"id": k, "spans": v} for k, v in preds.items()))
        result: dict[str, Any] = scorer.score(str(gold_path), str(pred_path))
    result["per_label_token_precision"] = per_label_precision(scorer, docs, preds)
    result["seconds"] = round(elapsed, 2)
    result["detector"] = detector.version
    bar = BARS.get((corpus, profile))
    if bar is not None and limit is None and split == "all":
        result["bar"] = {"min_recall": bar[0], "min_precision": bar[1]}
        result["meets_bar"] = (
            result["token_recall"] >= bar[0] and result["token_precision"] >= bar[1]
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", help="corpus file stem (repeatable)")
    parser.add_argument("--profile", action="append", choices=("fast", "accurate"))
    parser.add_argument("--limit", type=int, default=None, help="first N documents only")
    parser.add_argument(
        "--split",
        choices=("all", "even", "odd"),
        default="all",
        help="score every document, or only the even-/odd-numbered half (tune/held-out)",
    )
    parser.add_argument("--corpora-dir", type=Path, default=CORPORA)
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    scorer = load_scorer()
    if scorer is None:
        return skip("shared scorer ../shared/eval/score.py not found")
    corpora = [
        c for c in (args.corpus or DEFAULT_CORPORA) if corpus_path(c, args.corpora_dir).exists()
    ]
    if not corpora:
        return skip(f"no corpora found under {args.corpora_dir}")
    results: dict[str, Any] = {}
    for corpus in corpora:
        for profile in args.profile or ("fast", "accurate"):
            print(f"scoring {corpus} / {profile} ...", file=sys.stderr)
            results[f"{corpus}/{profile}"] = evaluate(
                scorer, corpus, profile, args.limit, args.corpora_dir, args.split
            )
    emit(
        {
            "benchmark": "detection_accuracy",
            "limit": args.limit,
            "split": args.split,
            "results": results,
        },
        args.output,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
