"""The S3 side of the S3 bundle: one client, paged LIST, verified GETs, a bounded download pool.

Every botocore/urllib3/socket error is translated here, once, into :class:`S3RequestError`
(an :class:`~airflow_bundles_ext.errors.S3SourceError`) naming ``s3://bucket/key`` and the S3
error code, so the bundle can tell "retry later" from "fix the config" from "this version is
gone" without importing botocore.

A download writes to a temp file next to its destination (inside the staging tree), checks the
size and, when the ETag is a plain MD5 of the body, the MD5; only then is it renamed into
place. A truncated or corrupted body therefore never reaches a tree that can be published.
Retries: botocore's standard mode retries requests (5xx, throttling, resets) up to
``max_attempts``; a body that breaks while streaming is re-requested from what is left of the
same per-object budget (see :meth:`S3Objects.fetch`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_bundles_ext.errors import PublishError, S3SourceError

_CHUNK = 1024 * 1024
_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")
# What to do, by S3 error code; anything else is treated as transient.
_ADVICE = {
    "AccessDenied": "grant the connection's role the permission (see docs/s3-bundle.md, IAM policy)",
    "NoSuchBucket": "check bucket_name and the connection's region/endpoint",
    "NoSuchKey": "the object was deleted after it was listed; the next refresh lists again",
    "NoSuchVersion": "that object version was deleted from the bucket",
    "PreconditionFailed": "the object changed after it was listed or since the version was built",
    "InvalidAccessKeyId": "check the AWS connection's credentials",
    "SignatureDoesNotMatch": "check the AWS connection's credentials",
}
_TRANSIENT = (
    "a transient S3 or network fault; the published version keeps serving and the next refresh retries"
)


class S3RequestError(S3SourceError):
    """An S3 request failed. ``code`` is the S3 error code (``"SlowDown"``) or the exception name."""

    def __init__(self, action: str, url: str, code: str, detail: str) -> None:
        self.action, self.url, self.code = action, url, code
        advice = _ADVICE.get(code, _TRANSIENT)
        super().__init__(f"S3 {action} failed: {url}: {code}: {detail}; {advice}")


@dataclass(frozen=True)
class Listed:
    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class Fetch:
    """One object to download. ``version_id`` pins an object version; ``if_match`` an ETag."""

    key: str
    dest: Path
    size: int
    etag: str
    version_id: str | None = None
    if_match: bool = True


@dataclass(frozen=True)
class Fetched:
    key: str
    version_id: str | None
    size: int


def make_client(
    aws_conn_id: str | None,
    *,
    max_workers: int,
    max_attempts: int,
    connect_timeout: float,
    read_timeout: float,
) -> Any:
    """An S3 client from the Airflow AWS connection (endpoint_url, region, IRSA, assume-role all apply).

    The connection's own botocore config (extra ``config_kwargs``) is kept; retries, pool size
    and timeouts are set on top so the download pool never waits for a connection.
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.config import Config

    try:
        hook = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="s3")
        ours = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            max_pool_connections=max_workers + 2,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        return hook.get_client_type(region_name=hook.region_name, config=hook.config.merge(ours))
    except Exception as exc:
        raise S3SourceError(
            f"cannot create an S3 client from connection {aws_conn_id!r}: {type(exc).__name__}: {exc}; "
            "check the connection's extra (region_name, endpoint_url, role_arn)"
        ) from exc


