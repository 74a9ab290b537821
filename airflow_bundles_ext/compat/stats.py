"""Which Airflow stats backend this process emits through: the one private lookup of it.

Airflow 3.2 and 3.3 each have two copies of the stats module, both under private ``_shared``
packages: the core one (``airflow._shared.observability.metrics.stats``), which the DAG
processor and scheduler initialise, and the task SDK's
(``airflow.sdk._shared.observability.metrics.stats``), which task processes initialise. Code
that runs in both kinds of process (bundles, the watcher) must emit through the copy this
process initialised, or its metrics go nowhere. What to call and how to tell whether it was
initialised differs by line (:func:`.compat.stats_emitter`).
:class:`airflow_bundles_ext.metrics.BundleMetrics` is the public helper built on this.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from airflow_bundles_ext.compat.airflow import is_airflow_3_2


def stats_emitter(module: Any) -> tuple[Any, bool]:
    """What to call ``incr``/``gauge``/``timing`` on for one Airflow stats module, and whether
    this process initialised it (``Stats.initialize`` on 3.2, ``stats.initialize`` on 3.3)."""
    if is_airflow_3_2():
        stats = module.Stats
        return stats, getattr(stats, "factory", None) is not None
    return module, module._factory is not None


def _modules() -> Iterator[Any]:
    with contextlib.suppress(ImportError):
        from airflow._shared.observability.metrics import stats as core_stats

        yield core_stats
    with contextlib.suppress(ImportError):
        from airflow.sdk._shared.observability.metrics import stats as sdk_stats

        yield sdk_stats


def stats_backend() -> Any:
    """The initialised stats backend (core first), else the first one found (it emits nothing).

    Raises ``ImportError`` when neither module exists (an Airflow this package does not support).
    """
    emitters = [stats_emitter(module) for module in _modules()]
    for emitter, initialised in emitters:
        if initialised:
            return emitter
    if not emitters:
        raise ImportError("airflow-bundles-ext: neither of Airflow's stats modules imports")
    return emitters[0][0]
