"""The pure core of a sync cycle: what to fetch, write and delete. No boto3, no file I/O.

:func:`plan_cycle` turns a complete listing and the local directory into two manifests (file
name -> ETag and size) and diffs them with the core's set arithmetic
(:func:`airflow_bundles_ext.core.manifest.diff`): added and changed files are fetched,
unchanged ones are in step. :func:`review` validates the fetched bodies with the watcher's own
rules and tenancy policy (:func:`~airflow_bundles_ext.core.bundle_config.parse_bundle_file`).
Both take and return plain frozen data, so they are unit-tested without S3.

The watched directory is flat (one bundle per ``*.json`` file), so an object maps to the
file named by its key below the prefix, and only keys that are safe file names are synced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from airflow_bundles_ext.core import manifest as mf
from airflow_bundles_ext.core.bundle_config import MAX_FILE_BYTES, is_config_file_name, parse_bundle_file
from airflow_bundles_ext.core.paths import check_segment
from airflow_bundles_ext.core.tenancy import TenancyPolicy
from airflow_bundles_ext.errors import BundleConfigError, EmptySourceRefusedError, UnsafePathError


@dataclass(frozen=True)
class LocalFile:
    """A bundle file in the watched directory.

    ``synced_etag`` is the ETag of the object this content was synced from, when known (from
    the state file, and only while the file's size and mtime are as recorded).
    """

    name: str
    md5: str
    size: int
    synced_etag: str | None = None

    def entry(self) -> mf.Entry:
        # Without a record, a single-part upload's ETag is the MD5 of its body: compare that.
        return mf.Entry(path=self.name, etag=self.synced_etag or self.md5, size=self.size)


@dataclass(frozen=True)
class Target:
    """An object and the file it maps to."""

    name: str
    key: str
    etag: str


@dataclass(frozen=True)
class Rejection:
    """An object that is not synced, and why. ``remember``: skip it until its ETag changes."""

    key: str
    etag: str
    reason: str
    remember: bool = True


@dataclass(frozen=True)
class Plan:
    fetch: tuple[Target, ...]  # added or changed since what was synced: GET these
    in_step: tuple[Target, ...]  # the local file already holds this object: no GET
    delete: tuple[str, ...]  # local files whose object is gone from the complete listing
    rejected: tuple[Rejection, ...]  # refused without a GET (name, size, remembered)
    ignored: tuple[str, ...]  # keys that are not bundle files (README.md, folder markers)


@dataclass(frozen=True)
class Download:
    """The body of a fetched target; ``None`` when the object vanished after the listing or the
    GET was refused (``refused`` says why)."""

    target: Target
    body: bytes | None
    etag: str
    refused: str | None = None


@dataclass(frozen=True)
class Accepted:
    """A valid fetched body; ``changed`` when it differs from the local file (write it)."""

    target: Target
    body: bytes
    md5: str
    changed: bool


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def file_name_for(key: str, prefix: str) -> str | None:
    """The local file name of ``key``, or ``None`` when the key is not a bundle file.

    Raises :class:`UnsafePathError` for a bundle-like key that cannot be synced safely:
    one below a sub-folder of the prefix, or one whose name is not a safe file name.
    """
    relative = key[len(prefix) :] if key.startswith(prefix) else None
    if not relative or relative.endswith("/"):
        return None
    leaf = relative.rsplit("/", 1)[-1]
    if not is_config_file_name(leaf):
        return None
    if "/" in relative:
        raise UnsafePathError(
            f"nested key {key!r}: the watched directory is flat; put bundle files directly under the prefix"
        )
    check_segment(relative, what="bundle file name")
    return relative


@dataclass(frozen=True)
class _Sorted:
    candidates: dict[str, tuple[Target, int]]  # file name -> (target, size)
    listed: frozenset[str]  # every bundle file name of the listing, refused ones included
    rejected: tuple[Rejection, ...]
    ignored: tuple[str, ...]


def plan_cycle(
    listing: Iterable[mf.Listed],
    local: Mapping[str, LocalFile],
    remembered: Mapping[str, Rejection],
    *,
    prefix: str,
    allow_empty: bool,
    source: str,
) -> Plan:
    """Diff a complete listing against the local files.

    A refused object keeps its previous local copy (it is listed, so nothing is deleted).
    Raises :class:`EmptySourceRefusedError` when the listing holds no bundle file while the
    directory does, unless ``allow_empty``: an empty listing is more often a wrong prefix or a
    broken upload than the retirement of every bundle at once.
    """
    found = _sort_listing(listing, remembered, prefix)
    if not found.listed and local and not allow_empty:
        raise EmptySourceRefusedError(
            f"refusing to delete all {len(local)} bundle files: {source} lists no bundle file; "
            "check BUNDLE_BUCKET and BUNDLE_PREFIX, or set ALLOW_EMPTY=true to retire every bundle"
        )
    remote = mf.manifest_of(mf.Entry(n, t.etag, size) for n, (t, size) in found.candidates.items())
    change = mf.diff(mf.manifest_of(f.entry() for f in local.values()), remote)
    return Plan(
        fetch=tuple(found.candidates[n][0] for n in change.to_download),
        in_step=tuple(found.candidates[n][0] for n in change.unchanged),
        delete=tuple(sorted(set(local) - found.listed)),
        rejected=found.rejected,
        ignored=found.ignored,
    )


def _sort_listing(listing: Iterable[mf.Listed], remembered: Mapping[str, Rejection], prefix: str) -> _Sorted:
    candidates: dict[str, tuple[Target, int]] = {}
    listed: set[str] = set()
    rejected: list[Rejection] = []
    ignored: list[str] = []
    for obj in listing:
        try:
            name = file_name_for(obj.key, prefix)
        except UnsafePathError as exc:
            rejected.append(Rejection(obj.key, obj.etag, str(exc)))
            continue
        if name is None:
            ignored.append(obj.key)
            continue
        listed.add(name)
        refusal = _refusal(obj, remembered)
        if refusal:
            rejected.append(refusal)
        else:
            candidates[name] = (Target(name, obj.key, obj.etag), obj.size)
    return _Sorted(candidates, frozenset(listed), tuple(rejected), tuple(ignored))


def _refusal(obj: mf.Listed, remembered: Mapping[str, Rejection]) -> Rejection | None:
    known = remembered.get(obj.key)
    if known is not None and known.etag == obj.etag:
        return known
    if obj.size > MAX_FILE_BYTES:
        return Rejection(
            obj.key,
            obj.etag,
            f"object is {obj.size} bytes, over the {MAX_FILE_BYTES} byte limit of a bundle file",
        )
    return None


def review(
    downloads: Iterable[Download],
    local: Mapping[str, LocalFile],
    *,
    bucket: str,
    policy: TenancyPolicy,
) -> tuple[list[Accepted], list[Rejection]]:
    """Validate fetched bodies with the watcher's rules and tenancy policy; nothing invalid is accepted.

    A file defines the bundle named by its stem, so two objects can never claim one bundle name.
    """
    accepted: list[Accepted] = []
    rejected: list[Rejection] = []
    for item in downloads:
        if item.refused is not None:
            rejected.append(Rejection(item.target.key, item.etag, item.refused, remember=False))
            continue
        if item.body is None:
            continue  # deleted after the listing: the next listing removes the local file
        target = Target(item.target.name, item.target.key, item.etag)
        try:
            parse_bundle_file(
                item.body, file=target.name, policy=policy, source=f"s3://{bucket}/{target.key}"
            )
        except BundleConfigError as exc:
            rejected.append(Rejection(target.key, target.etag, str(exc)))
            continue
        digest = md5_hex(item.body)
        previous = local.get(target.name)
        accepted.append(
            Accepted(target, item.body, digest, changed=previous is None or previous.md5 != digest)
        )
    return accepted, rejected