def translate(action: str, bucket: str, key: str, exc: BaseException) -> S3RequestError:
    """The one place foreign exceptions become ours."""
    url = f"s3://{bucket}/{key}"
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        err = response["Error"]
        code = str(err.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        if code in ("404", "NotFound"):
            code = "NoSuchKey"
        if code in ("403", "Forbidden"):
            code = "AccessDenied"
        if code == "412":
            code = "PreconditionFailed"
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return S3RequestError(action, url, code, f"HTTP {status} {err.get('Message', '')}".strip())
    return S3RequestError(action, url, type(exc).__name__, str(exc) or repr(exc))


def _foreign_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError
    from urllib3.exceptions import HTTPError

    return (BotoCoreError, ClientError, HTTPError, ConnectionError, TimeoutError)


class S3Objects:
    """Requests against one bucket over one reused client (thread-safe, as boto3 clients are)."""

    def __init__(self, client: Any, bucket: str, *, max_attempts: int) -> None:
        self.client = client
        self.bucket = bucket
        self.max_attempts = max_attempts
        self.page_size = 1000  # keys per LIST request (S3's maximum)

    def list(self, prefix: str) -> Iterator[Listed]:
        """Every object under ``prefix``, page by page (1,000 keys per LIST request)."""
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            pages = paginator.paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size}
            )
            for page in pages:
                for obj in page.get("Contents", ()):
                    yield Listed(key=obj["Key"], etag=obj["ETag"].strip('"'), size=int(obj["Size"]))
        except _foreign_errors() as exc:
            raise translate("ListObjectsV2", self.bucket, prefix, exc) from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except _foreign_errors() as exc:
            raise translate("GetObject", self.bucket, key, exc) from exc

    def put_bytes(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")
        except _foreign_errors() as exc:
            raise translate("PutObject", self.bucket, key, exc) from exc

    def fetch(self, job: Fetch) -> Fetched:
        """Download one object to ``job.dest`` (verified); re-request when the body breaks mid-stream.

        One budget of ``max_attempts`` per object covers botocore's retries (reported in
        ``RetryAttempts``) and our re-requests of a broken body: a body is re-requested only while
        attempts remain, so an object costs at most ``2 * max_attempts - 1`` GETs, not
        ``max_attempts ** 2``.
        """
        used = 0
        while True:
            try:
                return self._fetch_once(job)
            except _StreamBroken as broken:
                used += 1 + broken.retries
                if used >= self.max_attempts:
                    raise translate("GetObject", self.bucket, job.key, broken.cause) from broken.cause

    def _fetch_once(self, job: Fetch) -> Fetched:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": job.key}
        if job.version_id:
            kwargs["VersionId"] = job.version_id
        elif job.if_match:
            kwargs["IfMatch"] = f'"{job.etag}"'
        try:
            response = self.client.get_object(**kwargs)
        except _foreign_errors() as exc:
            raise translate("GetObject", self.bucket, job.key, exc) from exc
        retries = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)
        md5 = _md5_if_meaningful(job.etag, response)
        # The staging tree belongs to this build alone (bundle lock), so a fixed temp name is unique.
        tmp = job.dest.with_name(f".{job.dest.name}.abx-part")
        try:
            written = self._stream(response["Body"], tmp, md5, retries, job)
            self._verify(job, written, md5)
            os.replace(tmp, job.dest)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return Fetched(key=job.key, version_id=response.get("VersionId"), size=written)

    def _stream(self, body: Any, tmp: Path, md5: Any, retries: int, job: Fetch) -> int:
        """Write the body to ``tmp``; stop at the first byte beyond the listed size."""
        written = 0
        try:
            fh = open(tmp, "wb")  # noqa: SIM115 - closed below, errors split by side
        except OSError as exc:
            raise PublishError(f"cannot write {tmp}: {exc}; check free space and permissions") from exc
        with fh, contextlib.closing(body):
            while True:
                try:
                    chunk = body.read(_CHUNK)
                except _foreign_errors() as exc:
                    raise _StreamBroken(exc, retries) from exc
                if not chunk:
                    return written
                if written + len(chunk) > job.size:
                    raise S3RequestError(
                        "GetObject",
                        f"s3://{self.bucket}/{job.key}",
                        "SizeMismatch",
                        f"served more than the {job.size} bytes listed; not read further",
                    )
                if md5 is not None:
                    md5.update(chunk)
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise PublishError(f"cannot write {tmp}: {exc}; check free space") from exc
                written += len(chunk)

    def _verify(self, job: Fetch, written: int, md5: Any) -> None:
        url = f"s3://{self.bucket}/{job.key}"
        if written != job.size:
            raise S3RequestError(
                "GetObject", url, "SizeMismatch", f"expected {job.size} bytes, got {written}"
            )
        if md5 is not None and md5.hexdigest() != job.etag:
            raise S3RequestError("GetObject", url, "ChecksumMismatch", f"body MD5 is not the ETag {job.etag}")


class _StreamBroken(Exception):
    def __init__(self, cause: BaseException, retries: int) -> None:
        super().__init__(str(cause))
        self.cause, self.retries = cause, retries


def _md5_if_meaningful(etag: str, response: dict[str, Any]) -> Any:
    """An MD5 hasher when the ETag is the body's MD5: single-part, not SSE-KMS, not SSE-C."""
    if not _PLAIN_MD5.match(etag):
        return None  # multipart ETags look like "<md5>-<parts>"
    if str(response.get("ServerSideEncryption", "")).startswith("aws:kms"):
        return None
    if response.get("SSECustomerAlgorithm"):
        return None
    return hashlib.md5(usedforsecurity=False)


def fetch_all(
    objects: S3Objects,
    jobs: Sequence[Fetch],
    *,
    max_workers: int,
) -> list[Fetched]:
    """Download ``jobs`` over a bounded pool; on the first failure stop the rest and raise it."""
    if not jobs:
        return []
    stop = threading.Event()

    def run(job: Fetch) -> Fetched | None:
        if stop.is_set():
            return None
        return objects.fetch(job)

    for parent in {job.dest.parent for job in jobs}:  # once per directory, not per object
        parent.mkdir(parents=True, exist_ok=True)

    with ThreadPoolExecutor(max_workers=min(max_workers, len(jobs)), thread_name_prefix="s3-bundle") as pool:
        futures = [pool.submit(run, job) for job in jobs]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            stop.set()
            for future in pending:
                future.cancel()
            wait(pending)
            exc = failed[0].exception()
            assert exc is not None
            raise exc
    return [r for f in futures if (r := f.result()) is not None]
