"""Fixtures of the end-to-end tier: a key file and one shared, running pipeline.

The broker is the session's (``kafka_bootstrap`` in ``tests/conftest.py``). ``pipeline`` is
package-scoped: every e2e module that needs no special runtime shares one in-process worker
and one provider server; each pipeline has its own topics and consumer groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.deid.keys import generate_key_file
from tests.e2e.harness import Pipeline, running_pipeline


@pytest.fixture(scope="session")
def e2e_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh development key file (topic encryption, keyed hashes, surrogates)."""
    path = tmp_path_factory.mktemp("e2e-keys") / "keys.json"
    generate_key_file(path)
    return path


@pytest.fixture(scope="package")
def pipeline(
    kafka_bootstrap: str, e2e_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """The shared pipeline: all four stages in process, the test policy, a recording server."""
    yield from running_pipeline(
        kafka_bootstrap, e2e_key_file, tmp_path_factory.mktemp("e2e-shared")
    )
