"""Loaded by Airflow in every process through the ``airflow.policy`` entry point.

``settings.initialize()`` loads ``airflow.policy`` entry points before it imports
``airflow_local_settings``, in every Airflow process (DAG processor, scheduler, workers,
task processes, triggerer, API server, CLI). That makes setting
``AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_PATH`` enough to switch the watcher on.

This module must stay tiny and must never fail: an exception here would stop every Airflow
process from starting, ``airflow db migrate`` included. It defines no policy hooks; it only
decides whether to activate.
"""

from __future__ import annotations


def _activate() -> None:
    try:
        from airflow_bundles_ext.status.options import writer_enabled
        from airflow_bundles_ext.watcher.options import is_configured

        if is_configured() or writer_enabled():  # [bundles-ext status] the status writer too
            import airflow_bundles_ext.activate  # noqa: F401
    except Exception as exc:  # never stop a process from starting
        import logging

        logging.getLogger(__name__).error("airflow-bundles-ext: cannot activate the watcher: %s", exc)


_activate()
