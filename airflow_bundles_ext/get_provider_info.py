"""Provider metadata read by Airflow's ProvidersManager. Kept import-free: every process reads it."""

from __future__ import annotations

from typing import Any

from airflow_bundles_ext import __version__


def _option(description: str, *, type_: str, example: str | None, default: str | None) -> dict[str, Any]:
    return {
        "description": description,
        "version_added": "0.1.0",
        "type": type_,
        "example": example,
        "default": default,
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-bundles-ext",
        "name": "Bundles Ext",
        "description": (
            "S3 and Git DAG bundles with manifest diffing, atomic publish and rebuildable versions, "
            "a watcher that hot-reloads bundles from a directory of JSON files, and an S3 sync sidecar."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Bundles Ext",
                "external-doc-url": "https://pypi.org/project/airflow-bundles-ext/",
                "tags": ["software"],
            }
        ],
        "bundles": [
            {
                "integration-name": "Bundles Ext",
                "python-modules": ["airflow_bundles_ext.bundles.s3", "airflow_bundles_ext.bundles.git"],
            }
        ],
        "cli": ["airflow_bundles_ext.cli.definition.get_cli_commands"],
        "config": {
            "bundles_ext": {
                "description": (
                    "Options of airflow-bundles-ext. The watched directory itself is set with "
                    "``[dag_processor] dag_bundle_config_path`` (env "
                    "``AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_PATH``); without it this package "
                    "changes nothing in Airflow's behaviour."
                ),
                "options": {
                    "allowed_classpaths": _option(
                        "Comma-separated bundle classpaths that a file in the watched directory may "
                        "name. An entry containing ``*`` is a glob pattern. Empty means this package's "
                        "bundles and Airflow's own bundle classes. Write access to the directory must "
                        "not become code execution: keep this list short.",
                        type_="string",
                        example="airflow_bundles_ext.bundles.s3.S3DagBundle,mycompany.bundles.*",
                        default="",
                    ),
                    "config_state_path": _option(
                        "Where the DAG processor keeps the last good copy of every bundle file (every "
                        "process reads it), so a bundle whose file turned invalid keeps its last good "
                        "definition, also across restarts, and which bundles each processor owns. Put it "
                        "on a persistent volume shared by all processes. Empty means "
                        "``<dag_bundle_storage_path>/_bundles_ext/config_state``.",
                        type_="string",
                        example="/opt/airflow/bundle-config-state",
                        default="",
                    ),
                    "config_state_id": _option(
                        "Identity of this Airflow deployment inside ``config_state_path``. Set it, to the "
                        "same value in every process of one deployment, when several deployments (two "
                        "DAG processor deployments on one database, or staging and production) share a "
                        "state volume and mount their bundle directory at the same path: without it they "
                        "share one state directory and a processor deactivates the other's bundles. Empty "
                        "means the state is keyed by the directory's real path only.",
                        type_="string",
                        example="prod-team-processors",
                        default="",
                    ),
                    "removed_bundle_grace_period": _option(
                        "Seconds to keep the local storage of a bundle whose file was deleted before "
                        "it is reclaimed: by the DAG processor, counted from its deactivation; by each "
                        "worker (after the stale-version cleanup), counted from when that worker first "
                        "saw the bundle gone. Storage of a version that a running task holds is never "
                        "removed.",
                        type_="integer",
                        example="3600",
                        default="3600",
                    ),
                },
            }
        },
    }
