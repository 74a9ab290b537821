"""The S3 bundle's source in release mode (``S3DagBundle(release_mode=True)``).

The bundle's ``bucket_name``/``prefix`` is a release root written by ``airflow-bundle-release``
(:mod:`airflow_bundles_ext.core.release`). Instead of listing the prefix, a refresh asks one
thing: which release does the pointer name? It asks with ``If-None-Match`` the pointer's last
ETag, so a refresh with no new release is **one request** (a 304), whatever the number of files.
A new release (or a rollback: the pointer moving back) is built from its archive (2 GETs:
manifest, archive, verified file by file), or object by object when the archive is missing or
damaged; every object is content-addressed and verified by its sha256.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_bundles_ext.bundles import s3_packed as packed
from airflow_bundles_ext.bundles.base import Target
from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.core.release import ReleaseLayout, load_pointer
from airflow_bundles_ext.errors import (
    ManifestError,
    S3RequestError,
    S3SourceError,
    VersionUnavailableError,
)
from airflow_bundles_ext.s3_client import Fetch, fetch_all

if TYPE_CHECKING:
    from airflow_bundles_ext.bundles.s3 import S3DagBundle

POINTER_LIMIT = 64 * 1024
MANIFEST_LIMIT = 256 * 1024 * 1024


class ReleaseSource:
    """Which release is current, and how to build one; the bundle owns everything else."""

    def __init__(self, bundle: S3DagBundle) -> None:
        self.bundle = bundle
        self.layout = ReleaseLayout.of(bundle.bucket_name, bundle.list_prefix)
        self._seen: tuple[str, str] | None = None  # (pointer ETag, version) of the last answer

    def resolve_latest(self) -> Target:
        """One conditional GET of the pointer: 304 means the release did not move."""
        objects = self.bundle.objects
        published = self.bundle.store.published_version()
        known = self._seen[0] if self._seen and self._seen[1] == published else None
        try:
            data, etag = objects.get_bytes(self.layout.pointer, limit=POINTER_LIMIT, if_none_match=known)
        except S3RequestError as exc:
            if exc.code == "NotModified" and self._seen:
                return Target(self._seen[1])
            if exc.gone:
                root = self.layout.url()
                raise S3SourceError(
                    f"no release at {root}: {self.layout.pointer} does not exist; publish one with "
                    f"`airflow-bundle-release publish DIR {root}`"
                ) from exc
            raise
        try:
            pointer = load_pointer(data, source=self.layout.url(self.layout.pointer))
        except ManifestError as exc:
            raise S3SourceError(str(exc)) from exc
        self._seen = (etag, pointer.version)
        return Target(pointer.version)

    def build(self, target: Target, staging: Path) -> None:
        manifest = self._manifest(target.version)
        where = f"bundle {self.bundle.name!r} release {target.version}"
        self.bundle.limits.check_counts(len(manifest), manifest.total_bytes, where)
        if not packed.unpack(self.bundle, self.layout.archive_key(target.version), manifest, staging):
            self._fetch_objects(target.version, manifest, staging)
        data = mf.dumps(manifest, bucket=self.layout.bucket, prefix=self.layout.prefix)
        self.bundle.local_manifests.save(data, target.version)

    def version_data(self, version: str) -> dict[str, Any]:
        return {
            "bucket": self.layout.bucket,
            "prefix": self.layout.prefix,
            "release": self.layout.manifest_key(version),
        }

    def _manifest(self, version: str) -> mf.Manifest:
        key = self.layout.manifest_key(version)
        try:
            data, _ = self.bundle.objects.get_bytes(key, limit=MANIFEST_LIMIT)
            stored = mf.loads(data, source=self.layout.url(key))
        except (S3RequestError, ManifestError) as exc:
            if isinstance(exc, S3RequestError) and not exc.gone:
                raise
            raise VersionUnavailableError(
                f"release unavailable: bundle {self.bundle.name!r} release {version}: {exc}; it was never "
                "published here or its manifest expired (S3 lifecycle rule): rerun on a current release"
            ) from exc
        if stored.manifest.version != version:
            raise VersionUnavailableError(
                f"release unavailable: {self.layout.url(key)} describes another release"
            )
        return stored.manifest

    def _fetch_objects(self, version: str, manifest: mf.Manifest, staging: Path) -> None:
        jobs = [
            Fetch(self.layout.object_key(e.etag), staging / path, e.size, sha256=e.etag)
            for path, e in manifest.entries.items()
        ]
        try:
            fetched = fetch_all(self.bundle.objects, jobs, max_workers=self.bundle.max_workers)
        except S3RequestError as exc:
            if exc.gone:
                raise VersionUnavailableError(
                    f"release unavailable: release {version}: {exc.url} is gone; objects of a release must "
                    "outlive it (check the S3 lifecycle rule)"
                ) from exc
            raise
        self.bundle.metrics.incr("objects_downloaded", len(fetched))
