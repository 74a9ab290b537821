"""Manifests of an object-store prefix: entries, diff, content-hash version, (de)serialisation.

Pure data, no I/O: the S3 bundle builds a :class:`Manifest` from a listing, diffs it against
the manifest of the published version and stores it as JSON (locally for the next diff, in
the bucket for workers that rebuild a pinned version).

The version is a hash of the sorted ``(path, etag, size)`` triples only. ``version_id`` is
metadata used to fetch an exact object version later; it is deliberately left out of the
hash, so the same content always gives the same version, whatever the bucket's history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any

from airflow_bundles_ext.core.paths import safe_relative_path
from airflow_bundles_ext.errors import ManifestError, UnsafePathError

FORMAT = 1
VERSION_HEX_CHARS = 32  # 128 bits of sha256: short enough for a path segment, no realistic collision


@dataclass(frozen=True)
class Listed:
    """One object of a listing: its key, ETag without quotes and size (the S3 client yields these)."""

    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class Entry:
    """One object: ``path`` relative to the bundle root, ETag without quotes, size in bytes."""

    path: str
    etag: str
    size: int
    version_id: str | None = None

    def same_content(self, other: Entry) -> bool:
        return self.etag == other.etag and self.size == other.size


@dataclass(frozen=True)
class Manifest:
    """Entries by relative path. Build with :func:`manifest_of`."""

    entries: Mapping[str, Entry] = field(default_factory=lambda: MappingProxyType({}))

    def __len__(self) -> int:
        return len(self.entries)

    @cached_property
    def version(self) -> str:
        """The content hash, computed once per manifest (manifests are immutable)."""
        return content_version(self.entries.values())

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries.values())


EMPTY = Manifest()


@dataclass(frozen=True)
class ManifestDiff:
    """What changed from ``old`` to ``new``; every tuple is sorted."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: tuple[str, ...]

    @property
    def to_download(self) -> tuple[str, ...]:
        return tuple(sorted(self.added + self.changed))


def manifest_of(entries: Iterable[Entry]) -> Manifest:
    """A manifest of ``entries``; raises :class:`UnsafePathError` on a duplicate path."""
    by_path: dict[str, Entry] = {}
    for entry in entries:
        if entry.path in by_path:
            raise UnsafePathError(f"duplicate manifest path {entry.path!r}: each path must appear once")
        by_path[entry.path] = entry
    return Manifest(MappingProxyType(dict(sorted(by_path.items()))))


def content_version(entries: Iterable[Entry]) -> str:
    """Hash of the sorted ``(path, etag, size)`` triples; ``version_id`` is not part of it."""
    digest = hashlib.sha256(f"bundles-ext-manifest-v{FORMAT}\n".encode())
    for entry in sorted(entries, key=lambda e: e.path):
        digest.update(f"{entry.path}\x00{entry.etag}\x00{entry.size}\n".encode())
    return digest.hexdigest()[:VERSION_HEX_CHARS]


def relative_key(key: str, list_prefix: str) -> str | None:
    """The bundle-relative path of ``key`` listed under ``list_prefix``; ``None`` for folder markers.

    Keys ending in ``/`` are the zero-byte "folder" objects the S3 console creates: they
    cannot be files, so they are skipped. Raises :class:`UnsafePathError` for a key that
    would land outside the bundle directory.
    """
    if not key.startswith(list_prefix):
        raise UnsafePathError(f"unsafe key {key!r}: listed under prefix {list_prefix!r} but outside it")
    rel = key[len(list_prefix) :]
    if rel == "" or rel.endswith("/"):
        return None
    if _maybe_unsafe(rel):  # the full check only for keys that can fail it: this runs per listed key
        safe_relative_path(rel, what=f"object key {key!r} (bundle path {rel!r})")
    return rel


def _maybe_unsafe(rel: str) -> bool:
    """False only for keys that :func:`safe_relative_path` surely accepts (cheap string tests)."""
    return rel[0] == "/" or "//" in rel or "\\" in rel or "\x00" in rel or "/." in "/" + rel


