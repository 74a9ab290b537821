"""The S3 side of a cycle: a bounded boto3 client, the paged listing and the GETs.

botocore errors are translated here, once, into :class:`S3SourceError`. Throttling and
transient errors (5xx, ``SlowDown``, connection resets, timeouts) are retried by botocore's
``standard`` retry mode with exponential backoff and a bounded number of attempts; a body
cut short while streaming is retried here the same way. What still fails fails the cycle.

Network calls run in daemon threads (:func:`interruptible`) while the main thread waits on
the stop event, so SIGTERM ends the process at once even in the middle of a slow request:
nothing is written to disk before every request of the cycle has completed.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from airflow_bundles_ext.core.bundle_config import MAX_FILE_BYTES
from airflow_bundles_ext.errors import BundlesExtError, S3SourceError
from airflow_bundles_ext.sidecar.config import SyncConfig
from airflow_bundles_ext.sidecar.plan import Fetched, RemoteObject, Target

T = TypeVar("T")

FETCH_WORKERS = 8
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 15
_GONE = ("NoSuchKey", "404")


class SyncInterrupted(BundlesExtError):
    """SIGTERM/SIGINT arrived while the cycle waited on S3; nothing was changed on disk."""


def make_client(config: SyncConfig) -> Any:
    """An S3 client with bounded timeouts and retries.

    Credentials, region and (unless ``--endpoint-url`` is given) ``AWS_ENDPOINT_URL`` come
    from boto3's standard chain, so IRSA, instance profiles and ``AWS_*`` variables work.
    """
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=config.endpoint_url,
        config=Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"mode": "standard", "total_max_attempts": config.max_attempts},
            user_agent_extra="airflow-bundle-sync",
        ),
    )


def list_objects(client: Any, bucket: str, prefix: str) -> list[RemoteObject]:
    """Every object under ``prefix``, all pages; raises unless the listing is complete."""
    from botocore.exceptions import BotoCoreError, ClientError

    found: list[RemoteObject] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found.append(RemoteObject(item["Key"], item["ETag"].strip('"'), int(item["Size"])))
    except ClientError as exc:
        raise S3SourceError(
            f"listing failed: s3://{bucket}/{prefix}: {_describe(exc)}; "
            "check BUNDLE_BUCKET, BUNDLE_PREFIX and s3:ListBucket permission"
        ) from exc
    except BotoCoreError as exc:
        raise S3SourceError(f"listing failed: s3://{bucket}/{prefix}: {exc}; retrying next cycle") from exc
    return found


def get_object(client: Any, bucket: str, target: Target, attempts: int) -> Fetched:
    """GET one object, reading at most one byte over the bundle-file limit.

    A vanished object gives ``body=None``. What concerns this object only (a 4xx such as 403 for
    another team's KMS key or 400 for an SSE-C object, a body over the limit) refuses this object
    and keeps its previous copy; only what concerns every object (5xx, throttling, the network)
    fails the cycle.
    """
    from botocore.exceptions import BotoCoreError, ClientError, IncompleteReadError, ResponseStreamingError

    for attempt in range(1, attempts + 1):
        try:
            resp = client.get_object(Bucket=bucket, Key=target.key)
            with contextlib.closing(resp["Body"]) as stream:
                body = stream.read(MAX_FILE_BYTES + 1)
                if len(body) <= MAX_FILE_BYTES:
                    stream.read(1)  # at the end: botocore checks Content-Length (a cut body raises)
            if len(body) > MAX_FILE_BYTES:
                return Fetched(
                    target,
                    None,
                    target.etag,
                    refused=f"object body is over the {MAX_FILE_BYTES} byte limit of a bundle file "
                    "(it was listed smaller); not read further",
                )
            return Fetched(target, body, resp["ETag"].strip('"'))
        except ClientError as exc:
            if _code(exc) in _GONE:
                return Fetched(target, None, target.etag)
            if _object_only(exc):
                return Fetched(target, None, target.etag, refused=f"download refused: {_describe(exc)}")
            raise S3SourceError(
                f"download failed: s3://{bucket}/{target.key}: {_describe(exc)}; retrying next cycle"
            ) from exc
        except (IncompleteReadError, ResponseStreamingError) as exc:
            if attempt == attempts:
                raise S3SourceError(
                    f"download failed: s3://{bucket}/{target.key}: body cut short {attempts} times: {exc}"
                ) from exc
            time.sleep(min(0.2 * 2**attempt, 5.0))
        except BotoCoreError as exc:
            raise S3SourceError(f"download failed: s3://{bucket}/{target.key}: {exc}") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def fetch_all(client: Any, bucket: str, targets: Sequence[Target], attempts: int) -> list[Fetched]:
    """GET every target with a small pool of daemon threads; the first failure fails all."""
    if not targets:
        return []
    work: queue.Queue[Target] = queue.Queue()
    for target in targets:
        work.put(target)
    results: list[Fetched] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        while not errors:
            try:
                target = work.get_nowait()
            except queue.Empty:
                return
            try:
                fetched = get_object(client, bucket, target, attempts)
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                return
            with lock:
                results.append(fetched)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(FETCH_WORKERS, len(targets)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sorted(results, key=lambda f: f.target.name)


def interruptible(fn: Callable[[], T], stop: threading.Event, what: str) -> T:
    """Run ``fn`` in a daemon thread; raise :class:`SyncInterrupted` as soon as ``stop`` is set.

    An abandoned thread only holds bytes in memory; it dies with the process.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, daemon=True, name=f"sync-{what}").start()
    while not done.wait(0.05):
        if stop.is_set():
            raise SyncInterrupted(f"{what} interrupted by a stop signal; nothing was changed on disk")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


_NOT_OBJECT_ONLY = (408, 429)  # timeouts and throttling concern every object


def _object_only(exc: Any) -> bool:
    """A 4xx answer about this object (403 AccessDenied, 400 for SSE-C or a disabled KMS key, ...)."""
    status = _status(exc)
    return status is not None and 400 <= status < 500 and status not in _NOT_OBJECT_ONLY


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: Any) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status else None


def _describe(exc: Any) -> str:
    """``"<Code> <Message> (HTTP <status>)"`` of a ClientError; never includes credentials."""
    message = exc.response.get("Error", {}).get("Message", "")
    status = _status(exc)
    text = " ".join(part for part in (_code(exc), message) if part) or "error"
    return f"{text} (HTTP {status})" if status else text
