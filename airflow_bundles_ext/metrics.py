"""Metrics through Airflow's stats facade, tagged by bundle.

Names are ``bundles_ext.<component>.<metric>`` (for example ``bundles_ext.s3.refresh_duration``)
with the tag ``bundle_name`` (StatsD without tag support drops tags: use the Datadog
flavour or OpenTelemetry for per-bundle series, see docs/operations.md).
Emitting never raises: a broken metrics backend must not fail a refresh.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any


def _candidates() -> Iterator[Any]:
    """Airflow's stats modules, the process's own first.

    Airflow 3.3 has two copies of the stats module: the core one, which the DAG processor and
    scheduler initialise, and the task SDK's, which task processes initialise. A bundle runs in
    both kinds of process, so it emits through whichever copy this process initialised.
    """
    with contextlib.suppress(ImportError):
        from airflow._shared.observability.metrics import stats as core_stats

        yield core_stats
    with contextlib.suppress(ImportError):
        from airflow.sdk._shared.observability.metrics import stats as sdk_stats

        yield sdk_stats


def _stats() -> Any:
    candidates = list(_candidates())
    for module in candidates:
        if getattr(module, "_factory", None) is not None:
            return module
    if candidates:
        return candidates[0]
    from airflow.stats import Stats  # Airflow 3.2

    return Stats


class BundleMetrics:
    """Metrics of one bundle instance: ``BundleMetrics("s3", "team-a").incr("fetches")``."""

    def __init__(self, component: str, bundle_name: str) -> None:
        self.prefix = f"bundles_ext.{component}"
        self.tags = {"bundle_name": bundle_name}

    def incr(self, metric: str, count: int = 1) -> None:
        with contextlib.suppress(Exception):
            _stats().incr(f"{self.prefix}.{metric}", count, tags=self.tags)

    def gauge(self, metric: str, value: float) -> None:
        with contextlib.suppress(Exception):
            _stats().gauge(f"{self.prefix}.{metric}", value, tags=self.tags)

    def timing(self, metric: str, seconds: float) -> None:
        with contextlib.suppress(Exception):
            _stats().timing(f"{self.prefix}.{metric}", seconds * 1000.0, tags=self.tags)

    @contextlib.contextmanager
    def timer(self, metric: str) -> Iterator[None]:
        """Time the block; the duration is emitted whether the block raises or not."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.timing(metric, time.monotonic() - start)
