"""Which Airflow stats module this process emits through: the one private lookup of it.

Airflow 3.3 has two copies of the stats module, both under private ``_shared`` packages: the
core one (``airflow._shared.observability.metrics.stats``, re-exported as
``airflow.observability.stats``), which the DAG processor and scheduler initialise, and the
task SDK's (``airflow.sdk._shared.observability.metrics.stats``), which task processes
initialise. Code that runs in both kinds of process (bundles, the watcher) must emit through
the copy this process initialised, or its metrics go nowhere. Airflow 3.2 has one
``airflow.stats.Stats``. :class:`airflow_bundles_ext.metrics.BundleMetrics` is the public
helper built on this.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def _candidates() -> Iterator[Any]:
    with contextlib.suppress(ImportError):
        from airflow._shared.observability.metrics import stats as core_stats

        yield core_stats
    with contextlib.suppress(ImportError):
        from airflow.sdk._shared.observability.metrics import stats as sdk_stats

        yield sdk_stats


def stats_backend() -> Any:
    """The initialised stats module (core first), else the first one found, else 3.2's ``Stats``."""
    candidates = list(_candidates())
    for module in candidates:
        if getattr(module, "_factory", None) is not None:
            return module
    if candidates:
        return candidates[0]
    from airflow.stats import Stats  # Airflow 3.2

    return Stats
