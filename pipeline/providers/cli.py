"""``phi-pipeline provider``: run the loopback provider server.

``phi-pipeline provider serve --port 8080 --record var/provider.jsonl`` serves the OpenAI
chat-completions API (and the Anthropic and Bedrock shapes) on loopback until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

log = logging.getLogger("pipeline.providers.cli")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``provider`` sub-commands."""
    sub = parser.add_subparsers(dest="provider_command", required=True, metavar="ACTION")
    serve = sub.add_parser(
        "serve",
        help="run the local provider server on loopback (OpenAI chat-completions API)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    serve.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    serve.add_argument("--latency-ms", type=int, default=0, help="delay before every reply")
    serve.add_argument("--record", type=Path, default=None, help="append requests to this JSONL")
    serve.add_argument(
        "--no-echo-text",
        action="store_true",
        help="reply with word count and hash only, not the prompt text",
    )


async def _serve(args: argparse.Namespace) -> None:
    from pipeline.providers.local_server import LocalProviderServer

    server = LocalProviderServer(
        args.host,
        args.port,
        latency_ms=args.latency_ms,
        record_file=args.record,
        echo_text=not args.no_echo_text,
    )
    await server.start_async()
    # The one line a user (or the demo script) needs: where to point the adapters.
    print(f"provider server: {server.openai_base_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop_async()


def run(args: argparse.Namespace) -> int:
    """Run the chosen ``provider`` action; return the exit code."""
    if args.provider_command == "serve":
        from pipeline.config import load_settings
        from pipeline.eventloop import new_event_loop

        # The workers' event loop choice (uvloop when installed) serves this server too.
        settings = getattr(args, "settings", None) or load_settings()
        choice = settings.streaming.event_loop
        try:
            with asyncio.Runner(loop_factory=lambda: new_event_loop(choice)) as runner:
                runner.run(_serve(args))
        except KeyboardInterrupt:
            log.info("provider server stopped")
        return 0
    return 2
