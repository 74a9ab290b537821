"""Releases of a bundle: immutable, content-addressed versions and one pointer. Pure data.

Layout under a release root ``s3://<bucket>/<prefix>/`` (written by ``airflow-bundle-release``,
read by ``S3DagBundle(release_mode=True)``)::

    _releases/objects/<sha256>               every file body, stored once, never rewritten
    _releases/manifests/<version>.json       path -> sha256 and size; version = hash of the manifest
    _releases/archives/<version>.tar.zst     the whole tree of that version (packed version)
    _releases/current.json                   the pointer: which version is current; written last

Everything but the pointer is immutable, so a half-published release is never visible (the
pointer moves only after every object, the manifest and the archive are stored), every release
stays rebuildable without bucket versioning, and a rollback is the pointer moving back. The
pointer is replaced with a compare-and-swap (``If-Match`` its ETag, ``If-None-Match: *`` for
the first), so a pipeline never overwrites a release it did not see.

A release manifest reuses :class:`~airflow_bundles_ext.core.manifest.Manifest`: an entry's
``etag`` and ``sha256`` are both the sha256 of the file, which names its object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.core.paths import check_segment
from airflow_bundles_ext.errors import ManifestError

ROOT = "_releases/"
POINTER_FORMAT = "abx-release-pointer-1"


@dataclass(frozen=True)
class ReleaseLayout:
    """Keys of one release root (``prefix`` is ``""`` or ends with ``/``)."""

    bucket: str
    prefix: str

    @classmethod
    def of(cls, bucket: str, prefix: str) -> ReleaseLayout:
        stripped = prefix.strip("/")
        return cls(bucket, f"{stripped}/" if stripped else "")

    @property
    def root(self) -> str:
        return f"{self.prefix}{ROOT}"

    @property
    def objects(self) -> str:
        return f"{self.root}objects/"

    @property
    def manifests(self) -> str:
        return f"{self.root}manifests/"

    @property
    def pointer(self) -> str:
        return f"{self.root}current.json"

    def object_key(self, sha256: str) -> str:
        return f"{self.objects}{sha256}"

    def manifest_key(self, version: str) -> str:
        return f"{self.manifests}{check_segment(version, what='release version')}.json"

    def archive_key(self, version: str) -> str:
        return f"{self.root}archives/{check_segment(version, what='release version')}.tar.zst"

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key or self.prefix}"


def release_manifest(files: dict[str, tuple[str, int]]) -> mf.Manifest:
    """The manifest of a tree given ``path -> (sha256, size)``."""
    return mf.manifest_of(mf.Entry(path, sha, size, sha256=sha) for path, (sha, size) in files.items())


@dataclass(frozen=True)
class Pointer:
    """Which version is current, and the one it replaced (for the record)."""

    version: str
    previous: str | None = None
    published_at: str = ""

    def dumps(self) -> bytes:
        payload = {
            "format": POINTER_FORMAT,
            "version": self.version,
            "previous": self.previous,
            "published_at": self.published_at,
        }
        return json.dumps(payload, sort_keys=True).encode()


def load_pointer(data: bytes, *, source: str) -> Pointer:
    """Parse a pointer; :class:`ManifestError` naming ``source`` when it is not one."""
    try:
        payload: Any = json.loads(data)
        if payload.get("format") != POINTER_FORMAT:
            raise ValueError(f"unsupported format {payload.get('format')!r}")
        version = check_segment(str(payload["version"]), what="release version")
        previous = payload.get("previous")
        return Pointer(version, str(previous) if previous else None, str(payload.get("published_at") or ""))
    except Exception as exc:
        raise ManifestError(
            f"invalid release pointer {source}: {exc}; publish or roll back to repair it"
        ) from exc
