"""``phi-pipeline send``: publish one prompt and print its completion."""

from pipeline.streaming.cli import configure_send as configure
from pipeline.streaming.cli import run_send as run

__all__ = ["configure", "run"]
