"""The pure core of a sync cycle: what to fetch, write and delete. No boto3, no file I/O.

:func:`plan_cycle` diffs a complete listing of the prefix against the local directory by ETag;
:func:`review` validates the fetched bodies with the watcher's own rules
(:func:`~airflow_bundles_ext.core.bundle_config.parse_bundle_file`) and decides which of them
change a file. Both take and return plain frozen data, so they are unit-tested without S3.

The watched directory is flat (one bundle per ``*.json`` file), so an object maps to the
file named by its key below the prefix, and only keys that are safe file names are synced.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from airflow_bundles_ext.core.bundle_config import MAX_FILE_BYTES, is_config_file_name, parse_bundle_file
from airflow_bundles_ext.core.paths import check_segment
from airflow_bundles_ext.core.tenancy import TenancyPolicy
from airflow_bundles_ext.errors import BundleConfigError, EmptySourceRefusedError, UnsafePathError

_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class RemoteObject:
    """One entry of the listing. ``etag`` is without its quotes."""

    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class LocalFile:
    """A bundle file in the watched directory.

    ``synced_etag`` is the ETag of the object this content was synced from, when known
    (from the state file, and only while the file's size and mtime are as recorded).
    """

    name: str
    md5: str
    synced_etag: str | None = None
    bundle_name: str | None = None


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
    fetch: tuple[Target, ...]  # ETag differs from what was synced: GET these
    in_step: tuple[Target, ...]  # the local file already holds this object: no GET
    delete: tuple[str, ...]  # local files whose object is gone from the complete listing
    rejected: tuple[Rejection, ...]  # refused without a GET (name, size, remembered)
    ignored: tuple[str, ...]  # keys that are not bundle files (README.md, folder markers)


@dataclass(frozen=True)
class Fetched:
    """The body of a fetched target; ``None`` when the object vanished after the listing or
    the GET was refused (``refused`` says why)."""

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
    bundle_name: str
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


def plan_cycle(
    listing: Iterable[RemoteObject],
    local: Mapping[str, LocalFile],
    remembered: Mapping[str, Rejection],
    *,
    prefix: str,
    allow_empty: bool,
    source: str,
) -> Plan:
    """Diff a complete listing against the local files.

    Raises :class:`EmptySourceRefusedError` when the listing holds no bundle file while
    the directory does, unless ``allow_empty``: an empty listing is more often a wrong
    prefix or a broken upload than the retirement of every bundle at once.
    """
    fetch: list[Target] = []
    in_step: list[Target] = []
    rejected: list[Rejection] = []
    ignored: list[str] = []
    listed: set[str] = set()
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
        target = Target(name, obj.key, obj.etag)
        refusal = _refusal(obj, remembered)
        if refusal:
            rejected.append(refusal)
        elif _in_step(obj, local.get(name)):
            in_step.append(target)
        else:
            fetch.append(target)
    delete = sorted(set(local) - listed)
    if not listed and local and not allow_empty:
        raise EmptySourceRefusedError(
            f"refusing to delete all {len(local)} bundle files: {source} lists no bundle file; "
            "check BUNDLE_BUCKET and BUNDLE_PREFIX, or set ALLOW_EMPTY=true to retire every bundle"
        )
    return Plan(tuple(fetch), tuple(in_step), tuple(delete), tuple(rejected), tuple(ignored))


def _refusal(obj: RemoteObject, remembered: Mapping[str, Rejection]) -> Rejection | None:
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


def _in_step(obj: RemoteObject, local: LocalFile | None) -> bool:
    if local is None:
        return False
    if local.synced_etag is not None:
        return local.synced_etag == obj.etag
    # No record (first run, lost state): a single-part upload's ETag is the MD5 of its body.
    return bool(_PLAIN_MD5.match(obj.etag)) and obj.etag == local.md5


def review(
    fetched: Iterable[Fetched],
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
    for item in fetched:
        if item.refused is not None:
            rejected.append(Rejection(item.target.key, item.etag, item.refused, remember=False))
            continue
        if item.body is None:
            continue  # deleted after the listing: the next listing removes the local file
        target = Target(item.target.name, item.target.key, item.etag)
        try:
            spec = parse_bundle_file(
                item.body, file=target.name, policy=policy, source=f"s3://{bucket}/{target.key}"
            )
        except BundleConfigError as exc:
            rejected.append(Rejection(target.key, target.etag, str(exc)))
            continue
        digest = md5_hex(item.body)
        previous = local.get(target.name)
        changed = previous is None or previous.md5 != digest
        accepted.append(Accepted(target, item.body, digest, spec.name, changed))
    return accepted, rejected
