"""The local side of the S3 bundle: manifests kept next to the version trees, and carry-over links.

Layout under the bundle's ``base_dir`` (see :mod:`airflow_bundles_ext.publish` for the rest)::

    manifests/<v>.json       manifest of versions/<v>, outside the tree, for the next diff

A manifest file is written (atomically) before its tree is renamed into ``versions/``, so a
crash can leave a manifest without a tree (harmless: the tree is rebuilt) but never a
published tree without its manifest, except when someone deletes files by hand; then the
next refresh downloads everything once.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.core.paths import check_segment
from airflow_bundles_ext.errors import ManifestError, PublishError
from airflow_bundles_ext.publish import atomic_write

MANIFESTS_DIR = "manifests"
# Errors after which a hard link cannot work here but a copy can.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}


class LocalManifests:
    """Manifests of the local version trees of one bundle."""

    def __init__(self, base_dir: Path) -> None:
        self.root = base_dir / MANIFESTS_DIR

    def path(self, version: str) -> Path:
        return self.root / f"{check_segment(version, what='bundle version')}.json"

    def load(self, version: str) -> mf.Manifest | None:
        """The manifest of ``version`` kept on this host; ``None`` when none is kept (not cached).

        Raises :class:`ManifestError` when the file is there but unreadable or describes another
        version: the caller decides what that costs (a full download), and says so.
        """
        path = self.path(version)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ManifestError(f"cannot read local manifest {path}: {exc}") from exc
        stored = mf.loads(data, source=str(path))
        if stored.manifest.version != version:
            raise ManifestError(f"local manifest {path} describes version {stored.manifest.version}")
        return stored.manifest

    def save(self, data: bytes, version: str) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path(version), data)
        except OSError as exc:
            raise PublishError(f"cannot write manifest {self.path(version)}: {exc}; check the disk") from exc

    def prune(self, keep: Iterable[str], versions_dir: Path) -> None:
        """Remove manifests of versions that have no tree any more. Never fails."""
        keep = set(keep)
        if not self.root.is_dir():
            return
        for entry in self.root.glob("*.json"):
            version = entry.name[: -len(".json")]
            if version not in keep and not (versions_dir / version).is_dir():
                with contextlib.suppress(OSError):
                    entry.unlink()


def link_unchanged(src_root: Path | None, dst_root: Path, paths: Iterable[str]) -> list[str]:
    """Hard-link (or copy) ``paths`` from the published tree into ``dst_root``.

    Returns the paths that could not be carried over because the source file is missing,
    so the caller downloads them instead. Published trees are never written to, so sharing
    inodes between versions is safe.
    """
    missing: list[str] = []
    for rel in paths:
        src = src_root / rel if src_root is not None else None
        dst = dst_root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src is None or not src.is_file():
            missing.append(rel)
            continue
        try:
            os.link(src, dst)
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise PublishError(f"cannot carry over {src} to {dst}: {exc}; check the disk") from exc
            _copy(src, dst)
    return missing


def _copy(src: Path, dst: Path) -> None:
    try:
        shutil.copy2(src, dst)
    except OSError as exc:
        raise PublishError(f"cannot copy {src} to {dst}: {exc}; check free space") from exc


def hashed(manifest: mf.Manifest, root: Path) -> mf.Manifest:
    """``manifest`` with a ``sha256`` for every file (carried over from an old manifest: maybe none)."""
    missing = {
        p: mf.Got(e.version_id, sha256_of(root / p)) for p, e in manifest.entries.items() if not e.sha256
    }
    return mf.with_fetched(manifest, missing) if missing else manifest


def sha256_of(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
