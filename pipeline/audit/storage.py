"""Where sealed segments and manifests live: a write-once object store behind one interface.

The archiver writes an in-progress segment to a local *staging* file, fsyncs it, and then
*publishes* it as an immutable object; manifests are published the same way. Nothing is ever
overwritten or deleted through this interface.

:class:`LocalDirectoryStorage` is the implementation used today. The production target is an
object store with a retention lock, e.g. Amazon S3 with Object Lock in *compliance* mode and a
default retention of at least six years: there, ``publish`` is a ``PutObject`` (with
``ObjectLockMode=COMPLIANCE`` and ``ObjectLockRetainUntilDate``) guarded by ``If-None-Match: *``
so an existing object is never replaced, and not even the account root can shorten the
retention or delete a locked object version. That implementation is not part of this package.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Protocol

from pipeline.errors import AuditError


class ArchiveStorage(Protocol):
    """A write-once store of named objects (``/``-separated names, sorted lexically)."""

    def list(self, prefix: str = "") -> list[str]:
        """Return the names of every stored object starting with ``prefix``, sorted."""

    def read(self, name: str) -> bytes:
        """Return an object's bytes; raise :class:`AuditError` if it does not exist."""

    def exists(self, name: str) -> bool:
        """Return whether an object named ``name`` exists."""

    def publish(self, name: str, source: Path) -> None:
        """Store the local file ``source`` as the immutable object ``name`` and consume it.

        Raises:
            AuditError: ``name`` already exists (write-once), or the store failed.
        """

    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` as the immutable object ``name`` (same contract as :meth:`publish`)."""

    def staging_dir(self) -> Path:
        """Return a local directory for in-progress segment files (not part of the archive)."""


class LocalDirectoryStorage:
    """The archive as a local directory tree: one file per object, made read-only.

    Publishing is crash-safe: the source is fsynced, hard-linked to its final name (``link``
    fails if the name exists, so a published object is never replaced), chmod'ed read-only, and
    the directory is fsynced so the new name survives a power loss.
    """

    STAGING = ".staging"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalDirectoryStorage({str(self.root)!r})"

    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") for p in parts) or parts[0] == self.STAGING:
            raise AuditError(f"invalid archive object name {name!r}", reason="bad_object_name")
        return self.root.joinpath(*parts)

    def list(self, prefix: str = "") -> list[str]:
        """Return the names of every stored object starting with ``prefix``, sorted."""
        if not self.root.is_dir():
            return []
        names: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d != self.STAGING]
            rel = Path(dirpath).relative_to(self.root)
            for filename in filenames:
                name = (rel / filename).as_posix()
                if name.startswith(prefix):
                    names.append(name)
        return sorted(names)

    def read(self, name: str) -> bytes:
        """Return an object's bytes."""
        try:
            return self._path(name).read_bytes()
        except OSError as exc:
            raise AuditError(f"cannot read archive object {name}", reason="missing_object") from exc

    def exists(self, name: str) -> bool:
        """Return whether an object named ``name`` exists."""
        return self._path(name).is_file()

    def publish(self, name: str, source: Path) -> None:
        """Store ``source`` as the read-only object ``name`` (write-once) and remove ``source``."""
        target = self._path(name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _fsync_file(source)
            os.link(source, target)
            os.chmod(target, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            _fsync_dir(target.parent)
            source.unlink()
            _fsync_dir(source.parent)
        except FileExistsError as exc:
            raise AuditError(f"archive object {name} already exists", reason="exists") from exc
        except OSError as exc:
            raise AuditError(
                f"cannot publish archive object {name}: {type(exc).__name__}",
                reason="storage_failed",
            ) from exc

    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` as the read-only object ``name`` (write-once)."""
        staging = self.staging_dir() / (name.replace("/", "__") + ".put")
        try:
            with open(staging, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise AuditError(f"cannot stage {name}", reason="storage_failed") from exc
        self.publish(name, staging)

    def staging_dir(self) -> Path:
        """Return ``<root>/.staging``, created on demand."""
        path = self.root / self.STAGING
        path.mkdir(parents=True, exist_ok=True)
        return path


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
