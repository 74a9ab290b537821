"""Metrics through Airflow's stats facade, tagged by bundle.

Names are ``bundles_ext.<component>.<metric>`` (for example ``bundles_ext.s3.refresh_duration``)
with the tag ``bundle_name`` when there is a bundle (StatsD without tag support drops tags: use the Datadog
flavour or OpenTelemetry for per-bundle series, see docs/operations.md).
Emitting never raises: a broken metrics backend must not fail a refresh. Which Airflow stats
module is used is decided in :mod:`airflow_bundles_ext.compat.stats` (private internals).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any


def _stats() -> Any:
    from airflow_bundles_ext.compat.stats import stats_backend

    return stats_backend()


class BundleMetrics:
    """Metrics of one bundle instance: ``BundleMetrics("s3", "team-a").incr("fetches")``.

    Without a bundle name (``BundleMetrics("watcher")``) the metrics are component-level, untagged.
    """

    def __init__(self, component: str, bundle_name: str | None = None) -> None:
        self.prefix = f"bundles_ext.{component}"
        self.tags = {"bundle_name": bundle_name} if bundle_name else None

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
