"""Fetch the Apache Kafka broker jars with Maven into a per-version cache.

The broker runs from the jars Maven Central publishes (``kafka_2.13`` and ``kafka-server`` plus a
log4j2 SLF4J binding), not from a distribution tarball: Maven resolves them through whatever
mirror or proxy the developer's ``~/.m2/settings.xml`` already names, which is how package
registries are reached in locked-down build environments. The jars land in
``<embedded_home>/<version>/libs`` (about 43 MB for 4.1.1). A marker file written after a
complete copy makes later calls free; a file lock keeps concurrent test sessions from fetching
into the same directory at once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import KafkaLauncherError

log = logging.getLogger(__name__)

#: The SLF4J binding that routes the broker's logging to log4j2 (configured by our YAML file).
LOG4J_SLF4J_VERSION = "2.24.3"
#: Name of the file that marks a complete jar cache.
MARKER = ".complete"

_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.phi-pipeline</groupId>
  <artifactId>embedded-kafka-{version}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-server</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


def validate_version(version: str) -> str:
    """Return ``version`` if it is a plain ``X.Y.Z`` Kafka version.

    The version is interpolated into a pom file and a path, so anything else is refused.

    Raises:
        KafkaLauncherError: the version is not of the form ``X.Y.Z``.
    """
    if not _VERSION_RE.fullmatch(version):
        raise KafkaLauncherError(
            f"kafka.embedded_version must look like 4.1.1, got {version!r}",
            reason="bad_kafka_version",
        )
    return version


def render_pom(version: str) -> str:
    """Return the throw-away pom whose dependencies are the broker's jars."""
    return _POM.format(version=validate_version(version), log4j=LOG4J_SLF4J_VERSION)


def libs_dir(home: Path, version: str) -> Path:
    """Return where the jars of ``version`` live under ``home``."""
    return home / validate_version(version) / "libs"


def is_cached(home: Path, version: str) -> bool:
    """Return True when a complete jar cache for ``version`` exists."""
    libs = libs_dir(home, version)
    return (libs / MARKER).is_file() and any(libs.glob("kafka_2.13-*.jar"))


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_jars(
    home: Path, version: str, *, mvn: str | None = None, timeout_s: float = 900.0
) -> Path:
    """Return the directory holding the broker jars, fetching them with Maven if needed.

    Args:
        home: ``KafkaSettings.embedded_home``.
        version: the Apache Kafka version (``X.Y.Z``).
        mvn: the Maven executable; default ``mvn`` on ``PATH``. Not looked up when cached.
        timeout_s: how long Maven may take.

    Returns:
        The ``libs`` directory (a complete cache).

    Raises:
        KafkaLauncherError: Maven is missing, fails, or times out.
    """
    libs = libs_dir(home, version)
    if is_cached(home, version):
        return libs
    with file_lock(libs.parent / ".fetch.lock"):
        # Another process may have completed the fetch while we waited for the lock.
        if is_cached(home, version):
            return libs
        executable = mvn or shutil.which("mvn")
        if executable is None:
            raise KafkaLauncherError(
                "Maven (mvn) is not on PATH; install it or set KAFKA_BOOTSTRAP_SERVERS to use "
                "an existing broker",
                reason="maven_missing",
            )
        log.info("fetching Apache Kafka %s jars with Maven into %s", version, libs)
        staging = Path(tempfile.mkdtemp(prefix=".libs-", dir=libs.parent))
        try:
            _run_maven(executable, version, staging, timeout_s)
            (staging / "libs" / MARKER).write_text(version + "\n", encoding="utf-8")
            if libs.exists():
                shutil.rmtree(libs)  # a partial cache from an interrupted older fetch
            # The rename makes the cache appear complete or not at all.
            os.replace(staging / "libs", libs)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return libs


def _run_maven(mvn: str, version: str, staging: Path, timeout_s: float) -> None:
    """Run ``mvn dependency:copy-dependencies`` for the broker pom into ``staging/libs``."""
    pom = staging / "pom.xml"
    pom.write_text(render_pom(version), encoding="utf-8")
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging / 'libs'}",
    ]
    try:
        done = subprocess.run(
            cmd, cwd=staging, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise KafkaLauncherError(
            f"Maven did not fetch Kafka {version} within {timeout_s:.0f}s", reason="fetch_failed"
        ) from exc
    except OSError as exc:
        raise KafkaLauncherError(f"cannot run Maven: {exc}", reason="maven_missing") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip()[-2000:]
        raise KafkaLauncherError(
            f"Maven failed to fetch Kafka {version} (exit {done.returncode}): {tail}",
            reason="fetch_failed",
        )
    if not any((staging / "libs").glob("kafka_2.13-*.jar")):
        raise KafkaLauncherError(
            f"Maven finished but no kafka_2.13 jar for {version} was copied",
            reason="fetch_failed",
        )
