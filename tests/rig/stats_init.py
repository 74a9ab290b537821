"""Initialise Airflow's stats backend in a child process the way Airflow's own processes do.

``core``: as the DAG processor and scheduler do; ``sdk``: as the task runner does. Metrics then
go to whatever ``[metrics]`` config the environment sets. The call differs by Airflow line.
"""

from __future__ import annotations

from airflow_bundles_ext.compat.airflow import airflow_line


def init_stats(which: str) -> None:
    if which == "core":  # airflow/dag_processing/manager.py
        from airflow._shared.observability.metrics import stats
        from airflow.observability.metrics import stats_utils
    else:  # airflow/sdk/execution_time/task_runner.py
        from airflow.sdk._shared.observability.metrics import stats  # type: ignore[no-redef]
        from airflow.sdk.observability.metrics import stats_utils  # type: ignore[no-redef]
    if airflow_line() == "3.2":
        stats.Stats.initialize(factory=stats_utils.get_stats_factory(stats.Stats))
    else:
        stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
