"""Verified downloads of objects to files.

A download writes to a temp file next to its destination, stops at the first byte beyond the
listed size, checks the size, the MD5 (when the ETag is a plain MD5 of the body) and the sha256
(when known), and only then renames it into place, so a truncated, inflated or corrupted body
never reaches a tree. Retries: botocore's standard mode retries requests (5xx, throttling,
resets) up to ``max_attempts``; a body that breaks while streaming is re-requested from what is
left of the same per-object budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_bundles_ext.errors import PublishError, S3RequestError
from airflow_bundles_ext.s3_client.boto import StreamBroken, foreign_errors, read_chunk, translate
from airflow_bundles_ext.s3_client.objects import S3Objects
from airflow_bundles_ext.s3_client.pool import run_pool

_CHUNK = 1024 * 1024
_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Fetch:
    """One object to download. ``version_id`` pins an object version; else ``If-Match`` the ETag
    (when known). ``sha256``, when given, is verified too (a content-addressed object)."""

    key: str
    dest: Path
    size: int
    etag: str = ""
    version_id: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Fetched:
    key: str
    version_id: str | None
    size: int
    sha256: str


def fetch_all(objects: S3Objects, jobs: Sequence[Fetch], *, max_workers: int) -> list[Fetched]:
    """Download ``jobs`` over a bounded pool; on the first failure stop the rest and raise it."""
    for parent in {job.dest.parent for job in jobs}:  # once per directory, not per object
        parent.mkdir(parents=True, exist_ok=True)
    return run_pool(lambda job: fetch(objects, job), jobs, workers=max_workers)


def fetch(objects: S3Objects, job: Fetch) -> Fetched:
    """Download one object to ``job.dest`` (verified); re-request when the body breaks mid-stream.

    One budget of ``max_attempts`` per object covers botocore's retries (reported in
    ``RetryAttempts``) and our re-requests of a broken body: an object costs at most
    ``2 * max_attempts - 1`` GETs, not ``max_attempts ** 2``.
    """
    used = 0
    while True:
        try:
            return _fetch_once(objects, job)
        except StreamBroken as broken:
            used += 1 + broken.retries
            if used >= objects.max_attempts:
                raise translate("GetObject", objects.bucket, job.key, broken.cause) from broken.cause


def _fetch_once(objects: S3Objects, job: Fetch) -> Fetched:
    kwargs: dict[str, Any] = {"Bucket": objects.bucket, "Key": job.key}
    if job.version_id:
        kwargs["VersionId"] = job.version_id
    elif job.etag:
        kwargs["IfMatch"] = f'"{job.etag}"'
    try:
        response = objects.client.get_object(**kwargs)
    except foreign_errors() as exc:
        raise translate("GetObject", objects.bucket, job.key, exc) from exc
    retries = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)
    md5 = _md5_if_meaningful(job.etag, response)
    sha = hashlib.sha256()
    # The staging tree belongs to this build alone (bundle lock), so a fixed temp name is unique.
    tmp = job.dest.with_name(f".{job.dest.name}.abx-part")
    try:
        written = _stream(objects, response["Body"], tmp, (md5, sha), retries, job)
        _verify(objects, job, written, md5, sha)
        os.replace(tmp, job.dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return Fetched(job.key, response.get("VersionId"), written, sha.hexdigest())


def _stream(
    objects: S3Objects, body: Any, tmp: Path, hashes: tuple[Any, Any], retries: int, job: Fetch
) -> int:
    """Write the body to ``tmp`` (hashing it); stop at the first byte beyond the listed size."""
    md5, sha = hashes
    written = 0
    try:
        fh = open(tmp, "wb")  # noqa: SIM115 - closed below, errors split by side
    except OSError as exc:
        raise PublishError(f"cannot write {tmp}: {exc}; check free space and permissions") from exc
    with fh, contextlib.closing(body):
        while chunk := read_chunk(body, retries, _CHUNK):
            if written + len(chunk) > job.size:
                raise S3RequestError(
                    "GetObject",
                    objects.url(job.key),
                    "SizeMismatch",
                    f"served more than the {job.size} bytes listed; not read further",
                )
            if md5 is not None:
                md5.update(chunk)
            sha.update(chunk)
            try:
                fh.write(chunk)
            except OSError as exc:
                raise PublishError(f"cannot write {tmp}: {exc}; check free space") from exc
            written += len(chunk)
    return written


def _verify(objects: S3Objects, job: Fetch, written: int, md5: Any, sha: Any) -> None:
    if written != job.size:
        raise S3RequestError(
            "GetObject", objects.url(job.key), "SizeMismatch", f"expected {job.size} bytes, got {written}"
        )
    if md5 is not None and md5.hexdigest() != job.etag:
        raise S3RequestError(
            "GetObject", objects.url(job.key), "ChecksumMismatch", f"body MD5 is not the ETag {job.etag}"
        )
    if job.sha256 is not None and sha.hexdigest() != job.sha256:
        raise S3RequestError(
            "GetObject", objects.url(job.key), "ChecksumMismatch", f"body sha256 is not {job.sha256}"
        )


def _md5_if_meaningful(etag: str, response: dict[str, Any]) -> Any:
    """An MD5 hasher when the ETag is the body's MD5: single-part, not SSE-KMS, not SSE-C."""
    if not _PLAIN_MD5.match(etag):
        return None  # multipart ETags look like "<md5>-<parts>"
    if str(response.get("ServerSideEncryption", "")).startswith("aws:kms"):
        return None
    if response.get("SSECustomerAlgorithm"):
        return None
    return hashlib.md5(usedforsecurity=False)
