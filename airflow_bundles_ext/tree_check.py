"""The pre-publish check of a staged version tree: file and byte caps, symlinks that leave it.

Run on the staging directory just before it becomes ``versions/<v>``
(:meth:`airflow_bundles_ext.publish.VersionStore.stage`), so a tree that breaks a cap or
points outside itself is never published: the previous version keeps serving and the error
names the bundle, the cap and what to do. Sources also check what they can before fetching
(the S3 manifest, git's file list), so a cap is usually hit before any byte is downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from airflow_bundles_ext.core.text import printable
from airflow_bundles_ext.errors import SourceLimitError, UnsafePathError


@dataclass(frozen=True)
class TreeLimits:
    """``None`` is no cap (bundles in the static list); ``external_symlinks=False`` refuses links out."""

    max_files: int | None = None
    max_bytes: int | None = None
    external_symlinks: bool = True

    @property
    def active(self) -> bool:
        return self.max_files is not None or self.max_bytes is not None or not self.external_symlinks

    def check_counts(self, files: int, size: int | None, where: str) -> None:
        """Raise :class:`SourceLimitError` when ``files`` or ``size`` bytes exceed the caps."""
        if self.max_files is not None and files > self.max_files:
            raise SourceLimitError(
                f"bundle over its file cap: {where}: {files} files, cap max_files={self.max_files}; "
                "remove files from the source or ask the platform team for a higher cap"
            )
        if self.max_bytes is not None and size is not None and size > self.max_bytes:
            raise SourceLimitError(
                f"bundle over its size cap: {where}: {size} bytes, cap max_bytes={self.max_bytes}; "
                "remove files from the source or ask the platform team for a higher cap"
            )


def check_tree(root: Path, limits: TreeLimits, where: str) -> None:
    """Walk ``root`` once (``lstat`` only) and enforce ``limits``."""
    if not limits.active:
        return
    real_root = os.path.realpath(root)
    files = size = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    files += 1
                    if not limits.external_symlinks:
                        _check_link(entry.path, real_root, root, where)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
        limits.check_counts(files, size, where)


def _check_link(path: str, real_root: str, root: Path, where: str) -> None:
    target = os.path.realpath(path)
    if os.path.commonpath([target, real_root]) == real_root:
        return
    rel = os.path.relpath(path, root)
    raise UnsafePathError(
        f"symlink refused: {where}: {printable(rel)} -> {printable(os.readlink(path))} points outside the "
        "bundle; a bundle file may only link inside its own tree: replace the link with the file"
    )
