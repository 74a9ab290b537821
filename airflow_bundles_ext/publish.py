"""Local version trees and the atomic publish of one of them.

Layout under a bundle's ``base_dir`` (``<storage root>/<bundle name>``)::

    current -> versions/<v>          the stable path the DAG processor parses
    versions/<v>/...                 one complete tree per version, never modified
    .staging/<v>.<pid>.<token>/      trees being built; renamed into versions/ when complete

The sequence, and where a crash can land:

1. ``stage(v)`` builds the tree in ``.staging/``. A crash here leaves only staging debris,
   which ``sweep()`` removes on the next refresh; ``versions/`` and ``current`` are untouched.
2. On success the staging dir is renamed to ``versions/<v>`` (one ``rename``, same
   filesystem). A crash before the rename is case 1; after it, ``versions/<v>`` is complete.
   So every directory in ``versions/`` is a complete tree: no marker file is needed.
3. ``publish(v)`` writes a temp symlink and renames it over ``current``. A reader that
   resolves ``current`` sees the old tree or the new one, never a mix.

``stage``, ``publish`` and ``sweep`` must be called under the bundle's lock
(``BaseDagBundle.lock()``), which serialises builders on one host; ``sweep`` relies on it
to know that no live builder owns a staging directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from airflow_bundles_ext.core.paths import check_segment
from airflow_bundles_ext.errors import PublishError

CURRENT_LINK = "current"
STAGING_DIR = ".staging"


class VersionStore:
    """The version trees of one bundle on local disk."""

    def __init__(self, base_dir: Path, versions_dir: Path) -> None:
        self.base_dir = base_dir
        self.versions_dir = versions_dir
        self.current_link = base_dir / CURRENT_LINK
        self.staging_root = base_dir / STAGING_DIR

    def version_dir(self, version: str) -> Path:
        return self.versions_dir / check_segment(version, what="bundle version")

    def has(self, version: str) -> bool:
        return self.version_dir(version).is_dir()

    def published_version(self) -> str | None:
        """The version ``current`` points at, or ``None`` when nothing is published."""
        try:
            target = os.readlink(self.current_link)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PublishError(
                f"cannot read published link {self.current_link}: {exc}; remove it and refresh"
            ) from exc
        version = Path(target).name
        return version if self.version_dir(version).is_dir() else None

    @contextlib.contextmanager
    def stage(self, version: str, check: Callable[[Path], None] | None = None) -> Iterator[Path]:
        """Yield an empty staging directory; on a clean exit it becomes ``versions/<version>``.

        ``check`` (the pre-publish check, :func:`airflow_bundles_ext.tree_check.check_tree`) runs
        on the complete tree first. If the body or the check raises, the staging directory is
        removed and the error propagates. If ``versions/<version>`` appeared meanwhile
        (content-addressed versions are identical), the staged copy is discarded.
        """
        final = self.version_dir(version)
        self.staging_root.mkdir(parents=True, exist_ok=True)
        staging = self.staging_root / f"{version}.{os.getpid()}.{secrets.token_hex(4)}"
        staging.mkdir()
        try:
            yield staging
            if check is not None:
                check(staging)
            self.versions_dir.mkdir(parents=True, exist_ok=True)
            if final.exists():
                shutil.rmtree(staging, ignore_errors=True)
            else:
                os.rename(staging, final)
                _fsync_dir(self.versions_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def publish(self, version: str) -> None:
        """Point ``current`` at ``versions/<version>`` with one atomic rename."""
        final = self.version_dir(version)
        if not final.is_dir():
            raise PublishError(f"cannot publish version {version}: {final} does not exist")
        tmp_link = self.base_dir / f".{CURRENT_LINK}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        relative_target = os.path.relpath(final, self.base_dir)
        try:
            os.symlink(relative_target, tmp_link)
            os.replace(tmp_link, self.current_link)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp_link.unlink()
            raise PublishError(f"cannot publish version {version} at {self.current_link}: {exc}") from exc
        _fsync_dir(self.base_dir)

    def sweep(self) -> list[Path]:
        """Remove staging debris and temp links left by a crashed builder. Never fails.

        Returns what was removed. Must run under the bundle lock.
        """
        removed: list[Path] = []
        if self.staging_root.is_dir():
            for entry in self.staging_root.iterdir():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        if self.base_dir.is_dir():
            for entry in self.base_dir.glob(f".{CURRENT_LINK}.*.tmp"):
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed.append(entry)
        return removed


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory, fsync, rename.

    A reader sees the old content or the new, never a partial file. The temp name is
    hidden and ends in ``.tmp``, so directory watchers skip it.
    """
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable; best effort on filesystems that refuse it."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
