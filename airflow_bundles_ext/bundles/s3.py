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
- **packed versions** (``packed=True``, the default): after publishing a version it built, the
  processor stores one archive of its tree next to its manifest
  (:mod:`airflow_bundles_ext.archive`); a worker with empty storage, or a processor starting
  cold, then gets the whole version with two GETs (manifest, archive), verified file by file,
  and falls back to one GET per object when the archive is missing or damaged.

See docs/s3-bundle.md for configuration, IAM and limits.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow_bundles_ext import archive
from airflow_bundles_ext.bundles.base import Target, VersionedTreeBundle
from airflow_bundles_ext.bundles.s3_local import LocalManifests, link_unchanged
from airflow_bundles_ext.bundles.s3_release import ReleaseSource
from airflow_bundles_ext.bundles.s3_versions import (
    DEFAULT_MANIFEST_ROOT,
    MANIFEST_ROOT_PREFIX,
    list_manifest,
    manifest_prefix_for,
    raise_if_unavailable,
    stored_manifest,
)
from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.errors import (
    ArchiveError,
    BundleConfigError,
    EmptySourceRefusedError,
    ManifestError,
    S3RequestError,
    S3SourceError,
    VersionUnavailableError,
)
from airflow_bundles_ext.publish import empty_dir
from airflow_bundles_ext.s3_client import Fetch, S3Objects, fetch_all
from airflow_bundles_ext.tree_check import TreeLimits

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
        if self.packed and plan.base_version is None and self._unpack(target, staging):
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
        final = _hashed(mf.with_fetched(plan.manifest, got), staging)
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
            self._pack(target.version)
            self._unpacked = None

    # --- packed versions ----------------------------------------------------------------------

    def _unpack(self, target: Target, staging: Path) -> bool:
        """Build ``target`` from its archive (2 GETs: stored manifest, archive); ``False`` to fall back."""
        plan: _Build = target.detail
        try:
            stored = plan.manifest if plan.pinned else self._stored_manifest(target.version)
            if not archive.verifiable(stored):
                return False
            with self.objects.open(self.archive_key(target.version)) as body:
                archive.unpack(body, staging, stored)
        except (ArchiveError, S3SourceError, VersionUnavailableError) as exc:
            self.log.info(
                "archive not used, fetching objects one by one", version=target.version, why=str(exc)
            )
            empty_dir(staging)
            self.metrics.incr("archive_fallbacks")
            return False
        self.local_manifests.save(
            mf.dumps(stored, bucket=self.bucket_name, prefix=self.list_prefix), target.version
        )
        self.metrics.incr("archives_unpacked")
        self.log.info("version built from its archive", version=target.version, files=len(stored))
        return True

    def _stored_manifest(self, version: str) -> mf.Manifest:
        return stored_manifest(self.objects, self.manifest_key(version), version, self.list_prefix)

    def _pack(self, version: str) -> None:
        """Store the archive of a published version; a failure costs workers requests, nothing else."""
        manifest = self._manifest_of(version)
        tmp = self.base_dir / f".{version}{archive.SUFFIX}.part"
        try:
            with self.metrics.timer("archive_duration"):
                size = archive.pack(self.store.version_dir(version), manifest, tmp)
                self.objects.put_file(self.archive_key(version), tmp, if_none_match=True)
            self.metrics.incr("archive_bytes", size)
            self.log.info("version packed", version=version, bytes=size)
        except S3RequestError as exc:
            if exc.code != "PreconditionFailed":  # another processor stored it first: that is fine
                self.log.warning("cannot store the version's archive", version=version, error=str(exc))
        except (OSError, ArchiveError) as exc:
            self.log.warning("cannot pack the version", version=version, error=str(exc))
        finally:
            tmp.unlink(missing_ok=True)

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
        client = _client(
            self.aws_conn_id, self.max_workers, self.max_attempts, self.connect_timeout, self.read_timeout
        )
        return S3Objects(client, self.bucket_name, max_attempts=self.max_attempts)


def _hashed(manifest: mf.Manifest, root: Path) -> mf.Manifest:
    """``manifest`` with a ``sha256`` for every file (carried over from an old manifest: maybe none)."""
    missing = {
        p: mf.Got(e.version_id, _sha256(root / p)) for p, e in manifest.entries.items() if not e.sha256
    }
    return mf.with_fetched(manifest, missing) if missing else manifest


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _client(conn_id: str | None, workers: int, attempts: int, connect: float, read: float) -> Any:
    """An S3 client from the Airflow AWS connection (endpoint_url, region, IRSA, assume-role all apply).

    The connection's own botocore config (extra ``config_kwargs``) is kept; retries, pool size
    and timeouts are set on top so the download pool never waits for a connection.
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.config import Config

    try:
        hook = AwsBaseHook(aws_conn_id=conn_id, client_type="s3")
        ours = Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            max_pool_connections=workers + 2,
            connect_timeout=connect,
            read_timeout=read,
        )
        return hook.get_client_type(region_name=hook.region_name, config=hook.config.merge(ours))
    except Exception as exc:
        raise S3SourceError(
            f"cannot create an S3 client from connection {conn_id!r}: {type(exc).__name__}: {exc}; "
            "check the connection's extra (region_name, endpoint_url, role_arn)"
        ) from exc


def _require(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BundleConfigError(where, "must be a non-empty string", key=key)
    return value


def _optional_cap(value: Any, where: str, key: str) -> int | None:
    return None if value is None else _bounded(value, 1, 2**62, where, key)


def _bounded(value: Any, low: int, high: int, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BundleConfigError(where, f"must be an integer from {low} to {high}", key=key)
    return value
