"""Helpers for demos and tests: the env that switches the watcher on, and bundle files.

    env = activation_env("/opt/airflow/bundle-conf")        # add to every Airflow process
    write_bundle_file("/opt/airflow/bundle-conf", "team-a",
                      "airflow.dag_processing.bundles.local.LocalDagBundle", {"path": "/dags/a"})
    remove_bundle_file("/opt/airflow/bundle-conf", "team-a")

Files are written atomically (temp file + rename), the way a sidecar or CI job should.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_bundles_ext.core.bundle_config import parse_bundle_entry
from airflow_bundles_ext.publish import atomic_write

LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


def activation_env(directory: str | Path, *, state_path: str | Path | None = None) -> dict[str, str]:
    """Environment variables that switch the watcher on for ``directory`` in every process."""
    env = {"AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_PATH": str(directory)}
    if state_path is not None:
        env["AIRFLOW__BUNDLES_EXT__CONFIG_STATE_PATH"] = str(state_path)
    return env


def write_bundle_file(
    directory: str | Path,
    name: str,
    classpath: str = LOCAL_BUNDLE,
    kwargs: dict[str, Any] | None = None,
    *,
    file_name: str | None = None,
) -> Path:
    """Write ``<directory>/<name>.json`` atomically; the entry is checked like the watcher does."""
    entry = {"name": name, "classpath": classpath, "kwargs": kwargs or {}}
    parse_bundle_entry(entry, source=file_name or f"{name}.json")
    path = Path(directory) / (file_name or f"{name}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(entry, indent=2).encode())
    return path


def remove_bundle_file(directory: str | Path, name: str, *, file_name: str | None = None) -> None:
    (Path(directory) / (file_name or f"{name}.json")).unlink(missing_ok=True)
