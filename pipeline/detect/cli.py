"""``phi-pipeline detect``: detect PHI in a JSONL file (the accuracy-judging contract).

Input lines are ``{"id": ..., "text": ...}`` (other fields ignored); output lines are
``{"id": ..., "spans": [{"start", "end", "label", "score"}]}`` in input order. ``-`` means
stdin/stdout. Lines are read and detected in batches (``detect_batch``) and written as each
batch completes, so memory stays bounded however long the file is.

A bad line (invalid JSON, not an object, missing or non-string ``text``) is reported on stderr
by its line number and error kind, never its content; it is skipped, every good line is still
written, and the exit code is 1 at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from pipeline.config import Settings
from pipeline.detect.types import Span
from pipeline.errors import ConfigError, PipelineError, safe_reason

EXIT_BAD_LINES = 1


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``detect`` arguments."""
    parser.add_argument("--input", required=True, help="input JSONL ({id, text}); - for stdin")
    parser.add_argument("--output", required=True, help="output JSONL ({id, spans}); - for stdout")
    parser.add_argument(
        "--profile", choices=("fast", "accurate"), default=None, help="detection profile"
    )
    parser.add_argument(
        "--config", default=None, help="YAML/JSON file of settings overrides (e.g. thresholds)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="texts per detect_batch (default: settings)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def apply_overrides(settings: Settings, path: Path) -> Settings:
    """Return ``settings`` with the nested overrides of a YAML/JSON file applied.

    Raises:
        ConfigError: the file is unreadable, not a mapping, or sets invalid values.
    """
    import yaml
    from pydantic import ValidationError

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}") from exc
    if raw is None:
        return settings
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping")
    merged = _deep_merge(settings.model_dump(), raw)
    try:
        return type(settings).model_validate(merged)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise ConfigError(f"invalid settings in {path}: {fields}") from None


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


Record = tuple[int, object, str]  # (line number, id, text)


def _records(lines: Iterator[str], errors: list[int]) -> Iterator[Record]:
    """Yield (line number, id, text) of good lines; append bad line numbers to ``errors``."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            _bad(number, "invalid JSON", errors)
            continue
        if not isinstance(rec, dict):
            _bad(number, "not a JSON object", errors)
            continue
        text = rec.get("text")
        if not isinstance(text, str):
            _bad(number, "missing or non-string 'text'", errors)
            continue
        yield number, rec.get("id"), text


def _bad(number: int, kind: str, errors: list[int]) -> None:
    errors.append(number)
    print(f"detect: line {number}: {kind}; skipped", file=sys.stderr)


def _batches(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run(args: argparse.Namespace) -> int:
    """Run detection over the input file; return 0, or 1 when some lines were bad."""
    from tqdm import tqdm

    from pipeline.detect.detector import Detector

    settings: Settings = args.settings
    if args.config:
        settings = apply_overrides(settings, Path(args.config))
    detector = Detector.from_settings(settings, profile=args.profile)
    size = args.batch_size or settings.detection.batch_size
    if size < 1:
        raise ConfigError("--batch-size must be at least 1")
    errors: list[int] = []
    failed = 0
    with ExitStack() as stack:
        src: IO[str] = (
            sys.stdin
            if args.input == "-"
            else stack.enter_context(open(args.input, encoding="utf-8"))
        )
        dst: IO[str] = (
            sys.stdout
            if args.output == "-"
            else stack.enter_context(open(args.output, "w", encoding="utf-8"))
        )
        show = args.input != "-" and not args.no_progress
        bar = stack.enter_context(
            tqdm(desc="detect", unit="doc", file=sys.stderr, disable=not show)
        )
        for batch in _batches(_records(iter(src), errors), size):
            results: list[list[Span] | None]
            try:
                results = list(detector.detect_batch([t for _, _, t in batch]))
            except PipelineError:
                # One bad record (e.g. over max_text_chars) must not sink its batch.
                results = []
                for number, _, text in batch:
                    try:
                        results.append(detector.detect(text))
                    except PipelineError as exc:
                        failed += 1
                        print(
                            f"detect: line {number}: detection failed ({safe_reason(exc)})",
                            file=sys.stderr,
                        )
                        results.append(None)
            for (_, rid, _), spans in zip(batch, results, strict=True):
                if spans is not None:
                    row = {"id": rid, "spans": [s.to_json() for s in spans]}
                    dst.write(json.dumps(row) + "\n")
            bar.update(len(batch))
        dst.flush()
    if errors or failed:
        print(
            f"detect: {len(errors)} bad line(s), {failed} failed record(s)",
            file=sys.stderr,
        )
        return EXIT_BAD_LINES
    return 0
