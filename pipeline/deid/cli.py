"""``phi-pipeline deid``: de-identify a JSONL file.

Reads ``{"id", "text", optional "scope"}`` per line and writes ``{"id", "text", "spans",
"leak_gate"}``: ``text`` de-identified, ``spans`` our replacements in output offsets (label,
operator), ``leak_gate`` ``"pass"`` or ``"fail"``. A record that fails the gate is quarantined:
its ``text`` is ``null`` and ``reason`` carries the code, so no residual PHI is written.

A bad line (invalid JSON, no string ``text``) is reported on stderr by line number only, skipped,
and makes the exit code 1 once every good line has been written. ``-`` means stdin/stdout; a
progress bar goes to stderr when reading a file. Scope: the record's ``scope`` (``patient:ID``,
``session:ID``, or a bare session id), else the record id (``request:ID``).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from pipeline.config import Settings
from pipeline.errors import PipelineError, safe_reason

log = logging.getLogger(__name__)

BAD_INPUT_EXIT = 1


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``deid`` arguments."""
    parser.add_argument("--input", required=True, help="input JSONL ('-' for stdin)")
    parser.add_argument("--output", required=True, help="output JSONL ('-' for stdout)")
    parser.add_argument(
        "--profile",
        choices=("safe_harbor", "pseudonymize", "redact"),
        default=None,
        help="de-identification profile (default: settings, i.e. safe_harbor)",
    )
    parser.add_argument(
        "--detector-profile", default=None, help="detection profile (default: settings)"
    )
    parser.add_argument(
        "--ephemeral-keys",
        action="store_true",
        help="use random keys for this run only (surrogates consistent within the run only)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="texts per detector batch")


def _ephemeral(settings: Settings) -> Settings:
    from pydantic import SecretStr

    keys = settings.keys.model_copy(
        update={
            "hmac_key": SecretStr(base64.b64encode(os.urandom(32)).decode()),
            "encryption_key": SecretStr(base64.b64encode(os.urandom(32)).decode()),
            "key_id": "ephemeral",
            "key_file": None,
        }
    )
    return settings.model_copy(update={"keys": keys})


def _records(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Yield (line number, record or None when the line is bad); blank lines are skipped."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            log.error("line %d: invalid JSON, skipped", number)
            yield number, None
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("text"), str):
            log.error("line %d: missing string 'text', skipped", number)
            yield number, None
            continue
        yield number, doc


def _scope_of(doc: dict[str, Any], number: int) -> str:
    scope = doc.get("scope")
    if isinstance(scope, str) and scope:
        return scope
    ident = doc.get("id")
    return f"request:{ident if ident is not None else f'line-{number}'}"


def run(args: argparse.Namespace) -> int:
    """De-identify ``--input`` into ``--output``; return 0, or 1 if any line was bad."""
    from tqdm import tqdm

    from pipeline.deid.engine import Deidentifier
    from pipeline.detect import Detector

    settings: Settings = args.settings
    if args.ephemeral_keys:
        settings = _ephemeral(settings)
    detector = Detector.from_settings(settings, profile=args.detector_profile)
    deid = Deidentifier.from_settings(settings, detector=detector)
    batch_size = int(args.batch_size or settings.detection.batch_size)

    bad = failed = written = 0
    with ExitStack() as stack:
        src: IO[str] = (
            sys.stdin
            if args.input == "-"
            else stack.enter_context(Path(args.input).open(encoding="utf-8"))
        )
        dst: IO[str] = (
            sys.stdout
            if args.output == "-"
            else stack.enter_context(Path(args.output).open("w", encoding="utf-8"))
        )
        records: Iterator[tuple[int, dict[str, Any] | None]] = _records(src)
        if args.input != "-":
            records = tqdm(records, desc="deid", unit="rec", file=sys.stderr)
        batch: list[tuple[int, dict[str, Any]]] = []

        def flush() -> None:
            nonlocal failed, written
            if not batch:
                return
            spans_per = detector.detect_batch([doc["text"] for _, doc in batch])
            for (number, doc), spans in zip(batch, spans_per, strict=True):
                try:
                    result = deid.deidentify(
                        doc["text"], scope=_scope_of(doc, number), profile=args.profile, spans=spans
                    )
                except PipelineError as exc:
                    # Fail closed: the record is quarantined with a reason, text withheld.
                    out: dict[str, Any] = {
                        "id": doc.get("id"),
                        "text": None,
                        "spans": [],
                        "leak_gate": "fail",
                        "reason": safe_reason(exc),
                    }
                    failed += 1
                else:
                    passed = result.leak_gate.passed
                    out = {
                        "id": doc.get("id"),
                        "text": result.text if passed else None,
                        "spans": [r.to_json() for r in result.replacements],
                        "leak_gate": result.leak_gate.status,
                    }
                    if not passed:
                        out["reason"] = result.leak_gate.reason
                        failed += 1
                dst.write(json.dumps(out, ensure_ascii=False) + "\n")
                written += 1
            batch.clear()

        for number, doc in records:
            if doc is None:
                bad += 1
                continue
            batch.append((number, doc))
            if len(batch) >= batch_size:
                flush()
        flush()
        dst.flush()
    log.info(
        "deid: %d written, %d quarantined by the leak gate, %d bad lines", written, failed, bad
    )
    return BAD_INPUT_EXIT if bad else 0