def check_collisions(manifest: Manifest, list_prefix: str) -> None:
    """Refuse paths that are both a file and a directory (``a/b`` and ``a/b/c``).

    String and set arithmetic only (no path objects): every parent directory of every path is
    collected once, and a clash is a path that is also such a directory.
    """
    files = manifest.entries.keys()
    dirs: set[str] = set()
    for path in files:
        cut = path.rfind("/")
        while cut > 0 and path[:cut] not in dirs:
            dirs.add(path[:cut])
            cut = path.rfind("/", 0, cut)
    clashes = sorted(dirs.intersection(files))
    if clashes:
        file = clashes[0]
        under = next(p for p in files if p.startswith(file + "/"))
        raise UnsafePathError(
            f"object key collision: {list_prefix}{file} is a file and also a directory of "
            f"{list_prefix}{under} ({len(clashes)} collision(s)); rename or delete one of them"
        )


def diff(old: Manifest, new: Manifest) -> ManifestDiff:
    """Pure set arithmetic on paths, then a content compare of the common ones."""
    old_paths, new_paths = set(old.entries), set(new.entries)
    common = old_paths & new_paths
    changed = {p for p in common if not old.entries[p].same_content(new.entries[p])}
    return ManifestDiff(
        added=tuple(sorted(new_paths - old_paths)),
        changed=tuple(sorted(changed)),
        removed=tuple(sorted(old_paths - new_paths)),
        unchanged=tuple(sorted(common - changed)),
    )


def carry_version_ids(old: Manifest, new: Manifest) -> Manifest:
    """``new`` with each unchanged entry's ``version_id`` taken from ``old`` (a listing has none)."""
    entries = dict(new.entries)
    for path, entry in new.entries.items():
        before = old.entries.get(path)
        if (
            before is not None
            and before.version_id
            and entry.version_id is None
            and before.same_content(entry)
        ):
            entries[path] = replace(entry, version_id=before.version_id)
    return Manifest(MappingProxyType(entries))  # same paths in the same order: no re-sort


def with_version_ids(manifest: Manifest, version_ids: Mapping[str, str | None]) -> Manifest:
    """``manifest`` with the ``version_id`` of the given paths replaced (from GET responses)."""
    return manifest_of(
        replace(e, version_id=normalise_version_id(version_ids[p])) if p in version_ids else e
        for p, e in manifest.entries.items()
    )


def normalise_version_id(value: str | None) -> str | None:
    """S3 reports ``"null"`` for objects written while the bucket was unversioned."""
    return None if value in (None, "", "null") else value


def dumps(manifest: Manifest, *, bucket: str, prefix: str) -> bytes:
    """Canonical JSON: stable key order, one entry per object, the version for a self-check."""
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": manifest.version,
        "bucket": bucket,
        "prefix": prefix,
        "entries": [
            {"path": e.path, "etag": e.etag, "size": e.size, "version_id": e.version_id}
            for e in manifest.entries.values()
        ],
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class StoredManifest:
    """A manifest read back from JSON with where its objects live."""

    manifest: Manifest
    bucket: str
    prefix: str


def loads(data: bytes, *, source: str) -> StoredManifest:
    """Parse and verify a manifest; raises :class:`ManifestError` naming ``source`` when it is not one."""
    try:
        payload = json.loads(data)
        if payload.get("format") != FORMAT:
            raise ValueError(f"unsupported format {payload.get('format')!r}")
        manifest = manifest_of(
            Entry(
                path=str(raw["path"]),
                etag=str(raw["etag"]),
                size=int(raw["size"]),
                version_id=normalise_version_id(raw.get("version_id")),
            )
            for raw in payload["entries"]
        )
        for path in manifest.entries:
            safe_relative_path(path, what=f"manifest path in {source}")
        bucket, prefix = str(payload["bucket"]), str(payload["prefix"])
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, UnsafePathError) as exc:
        raise ManifestError(f"invalid manifest {source}: {exc}") from exc
    if manifest.version != payload.get("version"):
        raise ManifestError(
            f"invalid manifest {source}: content hashes to {manifest.version}, "
            f"file says {payload.get('version')!r}"
        )
    return StoredManifest(manifest=manifest, bucket=bucket, prefix=prefix)
