"""``python -m pipeline.audit ...``: the ``audit`` command without the top-level dispatcher."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pipeline.audit import cli
from pipeline.config import load_settings
from pipeline.errors import PipelineError, safe_reason


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` as ``phi-pipeline audit`` arguments and run them."""
    parser = argparse.ArgumentParser(prog="phi-pipeline audit")
    cli.configure(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.settings = load_settings()
        return cli.run(args)
    except PipelineError as exc:
        logging.getLogger("pipeline.audit").error("%s: %s", safe_reason(exc), exc)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
