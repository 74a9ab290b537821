"""Bytes and versions a bundle keeps on the local bundle storage. Filesystem reads only.

Bytes are allocated blocks of every file and directory under the bundle's base directory
(``<dag_bundle_storage_path>/<name>``), each inode counted once, so the hard-linked trees of
git versions are not counted twice. Versions are the entries of ``versions/``. A bundle that
keeps nothing there (``LocalDagBundle``) measures zero.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_bundles_ext.status.model import Storage


def measure(base_dir: Path, versions_dir: Path | None = None) -> Storage:
    """Walk ``base_dir`` (symlinks not followed); a vanishing entry is skipped, never raised."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(base_dir, onerror=lambda _exc: None):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key not in seen:
                seen.add(key)
                total += st.st_blocks * 512
    versions_path = versions_dir or base_dir / "versions"
    try:
        versions = sum(1 for entry in os.scandir(versions_path) if not entry.name.startswith("."))
    except OSError:
        versions = 0
    return Storage(bytes=total, versions=versions)
