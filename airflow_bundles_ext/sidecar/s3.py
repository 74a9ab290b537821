"""The S3 side of a cycle: a bounded boto3 client, the paged listing and the GETs, over the
package's one S3 client (:mod:`airflow_bundles_ext.s3_client`).

Throttling and transient errors (5xx, ``SlowDown``, resets, timeouts) are retried by botocore's
``standard`` retry mode with a bounded number of attempts; a body cut short is re-requested
the same way. What concerns one object only (a 4xx, a body over the 1 MiB limit) refuses that
object; what concerns every object fails the cycle.

Network calls run in daemon threads (:func:`interruptible`, :func:`~..s3_client.run_pool`)
while the main thread waits on the stop event, so SIGTERM ends the process at once even in the
middle of a slow request: nothing is written to disk before every request of the cycle has
completed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from airflow_bundles_ext.core.bundle_config import MAX_FILE_BYTES
from airflow_bundles_ext.errors import S3RequestError, SyncInterrupted
from airflow_bundles_ext.s3_client import Listed, S3Objects, run_pool
from airflow_bundles_ext.sidecar.config import SyncConfig
from airflow_bundles_ext.sidecar.plan import Download, Target

T = TypeVar("T")

FETCH_WORKERS = 8
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 15


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


def list_objects(objects: S3Objects, prefix: str) -> list[Listed]:
    """Every object under ``prefix``, all pages; raises unless the listing is complete."""
    return list(objects.list(prefix))


def download(objects: S3Objects, target: Target) -> Download:
    """GET one bundle file. Vanished: ``body=None``; an error of this object only: refused."""
    try:
        body, etag = objects.get_bytes(target.key, limit=MAX_FILE_BYTES)
    except S3RequestError as exc:
        if exc.gone:
            return Download(target, None, target.etag)
        if exc.object_only:
            return Download(target, None, target.etag, refused=f"download refused: {exc.code}: {exc}")
        raise
    return Download(target, body, etag)


def download_all(objects: S3Objects, targets: Sequence[Target], stop: threading.Event) -> list[Download]:
    return run_pool(lambda t: download(objects, t), targets, workers=FETCH_WORKERS, stop=stop)


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
