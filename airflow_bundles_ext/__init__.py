"""airflow-bundles-ext: DAG bundles for Apache Airflow 3 that are fast, atomic and versioned.

Importing this package does nothing: no Airflow import, no patching. Activation of the
bundle-config watcher lives in :mod:`airflow_bundles_ext.activate`.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"
