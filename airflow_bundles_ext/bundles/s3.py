"""S3 DAG bundle: manifest diffing, atomic publish, versions that fresh workers can rebuild.

A drop-in for ``airflow.providers.amazon.aws.bundles.s3.S3DagBundle`` (same kwargs) built on
:class:`~airflow_bundles_ext.bundles.base.VersionedTreeBundle`, which owns locking, holds,
publishing and the Airflow contract. This module is the source:

- **resolve the latest version**: LIST the prefix into a manifest ``{path: ETag, size}``; the
  version is the hash of the manifest (a no-change refresh is LIST only);
- **resolve a pinned version**: GET the manifest stored for it in the bucket;
- **build**: hard-link what the published tree already has, GET only what was added or
  changed (in parallel, verified), store the manifest (in the bucket first, so a worker can
  rebuild the version before anyone can use it);
- **packed versions** (``packed=True``, the default; :mod:`.s3_packed`): one archive per
  version, so a worker with empty storage gets a whole version with two GETs.

See docs/s3-bundle.md for configuration, IAM and limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow_bundles_ext import archive
from airflow_bundles_ext.bundles import s3_packed as packed
from airflow_bundles_ext.bundles.base import Target, VersionedTreeBundle
from airflow_bundles_ext.bundles.kwargs import bounded_int, required_str, tree_limits
from airflow_bundles_ext.bundles.s3_connection import client_for
from airflow_bundles_ext.bundles.s3_local import LocalManifests, hashed, link_unchanged
from airflow_bundles_ext.bundles.s3_release import ReleaseSource
from airflow_bundles_ext.bundles.s3_versions import (
    DEFAULT_MANIFEST_ROOT,
    list_manifest,
    manifest_prefix_for,
    raise_if_unavailable,
    stored_manifest,
)
from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.errors import (
    EmptySourceRefusedError,
    ManifestError,
    S3RequestError,
    VersionUnavailableError,
)
from airflow_bundles_ext.s3_client import Fetch, S3Objects, fetch_all

__all__ = ["DEFAULT_MANIFEST_ROOT", "S3DagBundle"]

_VERSION = re.compile(rf"^[0-9a-f]{{{mf.VERSION_HEX_CHARS}}}$")


@dataclass(frozen=True)
class _Build:
    """What building one version needs: its manifest, and the tree it can carry files over from."""

    manifest: mf.Manifest
    base: mf.Manifest
    base_version: str | None
    pinned: bool  # a worker's rebuild: objects by VersionId, the manifest is already stored


class S3DagBundle(VersionedTreeBundle):
    """DAG files under ``s3://<bucket_name>/<prefix>``, versioned by content.

    :param bucket_name: the bucket holding the DAG files.
    :param prefix: key prefix of the bundle ("" = whole bucket); a trailing slash is optional.
    :param aws_conn_id: Airflow AWS connection (endpoint_url, region, role all honoured).
    :param manifest_prefix: where version manifests are stored in the same bucket; default
        ``_airflow_bundles_ext/manifests/<bundle name>/``. Keys under it, and under
        ``_airflow_bundles_ext/manifests/`` whatever it is, are never bundle files.
    :param max_workers: parallel downloads (one client, this many pooled connections).
    :param allow_empty: publish an empty listing even when the published version has files.
    :param max_attempts: total attempts per request (botocore standard retry mode), and per
        object download including re-requests of a body that broke mid-stream.
    :param connect_timeout: / :param read_timeout: seconds, per request.
    :param max_files: / :param max_bytes: caps on the objects and bytes of one version (``None``:
        no cap); a listing over a cap is refused before any download and the published version
        keeps serving. Bundle files get the caps of the tenancy policy.
    :param packed: store an archive of every version the processor builds, and use archives to
        build versions from nothing (fresh workers, a cold processor).
    :param release_mode: ``bucket_name``/``prefix`` is a release root written by
        ``airflow-bundle-release``: a refresh is one conditional GET of its pointer, and the
        version is whatever release the pointer names (rollback included).
    """

    component = "s3"

    def __init__(
        self,
        *,
        bucket_name: str,
        prefix: str = "",
        aws_conn_id: str | None = "aws_default",
        manifest_prefix: str | None = None,
        max_workers: int = 16,
        allow_empty: bool = False,
        max_attempts: int = 5,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_files: int | None = None,
        max_bytes: int | None = None,
        packed: bool = True,
        release_mode: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        where = f"bundle {self.name!r}"
        self.bucket_name = required_str(bucket_name, where, "bucket_name")
        self.prefix = prefix or ""
        self.list_prefix = self.prefix.strip("/") + "/" if self.prefix.strip("/") else ""
        self.manifest_prefix = manifest_prefix_for(manifest_prefix, self.name, self.list_prefix, where)
        self.aws_conn_id = aws_conn_id
        self.max_workers = bounded_int(max_workers, 1, 128, where, "max_workers")
        self.max_attempts = bounded_int(max_attempts, 1, 20, where, "max_attempts")
        self.allow_empty = bool(allow_empty)
        self.connect_timeout, self.read_timeout = float(connect_timeout), float(read_timeout)
        self.limits = tree_limits(max_files, max_bytes, where)
        self.packed = bool(packed)
        self.release = ReleaseSource(self) if release_mode else None
        self.local_manifests = LocalManifests(self.base_dir)
        self._unpacked: str | None = None  # a version this instance built and has not packed yet
        self._published_manifest: mf.Manifest | None = None  # of the published version, once read
        self.log = self.log.bind(bucket=self.bucket_name)

    def __repr__(self) -> str:
        where = f"s3://{self.bucket_name}/{self.list_prefix}"
        return f"S3DagBundle(name={self.name!r}, {where}, version={self.version!r})"

    def parse_version(self, version: str) -> str:
        if not _VERSION.match(version):
            raise VersionUnavailableError(
                f"S3 bundle version unavailable: bundle {self.name!r} version {version!r}: a version of "
                f"this bundle is a {mf.VERSION_HEX_CHARS}-character content hash; use the version recorded "
                "by Airflow"
            )
        return version

    def manifest_key(self, version: str) -> str:
        return f"{self.manifest_prefix}{self.parse_version(version)}.json"

    def archive_key(self, version: str) -> str:
        return f"{self.manifest_prefix}{self.parse_version(version)}{archive.SUFFIX}"

    def version_data(self, version: str) -> dict[str, Any] | None:
        if self.release:
            return self.release.version_data(version)
        return {
            "bucket": self.bucket_name,
            "prefix": self.list_prefix,
            "manifest": self.manifest_key(version),
        }

    def view_url_template(self) -> str | None:
        if self._view_url_template:
            return self._view_url_template
        return (
            f"https://s3.console.aws.amazon.com/s3/buckets/{quote(self.bucket_name)}"
            f"?prefix={quote(self.list_prefix)}"
        )

    # --- the source -------------------------------------------------------------------------------

    def resolve_latest(self) -> Target:
        if self.release:
            return self.release.resolve_latest()
        published = self.store.published_version()
        previous = self._manifest_of(published)
        listed = list_manifest(self.objects, self.list_prefix, self.manifest_prefix)
        manifest = mf.carry_over(previous, listed)
        self.metrics.gauge("objects_listed", len(manifest))
        return Target(manifest.version, _Build(manifest, previous, published, pinned=False))

    def resolve_pinned(self, version: str) -> Target:
        if self.release:
            return Target(version)
        manifest = stored_manifest(self.objects, self.manifest_key(version), version, self.list_prefix)
        self.limits.check_counts(
            len(manifest), manifest.total_bytes, f"bundle {self.name!r} version {version}"
        )
        published = self.store.published_version()
        return Target(version, _Build(manifest, self._manifest_of(published), published, pinned=True))

    def check_publishable(self, target: Target, published: str | None) -> None:
        """Refuse caps exceeded, key collisions and an emptied prefix (only when the version changed)."""
        if self.release:
            return  # a release is explicit: its caps are checked when it is built
        manifest: mf.Manifest = target.detail.manifest
        where = f"s3://{self.bucket_name}/{self.list_prefix}"
        self.limits.check_counts(len(manifest), manifest.total_bytes, where)
        mf.check_collisions(manifest, where)
        if len(manifest) or self.allow_empty or published is None:
            return
        if not any(self.store.version_dir(published).iterdir()):
            return
        raise EmptySourceRefusedError(
            f"refresh refused: {where} lists no objects while version {published} has files: an emptied "
            "prefix or a narrowed IAM scope would remove every DAG; fix the prefix or permissions, or set "
            "allow_empty=True to publish an empty bundle"
        )

    def build(self, target: Target, staging: Path) -> None:
        """From the archive when building from nothing; else carry over what the published tree
        has, download the rest, store the manifest."""
        if self.release:
            return self.release.build(target, staging)
        plan: _Build = target.detail
        if self.packed and plan.base_version is None and packed.unpack_version(self, target, staging):
            return
        change = mf.diff(plan.base, plan.manifest)
        base_dir = self.store.version_dir(plan.base_version) if plan.base_version else None
        missing = link_unchanged(base_dir, staging, change.unchanged)
        try:
            got = self._download(plan, sorted(missing + list(change.to_download)), staging)
        except S3RequestError as exc:
            if plan.pinned:
                raise_if_unavailable(target.version, exc)
            raise
        final = hashed(mf.with_fetched(plan.manifest, got), staging)
        data = mf.dumps(final, bucket=self.bucket_name, prefix=self.list_prefix)
        if not plan.pinned:  # workers rebuild from this manifest: store it before anyone can use the version
            self.objects.put_bytes(self.manifest_key(target.version), data)
            self._unpacked = target.version
        self.local_manifests.save(data, target.version)
        self.metrics.incr("objects_deleted", len(change.removed))
        self.log.info(
            "version built",
            version=target.version,
            downloaded=len(got),
            carried=len(change.unchanged) - len(missing),
            removed=len(change.removed),
        )

    def published(self, target: Target, built: bool) -> None:
        cached = self._published_manifest
        if cached is None or cached.version != target.version:
            self._published_manifest = self._manifest_of(target.version)
        self.local_manifests.prune({target.version}, self.versions_dir)
        if self.packed and self._unpacked == target.version:
            packed.pack(self, target.version, self._manifest_of(target.version))
            self._unpacked = None

    # --- plumbing -------------------------------------------------------------------------------

    def _manifest_of(self, version: str | None) -> mf.Manifest:
        """The manifest of a local tree; empty when none is kept (then everything is downloaded)."""
        cached = self._published_manifest
        if version is None:
            return mf.EMPTY
        if cached is not None and cached.version == version:
            return cached
        try:
            return self.local_manifests.load(version) or mf.EMPTY
        except ManifestError as exc:
            self.log.warning("local manifest unusable; its version is downloaded again", error=str(exc))
            return mf.EMPTY

    def _download(self, plan: _Build, paths: list[str], staging: Path) -> dict[str, mf.Got]:
        """GET ``paths`` into ``staging``; returns the VersionId and sha256 of each, by path."""
        jobs = []
        for rel in paths:
            entry = plan.manifest.entries[rel]
            version_id = entry.version_id if plan.pinned else None
            jobs.append(Fetch(self.list_prefix + rel, staging / rel, entry.size, entry.etag, version_id))
        fetched = fetch_all(self.objects, jobs, max_workers=self.max_workers)
        self.metrics.incr("objects_downloaded", len(fetched))
        self.metrics.incr("bytes_downloaded", sum(f.size for f in fetched))
        return {f.key[len(self.list_prefix) :]: mf.Got(f.version_id, f.sha256) for f in fetched}

    @cached_property
    def objects(self) -> S3Objects:
        client = client_for(
            self.aws_conn_id, self.max_workers, self.max_attempts, self.connect_timeout, self.read_timeout
        )
        return S3Objects(client, self.bucket_name, max_attempts=self.max_attempts)
