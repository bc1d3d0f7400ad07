"""CPU cost of ``Deidentifier.deidentify`` per prompt, as the streaming deid stage calls it.

The stage passes the detector's spans in and the leak gate re-runs the detector on the output;
this benchmark does the same: it builds the ``fast`` detector and a :class:`Deidentifier` under a
freshly generated key, detects the spans of ``benchmarks.prompts.make_prompts(n)`` once (not
timed), then times ``deidentify(text, scope=..., spans=spans)`` per prompt. The leak gate's
detector call is timed apart, so the report splits each prompt's time into total, leak-gate
detector and the rest (our operators, propagation, Presidio); times are the thread's CPU
time (``time.thread_time``), which a busy shared machine disturbs far less than wall time.
While it times it checks the outputs: no canary (name, MRN, SSN, phone, e-mail) verbatim in
a passed output, and the leak gate pass rate. The anchor is stock Presidio
(``AnonymizerEngine`` with its built-in ``replace`` operator) over the same spans, so the
ratio says what our operators cost over Presidio's own loop. Machine-readable JSON on
stdout; exits non-zero when a canary leaks.

    python -m benchmarks.deid_speed [--n 500] [--key-seed S] [--output PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import emit
from benchmarks.prompts import make_prompts

#: CPU time of this thread: the stage is CPU-bound and single-threaded, and on a shared machine
#: wall time mostly measures the neighbours.
clock = time.thread_time


class TimedDetector:
    """Wraps a detector and adds up the CPU time spent in ``detect`` (the leak gate's re-scan)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0

    def detect(self, text: str) -> Any:
        t0 = clock()
        try:
            return self.inner.detect(text)
        finally:
            self.seconds += clock() - t0


def _keys(seed: str | None) -> Any:
    from pipeline.deid.keys import KeyVersion, StaticKeyProvider

    if seed is None:
        hmac, enc = os.urandom(32), os.urandom(32)
    else:
        # A reproducible key for chasing one failing record (never a real key).
        hmac = hashlib.sha256(f"hmac:{seed}".encode()).digest()
        enc = hashlib.sha256(f"enc:{seed}".encode()).digest()
    return StaticKeyProvider([KeyVersion("bench", hmac, enc)])


def _stats(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "mean": round(statistics.fmean(ordered), 4),
        "p50": round(pct(0.50), 4),
        "p95": round(pct(0.95), 4),
        "max": round(ordered[-1], 4),
    }


def run(n: int, key_seed: str | None, start: int) -> dict[str, Any]:
    """Time ``deidentify`` over ``n`` prompts; return the report (see module docstring)."""
    from pipeline.config import load_settings
    from pipeline.deid import Deidentifier
    from pipeline.deid.anonymizer import AnonymizerEngine, OperatorConfig, RecognizerResult
    from pipeline.detect.detector import Detector

    settings = load_settings()
    detector = Detector.from_settings(settings, profile="fast")
    timed = TimedDetector(detector)
    deid = Deidentifier(timed, _keys(key_seed), settings=settings.deid)
    prompts = make_prompts(n, start=start)
    spans = [detector.detect(p.text) for p in prompts]
    # Warm-up: lazily loaded pools and regex caches are a one-off per worker, not per prompt.
    for p, s in zip(prompts[:5], spans[:5], strict=True):
        deid.deidentify(p.text, scope=f"request:warm-{p.seed}", spans=s)

    total_ms: list[float] = []
    gate_ms: list[float] = []
    passed = 0
    leaked: list[int] = []
    failed_seeds: list[dict[str, Any]] = []
    for p, s in zip(prompts, spans, strict=True):
        timed.seconds = 0.0
        t0 = clock()
        result = deid.deidentify(p.text, scope=f"request:{p.seed}", spans=s)
        elapsed = clock() - t0
        total_ms.append(elapsed * 1000)
        gate_ms.append(timed.seconds * 1000)
        if result.leak_gate.passed:
            passed += 1
            if any(c in result.text for c in p.canaries):
                leaked.append(p.seed)
        else:
            failed_seeds.append({"seed": p.seed, "reason": result.leak_gate.reason})
    own_ms = [t - g for t, g in zip(total_ms, gate_ms, strict=True)]

    # Anchor: stock Presidio's own loop over the same spans with its built-in operator.
    engine = AnonymizerEngine()
    anchor_ms: list[float] = []
    config = {"DEFAULT": OperatorConfig("replace", {})}
    for p, s in zip(prompts, spans, strict=True):
        results = [RecognizerResult(x.label.value, x.start, x.end, x.score) for x in s]
        t0 = clock()
        engine.anonymize(p.text, results, config)
        anchor_ms.append((clock() - t0) * 1000)

    own_mean = statistics.fmean(own_ms)
    anchor_mean = statistics.fmean(anchor_ms)
    return {
        "benchmark": "deid_speed",
        "prompts": n,
        "first_seed": start,
        "mean_chars": round(statistics.fmean(len(p.text) for p in prompts), 1),
        "mean_spans": round(statistics.fmean(len(s) for s in spans), 2),
        "key": "seeded" if key_seed is not None else "random",
        "clock": "thread CPU time",
        "ms_per_prompt": {
            "total": _stats(total_ms),
            "leak_gate_detector": _stats(gate_ms),
            "deidentify_without_gate_detector": _stats(own_ms),
        },
        "anchor_presidio_replace_ms": _stats(anchor_ms),
        "ratio_own_to_anchor": round(own_mean / anchor_mean, 2) if anchor_mean else None,
        "leak_gate_pass_rate": round(passed / n, 4),
        "leak_gate_failures": failed_seeds[:20],
        "canary_leaks": leaked,
        "ok": not leaked,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print JSON; exit 1 when a canary leaked into a passed output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=500, help="prompts to time")
    parser.add_argument("--start", type=int, default=0, help="first prompt seed")
    parser.add_argument("--key-seed", help="derive the key from this string (default: random)")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    result = run(args.n, args.key_seed, args.start)
    emit(result, args.output)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
