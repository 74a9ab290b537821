"""The one S3 client layer, boto3 only (no Airflow): used by the S3 bundle, the sidecar and the
release tool.

- :class:`S3Objects`: requests against one bucket over one reused client: paged LIST, GET with
  a hard size limit, PUT (optionally conditional), and a verified download to a file.
- :func:`run_pool`: a small pool of daemon threads; the first failure (or a stop event) stops
  the rest, and a stuck request never keeps the process from exiting.
- :func:`translate`: the one place where botocore, urllib3 and socket errors become
  :class:`~airflow_bundles_ext.errors.S3RequestError`, which names ``s3://bucket/key``, the S3
  error code and what to do, and says whether the failure concerns that object only.

A download writes to a temp file next to its destination, stops at the first byte beyond the
listed size, checks the size and (when the ETag is a plain MD5 of the body) the MD5, and only
then renames it into place, so a truncated, inflated or corrupted body never reaches a tree.
Retries: botocore's standard mode retries requests (5xx, throttling, resets) up to
``max_attempts``; a body that breaks while streaming is re-requested from what is left of the
same per-object budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from airflow_bundles_ext.core.manifest import Listed
from airflow_bundles_ext.errors import PublishError, S3RequestError, SyncInterrupted

T = TypeVar("T")
R = TypeVar("R")

_CHUNK = 1024 * 1024
_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Fetch:
    """One object to download. ``version_id`` pins an object version; else ``If-Match`` the ETag."""

    key: str
    dest: Path
    size: int
    etag: str
    version_id: str | None = None


@dataclass(frozen=True)
class Fetched:
    key: str
    version_id: str | None
    size: int


def translate(action: str, bucket: str, key: str, exc: BaseException) -> S3RequestError:
    """A foreign exception as an :class:`S3RequestError` (the one place this happens)."""
    url = f"s3://{bucket}/{key}"
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        err = response["Error"]
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(err.get("Code") or status)
        code = {
            "404": "NoSuchKey",
            "NotFound": "NoSuchKey",
            "403": "AccessDenied",
            "Forbidden": "AccessDenied",
            "412": "PreconditionFailed",
            "304": "NotModified",
        }.get(code, code)
        return S3RequestError(
            action, url, code, f"HTTP {status} {err.get('Message', '')}".strip(), status=status
        )
    return S3RequestError(action, url, type(exc).__name__, str(exc) or repr(exc))


def foreign_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError
    from urllib3.exceptions import HTTPError

    return (BotoCoreError, ClientError, HTTPError, ConnectionError, TimeoutError)


class S3Objects:
    """Requests against one bucket over one reused client (thread-safe, as boto3 clients are)."""

    def __init__(self, client: Any, bucket: str, *, max_attempts: int = 5) -> None:
        self.client = client
        self.bucket = bucket
        self.max_attempts = max_attempts
        self.page_size = 1000  # keys per LIST request (S3's maximum)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

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
        except foreign_errors() as exc:
            raise translate("ListObjectsV2", self.bucket, prefix, exc) from exc

    def get_bytes(self, key: str, *, limit: int, if_none_match: str | None = None) -> tuple[bytes, str]:
        """``(body, etag)`` of ``key``, reading at most ``limit + 1`` bytes.

        A body over ``limit`` raises :class:`S3RequestError` ``TooLarge`` (an error of this object
        only) without reading further; a body cut short is re-requested within ``max_attempts``.
        ``if_none_match`` makes the GET conditional: an unchanged object raises ``NotModified``.
        """
        used = 0
        while True:
            try:
                return self._get_once(key, limit, if_none_match)
            except _StreamBroken as broken:
                used += 1 + broken.retries
                if used >= self.max_attempts:
                    raise translate("GetObject", self.bucket, key, broken.cause) from broken.cause

    def _get_once(self, key: str, limit: int, if_none_match: str | None) -> tuple[bytes, str]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if if_none_match:
            kwargs["IfNoneMatch"] = f'"{if_none_match}"'
        try:
            response = self.client.get_object(**kwargs)
        except foreign_errors() as exc:
            raise translate("GetObject", self.bucket, key, exc) from exc
        retries = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)
        with contextlib.closing(response["Body"]) as stream:
            body = _read(stream, retries, limit + 1)
            if len(body) <= limit:
                _read(stream, retries, 1)  # at the end: botocore verifies the Content-Length
        if len(body) > limit:
            raise S3RequestError(
                "GetObject",
                self.url(key),
                "TooLarge",
                f"body over the {limit} byte limit; not read further",
                status=400,
            )
        return body, str(response.get("ETag", "")).strip('"')

    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """PUT ``data``; returns the new ETag. ``if_match``/``if_none_match`` make it a compare-and-swap."""
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
        }
        if if_match is not None:
            kwargs["IfMatch"] = f'"{if_match}"'
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        try:
            response = self.client.put_object(**kwargs)
        except foreign_errors() as exc:
            raise translate("PutObject", self.bucket, key, exc) from exc
        return str(response.get("ETag", "")).strip('"')

    def fetch(self, job: Fetch) -> Fetched:
        """Download one object to ``job.dest`` (verified); re-request when the body breaks mid-stream.

        One budget of ``max_attempts`` per object covers botocore's retries (reported in
        ``RetryAttempts``) and our re-requests of a broken body: an object costs at most
        ``2 * max_attempts - 1`` GETs, not ``max_attempts ** 2``.
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
        else:
            kwargs["IfMatch"] = f'"{job.etag}"'
        try:
            response = self.client.get_object(**kwargs)
        except foreign_errors() as exc:
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
            while chunk := _read(body, retries, _CHUNK):
                if written + len(chunk) > job.size:
                    raise S3RequestError(
                        "GetObject",
                        self.url(job.key),
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
        return written

    def _verify(self, job: Fetch, written: int, md5: Any) -> None:
        if written != job.size:
            raise S3RequestError(
                "GetObject", self.url(job.key), "SizeMismatch", f"expected {job.size} bytes, got {written}"
            )
        if md5 is not None and md5.hexdigest() != job.etag:
            raise S3RequestError(
                "GetObject", self.url(job.key), "ChecksumMismatch", f"body MD5 is not the ETag {job.etag}"
            )


def _read(body: Any, retries: int, amount: int) -> bytes:
    try:
        return bytes(body.read(amount))
    except foreign_errors() as exc:
        raise _StreamBroken(exc, retries) from exc


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


def fetch_all(objects: S3Objects, jobs: Sequence[Fetch], *, max_workers: int) -> list[Fetched]:
    """Download ``jobs`` over a bounded pool; on the first failure stop the rest and raise it."""
    for parent in {job.dest.parent for job in jobs}:  # once per directory, not per object
        parent.mkdir(parents=True, exist_ok=True)
    return run_pool(objects.fetch, jobs, workers=max_workers)


def run_pool(
    work: Callable[[T], R], items: Sequence[T], *, workers: int, stop: threading.Event | None = None
) -> list[R]:
    """``[work(item) for item in items]`` on up to ``workers`` daemon threads, results in order.

    The first exception stops workers from taking new items and is raised once the running ones
    return; ``stop`` does the same from outside (:class:`SyncInterrupted`). Daemon threads: a
    request that hangs never keeps the process from exiting (the sidecar's SIGTERM).
    """
    results: list[R | None] = [None] * len(items)
    errors: list[BaseException] = []
    lock = threading.Lock()
    next_index = iter(range(len(items)))
    halt = stop or threading.Event()

    def worker() -> None:
        while not errors and not halt.is_set():
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            try:
                results[index] = work(items[index])
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                return

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(workers, len(items)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    if halt.is_set():
        raise SyncInterrupted("stopped by a stop signal before every request completed; nothing was changed")
    return results  # type: ignore[return-value]
