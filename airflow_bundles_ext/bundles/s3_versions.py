"""What a version of an S3 bundle is made of, read from S3: the listing as a manifest, and the
stored manifest of a pinned version.

- :func:`list_manifest`: LIST pages -> manifest of the bundle's files. Keys under the manifest
  root of *every* bundle (``_airflow_bundles_ext/manifests/``) and under this bundle's own
  ``manifest_prefix`` are never bundle files: a whole-bucket bundle (``prefix=""``) must not
  pick up the manifests it and its neighbours write, or each PUT would change its version.
- :func:`stored_manifest`: GET ``<manifest_prefix><version>.json`` for a worker that rebuilds
  a version, with "this version cannot be rebuilt" errors told apart from transient ones
  (:func:`raise_if_unavailable`).
"""

from __future__ import annotations

from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.errors import (
    BundleConfigError,
    ManifestError,
    S3RequestError,
    VersionUnavailableError,
)
from airflow_bundles_ext.s3_client import S3Objects

DEFAULT_MANIFEST_ROOT = "_airflow_bundles_ext/manifests"
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
"""A manifest entry is ~150 bytes: over a million objects per version before this limit."""
MANIFEST_ROOT_PREFIX = DEFAULT_MANIFEST_ROOT + "/"

_UNAVAILABLE_WHY = {
    "NoSuchKey": "its manifest or one of its objects no longer exists in the bucket",
    "AccessDenied": "the connection may not read it (needs s3:GetObject and s3:GetObjectVersion)",
    "PreconditionFailed": "the bucket is not versioned and an object changed since that version was built",
    "NoSuchVersion": "an object version it needs was deleted",
}


def list_manifest(objects: S3Objects, list_prefix: str, manifest_prefix: str) -> mf.Manifest:
    """The manifest of every object under ``list_prefix`` except manifests (see the module doc)."""
    skip = (MANIFEST_ROOT_PREFIX, manifest_prefix)
    entries = []
    for obj in objects.list(list_prefix):
        if obj.key.startswith(skip):
            continue
        rel = mf.relative_key(obj.key, list_prefix)
        if rel is not None:
            entries.append(mf.Entry(path=rel, etag=obj.etag, size=obj.size))
    return mf.manifest_of(entries)


def stored_manifest(objects: S3Objects, key: str, version: str, list_prefix: str) -> mf.Manifest:
    """The manifest of ``version`` stored at ``key``, checked to describe that version of this prefix."""
    url = f"s3://{objects.bucket}/{key}"
    try:
        data, _ = objects.get_bytes(key, limit=MAX_MANIFEST_BYTES)
    except S3RequestError as exc:
        raise_if_unavailable(version, exc)
        raise
    try:
        stored = mf.loads(data, source=url)
    except ManifestError as exc:
        raise VersionUnavailableError(
            f"cannot rebuild version {version}: {exc}; run with a newer version"
        ) from exc
    if stored.manifest.version != version or stored.prefix != list_prefix:
        raise VersionUnavailableError(
            f"cannot rebuild version {version}: {url} describes version {stored.manifest.version} "
            f"of prefix {stored.prefix!r}; was the bundle's prefix changed?"
        )
    return stored.manifest


def raise_if_unavailable(version: str, exc: S3RequestError) -> None:
    """Turn "this version cannot be rebuilt" errors into ours; transient ones stay S3 errors."""
    why = _UNAVAILABLE_WHY.get(exc.code)
    if why is None:
        return
    raise VersionUnavailableError(
        f"cannot rebuild bundle version {version}: {exc.url}: {exc.code}: {why}; "
        "enable bucket versioning to keep old versions rebuildable, or rerun on the latest version"
    ) from exc


def manifest_prefix_for(value: str | None, name: str, list_prefix: str, where: str) -> str:
    """The manifest prefix of bundle ``name``: ``value`` (the kwarg) normalised, or the default;
    refused when the bundle's own ``list_prefix`` lies inside it (its files would be manifests)."""
    if value is None:
        prefix = f"{DEFAULT_MANIFEST_ROOT}/{name}/"
    elif not isinstance(value, str) or not value.strip("/") or value.startswith("/"):
        raise BundleConfigError(where, "must be a non-empty relative key prefix", key="manifest_prefix")
    else:
        prefix = value.rstrip("/") + "/"
    for manifests in (MANIFEST_ROOT_PREFIX, prefix):
        if list_prefix.startswith(manifests):
            raise BundleConfigError(
                where, f"lies inside the manifest prefix {manifests!r}; choose a prefix apart", key="prefix"
            )
    return prefix
