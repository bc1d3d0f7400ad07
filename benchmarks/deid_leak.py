"""Residual PHI leak rate of de-identification over the shared gold corpora.

For every gold PHI token (a ``\\w+`` run inside a gold span; tokens in ``ignored_spans`` are
not PHI) the benchmark finds where it went:

* ``missed``: no replacement covers it, so it was copied verbatim (detection missed it);
* ``kept``: a replacement covers it but the token is still in that replacement's output. The
  Safe Harbor profile keeps only what the rule allows (a date's year, a State, an age <= 89);
  anything else here is an operator bug and makes the run fail;
* ``replaced``: gone.

``residual leak rate = missed / gold tokens``; ``kept`` is reported apart (allowed by the rule).
The run also reports the leak-gate failure rate and documents per second, and exits non-zero
if an operator kept a token it may not keep. Machine-readable JSON on stdout.

    python benchmarks/deid_leak.py [--corpus PATH ...] [--limit N] [--detector-profile fast]
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_CORPORA = ROOT.parent / "shared" / "corpora"
TOKEN = re.compile(r"\w+")
YEAR = re.compile(r"^(1[89]|2[01])\d\d$")


def load(path: Path, limit: int | None) -> list[dict[str, Any]]:
    docs = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                docs.append(json.loads(line))
                if limit and len(docs) >= limit:
                    break
    return docs


#: Words that say what kind of identifier it is, not which one: operators keep them.
URL_EMAIL_WORDS = frozenset(
    {"http", "https", "www", "com", "org", "net", "edu", "gov", "html", "mailto"}
)


def allowed_kept(label: str, token: str, keep: frozenset[str]) -> bool:
    """Tokens Safe Harbor lets an operator keep (years, States, kind-of-place words, ages <= 89)."""
    folded = token.casefold()
    if len(token) == 1:
        return True  # one character identifies nothing; it recurs in any same-shape surrogate
    if label == "DATE":
        return bool(YEAR.match(token))
    if label == "AGE_OVER_89":
        return token.isdigit() and (int(token) <= 89 or token == "90")
    if label in ("URL", "EMAIL"):
        return folded in URL_EMAIL_WORDS
    if label == "IP":
        # the fixed parts of the documentation ranges (RFC 5737, RFC 3849)
        return folded in ("192", "0", "2", "198", "51", "100", "203", "113", "2001", "db8")
    if label in ("PHONE", "FAX"):
        return token in ("555", "01")  # the fixed digits of the fictional 555-01xx range
    return folded in keep


def evaluate(
    deid: Any, docs: list[dict[str, Any]], profile: str, states: frozenset[str]
) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    per_label: dict[str, Counter[str]] = {}
    bad_kept: list[tuple[str, str]] = []
    gate: Counter[str] = Counter()
    started = time.perf_counter()
    for doc in docs:
        text = doc["text"]
        result = deid.deidentify(text, scope=f"request:{doc['id']}", profile=profile)
        gate[result.leak_gate.reason or "pass"] += 1
        reps = result.replacements
        for span in doc.get("spans", []):
            label = span["label"]
            lab = per_label.setdefault(label, Counter())
            for m in TOKEN.finditer(text, span["start"], span["end"]):
                s, e = m.span()
                counts["gold_tokens"] += 1
                lab["gold_tokens"] += 1
                cover = next((r for r in reps if r.source_start <= s and e <= r.source_end), None)
                partial = cover is None and any(
                    r.source_start < e and s < r.source_end for r in reps
                )
                if cover is None and not partial:
                    counts["missed"] += 1
                    lab["missed"] += 1
                    continue
                if cover is None:
                    # A replacement cut through the token: what is left of it stayed verbatim.
                    counts["missed"] += 1
                    lab["missed"] += 1
                    continue
                out = result.text[cover.start : cover.end]
                if re.search(rf"(?<!\w){re.escape(m.group())}(?!\w)", out):
                    counts["kept"] += 1
                    lab["kept"] += 1
                    # Gold labels are sometimes off (a date labelled GEO): what the operator
                    # may keep follows the label the replacement was made under.
                    if not (
                        allowed_kept(label, m.group(), states)
                        or allowed_kept(cover.label, m.group(), states)
                    ):
                        bad_kept.append((doc["id"], label + ":" + m.group()))
                else:
                    counts["replaced"] += 1
    elapsed = time.perf_counter() - started
    gold = counts["gold_tokens"] or 1
    return {
        "docs": len(docs),
        "gold_tokens": counts["gold_tokens"],
        "missed_tokens": counts["missed"],
        "kept_allowed_tokens": counts["kept"] - len(bad_kept),
        "kept_not_allowed_tokens": len(bad_kept),
        "residual_leak_rate": round(counts["missed"] / gold, 4),
        "per_label_leak_rate": {
            k: round(v["missed"] / v["gold_tokens"], 4)
            for k, v in sorted(per_label.items())
            if v["gold_tokens"]
        },
        "leak_gate_fail_rate": round(1 - gate["pass"] / max(1, len(docs)), 4),
        "leak_gate_reasons": dict(gate),
        "docs_per_s": round(len(docs) / elapsed, 2) if elapsed else None,
        "bad_kept_examples": [f"{i}:{lab}" for i, lab in bad_kept[:40]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N documents per corpus")
    parser.add_argument("--profile", default="safe_harbor")
    parser.add_argument("--detector-profile", default="fast")
    args = parser.parse_args(argv)

    import os

    from pydantic import SecretStr

    from pipeline.config import load_settings
    from pipeline.deid.engine import Deidentifier
    from pipeline.deid.lexicon import place_pools
    from pipeline.deid.names import KEEP_WORDS
    from pipeline.detect import Detector

    corpora = args.corpus or sorted(DEFAULT_CORPORA.glob("*.jsonl"))
    if not corpora:
        print(json.dumps({"skipped": "no corpora found"}))
        return 0
    settings = load_settings()
    keys = settings.keys.model_copy(
        update={
            "hmac_key": SecretStr(base64.b64encode(os.urandom(32)).decode()),
            "encryption_key": SecretStr(base64.b64encode(os.urandom(32)).decode()),
            "key_file": None,
        }
    )
    settings = settings.model_copy(update={"keys": keys})
    detector = Detector.from_settings(settings, profile=args.detector_profile)
    deid = Deidentifier.from_settings(settings, detector=detector)
    pools = place_pools()
    states = (
        frozenset(w.casefold() for s in pools.states for w in s.split())
        | frozenset(c.casefold() for c in pools.state_codes)
        | pools.generic
        | KEEP_WORDS
    )
    report: dict[str, Any] = {
        "profile": args.profile,
        "detector_profile": args.detector_profile,
        "detector_version": detector.version,
        "corpora": {},
    }
    failed = False
    for path in corpora:
        docs = load(path, args.limit)
        result = evaluate(deid, docs, args.profile, states)
        report["corpora"][path.name] = result
        failed |= result["kept_not_allowed_tokens"] > 0
    print(json.dumps(report, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
