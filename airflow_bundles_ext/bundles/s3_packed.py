"""Packed versions of the S3 bundle: one archive per version, next to its manifest.

After publishing a version it built, the processor stores the version's tree as one archive
(:mod:`airflow_bundles_ext.archive`, ``If-None-Match: *`` so two processors never overwrite each
other). A worker with empty storage, a cold processor, and a release-mode bundle build a version
from nothing with the archive, verified file by file against the manifest, and fall back to one
GET per object when it is missing or damaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from airflow_bundles_ext import archive
from airflow_bundles_ext.bundles.s3_versions import stored_manifest
from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.errors import ArchiveError, S3RequestError, S3SourceError, VersionUnavailableError
from airflow_bundles_ext.publish import empty_dir

if TYPE_CHECKING:
    from airflow_bundles_ext.bundles.base import Target
    from airflow_bundles_ext.bundles.s3 import S3DagBundle


def unpack_version(bundle: S3DagBundle, target: Target, staging: Path) -> bool:
    """Build ``target`` from its archive (2 GETs: stored manifest, archive); ``False`` to fall back."""
    plan = target.detail
    try:
        stored = (
            plan.manifest
            if plan.pinned
            else stored_manifest(
                bundle.objects, bundle.manifest_key(target.version), target.version, bundle.list_prefix
            )
        )
    except (S3SourceError, VersionUnavailableError) as exc:
        bundle.log.info(
            "no stored manifest, fetching objects one by one", version=target.version, why=str(exc)
        )
        return False
    if not archive.verifiable(stored) or not unpack(
        bundle, bundle.archive_key(target.version), stored, staging
    ):
        return False
    bundle.local_manifests.save(
        mf.dumps(stored, bucket=bundle.bucket_name, prefix=bundle.list_prefix), target.version
    )
    return True


def unpack(bundle: S3DagBundle, key: str, manifest: mf.Manifest, staging: Path) -> bool:
    """Build ``manifest``'s tree in ``staging`` from the archive at ``key``; ``False`` to fall back
    (``staging`` is then empty again)."""
    try:
        with bundle.objects.open(key) as body:
            archive.unpack(body, staging, manifest)
    except (ArchiveError, S3SourceError) as exc:
        bundle.log.info("archive not used, fetching objects one by one", key=key, why=str(exc))
        bundle.metrics.incr("archive_fallbacks")
        empty_dir(staging)
        return False
    bundle.metrics.incr("archives_unpacked")
    bundle.log.info("version built from its archive", key=key, files=len(manifest))
    return True


def pack(bundle: S3DagBundle, version: str, manifest: mf.Manifest) -> None:
    """Store the archive of a published version; a failure costs workers requests, nothing else."""
    tmp = bundle.base_dir / f".{version}{archive.SUFFIX}.part"
    try:
        with bundle.metrics.timer("archive_duration"):
            size = archive.pack(bundle.store.version_dir(version), manifest, tmp)
            bundle.objects.put_file(bundle.archive_key(version), tmp, if_none_match=True)
        bundle.metrics.incr("archive_bytes", size)
        bundle.log.info("version packed", version=version, bytes=size)
    except S3RequestError as exc:
        if exc.code != "PreconditionFailed":  # another processor stored it first: that is fine
            bundle.log.warning("cannot store the version's archive", version=version, error=str(exc))
    except (OSError, ArchiveError) as exc:
        bundle.log.warning("cannot pack the version", version=version, error=str(exc))
    finally:
        tmp.unlink(missing_ok=True)
