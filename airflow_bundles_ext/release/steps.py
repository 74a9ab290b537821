"""The steps of ``publish``, ``rollback`` and ``list``, as a straight line each.

``publish DIR``: hash the tree -> read the pointer (its ETag) -> already current? done -> check
``--expect-current`` -> upload the objects the release root lacks (one LIST to know which) ->
store the manifest and the archive (once) -> check that the endpoint honours conditional
writes -> replace the pointer with a compare-and-swap. The pointer is written last: a publish
that fails or is killed before it changes nothing anyone reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_bundles_ext import archive
from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.core.paths import safe_relative_path
from airflow_bundles_ext.core.release import Pointer, ReleaseLayout, load_pointer, release_manifest
from airflow_bundles_ext.errors import (
    ConditionalWritesUnsupportedError,
    ReleaseConflictError,
    ReleaseError,
    S3RequestError,
)
from airflow_bundles_ext.s3_client import S3Objects, run_pool

SKIP_DIRS = frozenset({".git", "__pycache__"})
POINTER_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Tree:
    """A directory to publish: ``path -> (sha256, size)`` and where each file is on disk."""

    root: Path
    files: dict[str, tuple[str, int]]

    @property
    def manifest(self) -> mf.Manifest:
        return release_manifest(self.files)


def scan(root: Path) -> Tree:
    """Hash every regular file under ``root`` (``.git`` and ``__pycache__`` skipped)."""
    if not root.is_dir():
        raise ReleaseError(f"cannot publish {root}: not a directory")
    files: dict[str, tuple[str, int]] = {}
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in names:
            path = Path(directory, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink() or not path.is_file():
                raise ReleaseError(
                    f"cannot publish {path}: only regular files are published; replace the link"
                )
            safe_relative_path(rel, what="file path")
            with open(path, "rb") as fh:
                files[rel] = (hashlib.file_digest(fh, "sha256").hexdigest(), path.stat().st_size)
    return Tree(root, files)


def read_pointer(objects: S3Objects, layout: ReleaseLayout) -> tuple[Pointer | None, str | None]:
    """The current pointer and its ETag; ``(None, None)`` before the first release."""
    try:
        data, etag = objects.get_bytes(layout.pointer, limit=POINTER_LIMIT)
    except S3RequestError as exc:
        if exc.gone:
            return None, None
        raise
    return load_pointer(data, source=layout.url(layout.pointer)), etag


def check_expected(current: Pointer | None, expected: str | None, layout: ReleaseLayout) -> None:
    if expected is None:
        return
    have = current.version if current else "none"
    if have != expected:
        raise ReleaseConflictError(
            f"release conflict: {layout.url()}: the current release is {have}, not {expected}; a newer "
            "pipeline run published meanwhile: do not replace it (or drop --expect-current)"
        )


def upload_missing(objects: S3Objects, layout: ReleaseLayout, tree: Tree, workers: int) -> dict[str, int]:
    """PUT the objects the release root lacks (content-addressed: each body once, ever)."""
    stored = {o.key[len(layout.objects) :] for o in objects.list(layout.objects)}
    wanted = {sha: rel for rel, (sha, _) in tree.files.items()}
    missing = sorted(set(wanted) - stored)

    def put(sha: str) -> int:
        path = tree.root / wanted[sha]
        with contextlib.suppress(_Exists):
            _put_once(objects, layout.object_key(sha), path)
        return path.stat().st_size

    sizes = run_pool(put, missing, workers=workers)
    return {"uploaded": len(missing), "skipped": len(wanted) - len(missing), "bytes_uploaded": sum(sizes)}


class _Exists(Exception):
    pass


def _put_once(objects: S3Objects, key: str, path: Path) -> None:
    try:
        objects.put_file(key, path, if_none_match=True)
    except S3RequestError as exc:
        if exc.code == "PreconditionFailed":
            raise _Exists from exc
        raise


def store_version(objects: S3Objects, layout: ReleaseLayout, tree: Tree) -> int:
    """Store the manifest and the archive of ``tree``'s version once; returns the archive's size."""
    manifest = tree.manifest
    version = manifest.version
    data = mf.dumps(manifest, bucket=layout.bucket, prefix=layout.prefix)
    with contextlib.suppress(_Exists), tempfile.TemporaryDirectory(prefix="abx-release-") as tmp:
        (Path(tmp) / "manifest.json").write_bytes(data)
        _put_once(objects, layout.manifest_key(version), Path(tmp) / "manifest.json")
    if objects.head(layout.archive_key(version)):
        return 0
    with tempfile.TemporaryDirectory(prefix="abx-release-") as tmp:
        size = archive.pack(tree.root, manifest, Path(tmp) / "a.tar.zst")
        with contextlib.suppress(_Exists):
            _put_once(objects, layout.archive_key(version), Path(tmp) / "a.tar.zst")
    return size


def ensure_conditional_writes(objects: S3Objects, layout: ReleaseLayout) -> None:
    """Refuse to go on when the endpoint ignores ``If-None-Match`` (the pointer CAS would be a lie)."""
    probe = f"{layout.root}.cas-probe-{secrets.token_hex(8)}"
    try:
        objects.put_bytes(probe, b"probe", if_none_match=True)
        try:
            objects.put_bytes(probe, b"probe", if_none_match=True)
        except S3RequestError as exc:
            if exc.code == "PreconditionFailed":
                return
            raise
        raise ConditionalWritesUnsupportedError(
            f"conditional writes unsupported: {layout.url()}: the endpoint ignored If-None-Match, so a "
            "pipeline could overwrite a newer release; use an endpoint that supports conditional writes "
            "(AWS S3 does), or pass --no-cas to publish without compare-and-swap"
        )
    finally:
        with contextlib.suppress(S3RequestError):
            objects.delete(probe)


def write_pointer(
    objects: S3Objects, layout: ReleaseLayout, pointer: Pointer, etag: str | None, *, cas: bool
) -> None:
    """Replace the pointer: ``If-Match`` the ETag read before (``If-None-Match`` for the first)."""
    try:
        if not cas:
            objects.put_bytes(layout.pointer, pointer.dumps())
        elif etag is None:
            objects.put_bytes(layout.pointer, pointer.dumps(), if_none_match=True)
        else:
            objects.put_bytes(layout.pointer, pointer.dumps(), if_match=etag)
    except S3RequestError as exc:
        if exc.code != "PreconditionFailed":
            raise
        raise ReleaseConflictError(
            f"release conflict: {layout.url(layout.pointer)}: another pipeline moved the pointer while this "
            "one published; nothing was replaced: run again to publish on top of it"
        ) from exc


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def releases(objects: S3Objects, layout: ReleaseLayout) -> list[dict[str, Any]]:
    """Every release of the root, oldest first, and which one is current."""
    current, _ = read_pointer(objects, layout)
    found = [
        (o.modified, o.key[len(layout.manifests) :].removesuffix(".json"))
        for o in objects.list(layout.manifests)
    ]
    return [
        {"version": v, "stored_at": t, "current": bool(current and current.version == v)}
        for t, v in sorted(found)
    ]
