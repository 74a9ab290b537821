"""The watcher's metrics: ``bundles_ext.watcher.<metric>``.

Component-level counters (``reloads``, ``invalid_files``) carry no tag; per-bundle counters
(``bundles_added``, ``bundles_removed``, ``bundles_changed``) carry ``bundle_name``.

The DAG processor initialises Airflow's core stats facade (``airflow.observability.stats``),
not the task SDK's copy, so the watcher (which runs in the processor) emits through the core
one when it is importable. Emitting never raises.
"""

from __future__ import annotations

import contextlib
from typing import Any


def _stats() -> Any:
    try:
        from airflow.observability import stats

        return stats
    except ImportError:  # Airflow 3.2
        from airflow.stats import Stats

        return Stats


def incr(metric: str, count: int = 1, *, bundle_name: str | None = None) -> None:
    tags = {"bundle_name": bundle_name} if bundle_name else None
    with contextlib.suppress(Exception):
        _stats().incr(f"bundles_ext.watcher.{metric}", count, tags=tags)


def gauge(metric: str, value: float) -> None:
    with contextlib.suppress(Exception):
        _stats().gauge(f"bundles_ext.watcher.{metric}", value)
