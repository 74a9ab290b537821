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


def _stats() -> Any:
    try:  # Airflow 3.3+
        from airflow.sdk.observability import stats

        return stats
    except ImportError:  # Airflow 3.2
        from airflow.stats import Stats

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
