"""``phi-pipeline worker``: run any subset of the Faust stages."""

from pipeline.streaming.cli import configure_worker as configure
from pipeline.streaming.cli import run_worker as run

__all__ = ["configure", "run"]
