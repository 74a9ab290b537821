"""S3 DAG bundle: manifest diffing, atomic publish, versions that fresh workers can rebuild.

A drop-in for ``airflow.providers.amazon.aws.bundles.s3.S3DagBundle`` (same kwargs) that

- lists the prefix into a manifest ``{path: ETag, size, VersionId}`` and downloads only what
  changed since the published version, over one client with a bounded pool;
- builds every version in a staging tree and publishes it by renaming a symlink, so
  ``bundle.path`` (``<base_dir>/current``) never shows a half-deployed tree;
- names a version by the hash of its manifest and stores the manifest in the bucket, so a
  worker given only ``(name, version)`` rebuilds exactly that tree.

Refresh, as a list of steps (all under the bundle lock)::

    sweep crash debris -> the published version and its manifest (cached in memory) -> LIST
    -> hold the listed version against stale cleanup -> same version? done
    -> refuse key collisions and an unexpected empty listing -> built before? publish it
    -> stage: link unchanged, GET added/changed (verified), PUT manifest -> rename -> publish

See docs/s3-bundle.md for configuration, IAM and limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from airflow.dag_processing.bundles.base import BaseDagBundle

from airflow_bundles_ext.bundles import s3_io
from airflow_bundles_ext.bundles._common import (
    VersionHolds,
    counting_failures,
    ensure_pinned_version,
    initialize_or_serve_published,
    make_bundle_version,
)
from airflow_bundles_ext.bundles.s3_local import LocalManifests, link_unchanged
from airflow_bundles_ext.bundles.s3_versions import (
    DEFAULT_MANIFEST_ROOT,
    MANIFEST_ROOT_PREFIX,
    list_manifest,
    manifest_prefix_for,
    raise_if_unavailable,
    stored_manifest,
)
from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.core.paths import check_segment
from airflow_bundles_ext.errors import BundleConfigError, EmptySourceRefusedError
from airflow_bundles_ext.metrics import BundleMetrics
from airflow_bundles_ext.publish import VersionStore
from airflow_bundles_ext.tree_check import TreeLimits

__all__ = ["DEFAULT_MANIFEST_ROOT", "S3DagBundle"]


class S3DagBundle(BaseDagBundle):
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
    """

    supports_versioning = True

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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        where = f"bundle {self.name!r}"
        check_segment(self.name, what="bundle name")  # it becomes a directory and a key prefix
        if self.version is not None:
            check_segment(self.version, what="bundle version")
        self.bucket_name = _require(bucket_name, where, "bucket_name")
        self.prefix = prefix or ""
        self.list_prefix = self.prefix.strip("/") + "/" if self.prefix.strip("/") else ""
        self.manifest_prefix = manifest_prefix_for(manifest_prefix, self.name, where)
        for manifests in (MANIFEST_ROOT_PREFIX, self.manifest_prefix):
            if self.list_prefix.startswith(manifests):
                raise BundleConfigError(
                    where,
                    f"lies inside the manifest prefix {manifests!r}; choose a prefix apart",
                    key="prefix",
                )
        self.aws_conn_id = aws_conn_id
        self.max_workers = _bounded(max_workers, 1, 128, where, "max_workers")
        self.max_attempts = _bounded(max_attempts, 1, 20, where, "max_attempts")
        self.allow_empty = bool(allow_empty)
        self.connect_timeout, self.read_timeout = float(connect_timeout), float(read_timeout)
        self.limits = TreeLimits(
            max_files=_optional_cap(max_files, where, "max_files"),
            max_bytes=_optional_cap(max_bytes, where, "max_bytes"),
        )
        self._store = VersionStore(self.base_dir, self.versions_dir)
        self._manifests = LocalManifests(self.base_dir)
        self._holds = VersionHolds(self.name)
        self._published_manifest: mf.Manifest | None = None  # of the published version, once read
        self._metrics = BundleMetrics("s3", self.name)
        self._log = structlog.get_logger(__name__).bind(bundle_name=self.name, bucket=self.bucket_name)

    # --- Airflow's interface ------------------------------------------------------------

    @property
    def path(self) -> Path:
        if self.version is not None:
            return self._store.version_dir(self.version)
        return self._store.current_link

    def get_current_version(self) -> Any:
        version = self.version if self.version is not None else self._store.published_version()
        if version is None:
            return None
        data = {
            "bucket": self.bucket_name,
            "prefix": self.list_prefix,
            "manifest": self.manifest_key(version),
        }
        return make_bundle_version(version, data)

    def initialize(self) -> None:
        if self.version is None:
            initialize_or_serve_published(self.refresh, self._store.published_version, self._log)
        else:
            self.refresh()
        super().initialize()

    def refresh(self) -> None:
        """Publish the bucket's current content; on a pinned instance, make sure its version exists."""
        with (
            self._metrics.timer("refresh_duration"),
            counting_failures(self._metrics, self._log),
            self.lock(),
        ):
            self._store.sweep()
            if self.version is not None:
                self._ensure_pinned(self.version)
            else:
                self._refresh_published()

    def view_url_template(self) -> str | None:
        if self._view_url_template:
            return self._view_url_template
        return (
            f"https://s3.console.aws.amazon.com/s3/buckets/{quote(self.bucket_name)}"
            f"?prefix={quote(self.list_prefix)}"
        )

    def __repr__(self) -> str:
        where = f"s3://{self.bucket_name}/{self.list_prefix}"
        return f"S3DagBundle(name={self.name!r}, {where}, version={self.version!r})"

    def manifest_key(self, version: str) -> str:
        return f"{self.manifest_prefix}{check_segment(version, what='bundle version')}.json"

    # --- refresh of the processor's instance ---------------------------------------------

    def _refresh_published(self) -> None:
        published = self._store.published_version()
        previous = self._manifest_of_published(published)
        listed = list_manifest(self._objects, self.list_prefix, self.manifest_prefix)
        target = mf.carry_version_ids(previous, listed)
        self._metrics.gauge("objects_listed", len(target))
        # Held before looking for its tree: a stale cleanup may be deleting an old tree we revert to.
        self._holds.hold(target.version)
        try:
            if target.version == published:
                self._published_manifest = target
            else:
                self._check_publishable(target, published)
                self._published_manifest = self._build(target, previous, published, pinned=False)
                self._store.publish(target.version)
                self._log.info("version published", version=target.version, previous=published)
        finally:
            self._holds.keep_only(self._store.published_version())
        self._manifests.prune({target.version}, self.versions_dir)

    def _manifest_of_published(self, published: str | None) -> mf.Manifest:
        cached = self._published_manifest
        if cached is not None and cached.version == published:
            return cached
        return self._manifests.load(published) or mf.EMPTY

    def _check_publishable(self, target: mf.Manifest, published: str | None) -> None:
        """Refuse caps exceeded, key collisions and an emptied prefix (only when the version changed)."""
        where = f"s3://{self.bucket_name}/{self.list_prefix}"
        self.limits.check_counts(len(target), target.total_bytes, where)
        mf.check_collisions(target, where)
        if len(target) or self.allow_empty or published is None:
            return
        if not any(self._store.version_dir(published).iterdir()):
            return
        raise EmptySourceRefusedError(
            f"refresh refused: s3://{self.bucket_name}/{self.list_prefix} lists no objects while "
            f"version {published} has files: an emptied prefix or a narrowed IAM scope would remove "
            "every DAG; fix the prefix or permissions, or set allow_empty=True to publish an empty bundle"
        )

    # --- building a version tree ----------------------------------------------------------

    def _build(
        self, target: mf.Manifest, base: mf.Manifest, base_version: str | None, *, pinned: bool
    ) -> mf.Manifest:
        """Stage ``target``: carry over what ``base`` has, download the rest, store its manifest.

        Returns the manifest of the tree (with the VersionIds the GETs reported). The caller
        holds ``target.version`` against stale cleanup, so a tree found on disk is complete.
        """
        version = target.version
        if self._store.has(version):
            built = self._manifests.load(version)
            if built is not None:
                return built  # built before (a revert, or a pinned worker on this host); trees never change
        change = mf.diff(base, target)
        base_dir = self._store.version_dir(base_version) if base_version else None
        with self._store.stage(version) as staging:
            missing = link_unchanged(base_dir, staging, change.unchanged)
            fetched = self._download(target, sorted(missing + list(change.to_download)), staging, pinned)
            final = mf.with_version_ids(target, {f.path: f.version_id for f in fetched})
            data = mf.dumps(final, bucket=self.bucket_name, prefix=self.list_prefix)
            if not pinned:  # workers rebuild from this manifest: store it before anyone can use the version
                self._objects.put_bytes(self.manifest_key(version), data)
            self._manifests.save(data, version)
        self._metrics.incr("objects_deleted", len(change.removed))
        self._log.info(
            "version built",
            version=version,
            downloaded=len(fetched),
            carried=len(change.unchanged) - len(missing),
            removed=len(change.removed),
        )
        return final

    def _download(self, target: mf.Manifest, paths: list[str], staging: Path, pinned: bool) -> list[_Got]:
        prefix = self.list_prefix
        jobs = []
        for rel in paths:
            entry = target.entries[rel]
            jobs.append(
                s3_io.Fetch(
                    key=prefix + rel,
                    dest=staging / rel,
                    size=entry.size,
                    etag=entry.etag,
                    version_id=entry.version_id if pinned else None,
                )
            )
        fetched = s3_io.fetch_all(self._objects, jobs, max_workers=self.max_workers)
        self._metrics.incr("objects_downloaded", len(fetched))
        self._metrics.incr("bytes_downloaded", sum(f.size for f in fetched))
        return [_Got(path=f.key[len(prefix) :], version_id=f.version_id) for f in fetched]

    # --- pinned versions (workers) ---------------------------------------------------------

    def _ensure_pinned(self, version: str) -> None:
        ensure_pinned_version(self.name, version, self._store, self._build_pinned)

    def _build_pinned(self, version: str) -> None:
        target = stored_manifest(self._objects, self.manifest_key(version), version, self.list_prefix)
        self.limits.check_counts(len(target), target.total_bytes, f"bundle {self.name!r} version {version}")
        published = self._store.published_version()
        base = self._manifests.load(published) or mf.EMPTY
        try:
            self._build(target, base, published, pinned=True)
        except s3_io.S3RequestError as exc:
            raise_if_unavailable(version, exc)
            raise

    # --- plumbing ----------------------------------------------------------------------------

    @cached_property
    def _objects(self) -> s3_io.S3Objects:
        client = s3_io.make_client(
            self.aws_conn_id,
            max_workers=self.max_workers,
            max_attempts=self.max_attempts,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )
        return s3_io.S3Objects(client, self.bucket_name, max_attempts=self.max_attempts)


@dataclass(frozen=True)
class _Got:
    path: str
    version_id: str | None


def _require(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BundleConfigError(where, "must be a non-empty string", key=key)
    return value


def _optional_cap(value: Any, where: str, key: str) -> int | None:
    if value is None:
        return None
    return _bounded(value, 1, 2**62, where, key)


def _bounded(value: Any, low: int, high: int, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BundleConfigError(where, f"must be an integer from {low} to {high}", key=key)
    return value
