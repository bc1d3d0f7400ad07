"""The ``phi-pipeline`` command line.

Each sub-command lives in its own module exposing ``configure(parser)`` and
``run(args, settings) -> int``. Modules import their heavy dependencies (spaCy, Faust, Kafka
clients) inside ``run`` so that ``phi-pipeline --help`` stays fast and has no side effects.
Settings are built here, once, and passed down.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Protocol

from pipeline import __version__
from pipeline.config import load_settings
from pipeline.errors import PipelineError, safe_reason

log = logging.getLogger("pipeline.cli")

#: (sub-command, module, one-line help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("kafka", "pipeline.kafka.cli", "start, stop or inspect the embedded Apache Kafka broker"),
    ("provider", "pipeline.providers.cli", "run the local LLM provider server on loopback"),
    ("detect", "pipeline.detect.cli", "detect PHI in a JSONL file (id, text) -> spans"),
    ("deid", "pipeline.deid.cli", "de-identify a JSONL file (id, text, scope) -> text"),
    ("worker", "pipeline.streaming.worker_cmd", "run pipeline stages as a Faust worker"),
    ("send", "pipeline.streaming.send_cmd", "publish one prompt and print its completion"),
    ("audit", "pipeline.audit.cli", "archive, verify, replay and trace the audit trail"),
    ("keys", "pipeline.keys_cmd", "write a development key file"),
    ("demo", "pipeline.demo", "run the whole flow on bundled synthetic prompts"),
)


class CommandModule(Protocol):
    """What a sub-command module provides."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the sub-command's arguments."""

    def run(self, args: argparse.Namespace) -> int:
        """Run the sub-command; return the process exit code."""


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, CommandModule]]:
    """Return the top-level parser and the module behind each sub-command."""
    parser = argparse.ArgumentParser(
        prog="phi-pipeline",
        description="Streaming PHI detection and de-identification in front of LLM providers.",
    )
    parser.add_argument("--version", action="version", version=f"phi-pipeline {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules: dict[str, CommandModule] = {}
    for name, module_name, help_text in COMMANDS:
        module: CommandModule = importlib.import_module(module_name)
        module.configure(sub.add_parser(name, help=help_text, description=help_text))
        modules[name] = module
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.settings = load_settings()
        return modules[args.command].run(args)
    except PipelineError as exc:
        # Our errors' messages are PHI-free by construction.
        log.error("%s: %s", safe_reason(exc), exc)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
