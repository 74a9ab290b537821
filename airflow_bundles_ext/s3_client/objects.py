"""Requests against one bucket over one reused boto3 client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_bundles_ext.core.manifest import Listed
from airflow_bundles_ext.errors import S3RequestError
from airflow_bundles_ext.s3_client.boto import StreamBroken, foreign_errors, read_chunk, translate


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
                    modified = obj.get("LastModified")
                    yield Listed(
                        key=obj["Key"],
                        etag=obj["ETag"].strip('"'),
                        size=int(obj["Size"]),
                        modified=modified.isoformat() if modified else "",
                    )
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
            except StreamBroken as broken:
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
            body = read_chunk(stream, retries, limit + 1)
            if len(body) <= limit:
                read_chunk(stream, retries, 1)  # at the end: botocore verifies the Content-Length
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
        return self._put(key, kwargs)

    def put_file(self, key: str, path: Path, *, if_none_match: bool = False) -> str:
        """PUT the file at ``path`` (streamed); ``if_none_match``: only if ``key`` does not exist."""
        with open(path, "rb") as fh:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": fh}
            if if_none_match:
                kwargs["IfNoneMatch"] = "*"
            return self._put(key, kwargs)

    def _put(self, key: str, kwargs: dict[str, Any]) -> str:
        try:
            response = self.client.put_object(**kwargs)
        except foreign_errors() as exc:
            raise translate("PutObject", self.bucket, key, exc) from exc
        return str(response.get("ETag", "")).strip('"')

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[Any]:
        """The body of ``key`` as a stream (``read(size)``); read errors are :class:`S3RequestError`."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except foreign_errors() as exc:
            raise translate("GetObject", self.bucket, key, exc) from exc
        body = response["Body"]
        try:
            yield _Translating(body, self, key)
        finally:
            body.close()

    def head(self, key: str) -> bool:
        """Whether ``key`` exists."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except foreign_errors() as exc:
            error = translate("HeadObject", self.bucket, key, exc)
            if error.gone:
                return False
            raise error from exc
        return True

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except foreign_errors() as exc:
            raise translate("DeleteObject", self.bucket, key, exc) from exc


class _Translating:
    """A response body whose read errors become :class:`S3RequestError`."""

    def __init__(self, body: Any, objects: S3Objects, key: str) -> None:
        self.body, self.objects, self.key = body, objects, key

    def read(self, size: int = -1) -> bytes:
        try:
            return bytes(self.body.read(size if size >= 0 else None))
        except foreign_errors() as exc:
            raise translate("GetObject", self.objects.bucket, self.key, exc) from exc
