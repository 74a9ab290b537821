"""A small pool of daemon threads for S3 requests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from airflow_bundles_ext.errors import SyncInterrupted

T = TypeVar("T")
R = TypeVar("R")


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
