"""Provider metadata read by Airflow's ProvidersManager. Kept import-free: every process reads it."""

from __future__ import annotations

from typing import Any

from airflow_bundles_ext import __version__


def _option(
    description: str, *, type_: str, example: str | None, default: str | None, sensitive: bool = False
) -> dict[str, Any]:
    option: dict[str, Any] = {
        "description": description,
        "version_added": "0.1.0",
        "type": type_,
        "example": example,
        "default": default,
    }
    if sensitive:
        option["sensitive"] = True
    return option


# [bundles-ext status] options of the status writer, the REST API and the webhooks.
STATUS_OPTIONS = {
    "status_writer": _option(
        "Whether DAG processors record each bundle's refresh outcomes, version, local storage and "
        "the watched directory's invalid files in the metadata DB (tables created by ``airflow db "
        "migrate``), for the ``/bundles-ext`` API, the Bundles page and ``airflow bundles-ext status``. "
        "Rows are written only when something changed. Empty (the default) follows the watcher: on when "
        "``[dag_processor] dag_bundle_config_path`` is set, so that without it this package changes "
        "nothing in Airflow; ``True`` also records the static bundles of a deployment without the "
        "watcher; ``False`` turns it off.",
        type_="string",
        example="True",
        default="",
    ),
    "health_max_failures": _option(
        "Consecutive failed refreshes after which an active bundle makes "
        "``GET /bundles-ext/api/v1/health`` answer 503.",
        type_="integer",
        example="1",
        default="3",
    ),
    "github_webhook_secret": _option(
        "Secret of the GitHub webhook (``POST /bundles-ext/api/v1/webhooks/github``): requests whose "
        "``X-Hub-Signature-256`` is not the HMAC-SHA256 of the body under this secret are refused "
        "with 401. Empty disables the webhook. Also settable through ``github_webhook_secret_cmd`` "
        "and ``github_webhook_secret_secret``.",
        type_="string",
        example=None,
        default="",
        sensitive=True,
    ),
    "gitlab_webhook_token": _option(
        "Secret token of the GitLab webhook (``POST /bundles-ext/api/v1/webhooks/gitlab``): requests "
        "whose ``X-Gitlab-Token`` differs are refused with 401. Empty disables the webhook. Also "
        "settable through ``gitlab_webhook_token_cmd`` and ``gitlab_webhook_token_secret``.",
        type_="string",
        example=None,
        default="",
        sensitive=True,
    ),
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
        # [bundles-ext status] `airflow db migrate` creates the status tables (docs/status.md).
        "db-managers": ["airflow_bundles_ext.status.db_manager.BundlesExtDBManager"],
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
                        "two bundle classes only (the ones whose caps and credential rules the tenancy "
                        "policy enforces). Write access to the directory must not become code execution "
                        "or a way around the tenancy policy: keep this list short. A tenant of the "
                        "tenancy policy with its own ``classpaths`` uses those instead.",
                        type_="string",
                        example="airflow_bundles_ext.bundles.s3.S3DagBundle,mycompany.bundles.*",
                        default="",
                    ),
                    "tenancy_policy": _option(
                        "Path of the platform's tenancy policy file (JSON): which tenant each bundle "
                        "file belongs to (by file name), and per tenant the bundle names, team_name, "
                        "classpaths, connection ids, S3 buckets and prefixes, git URLs, local path roots "
                        "and caps it is granted. Every Airflow process and the sidecar read the same "
                        "file; it is read again when it changes. Empty means the built-in default policy "
                        "(see docs/tenancy.md). Bundles in dag_bundle_config_list are never restricted.",
                        type_="string",
                        example="/opt/airflow/config/tenancy-policy.json",
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
                    **STATUS_OPTIONS,
                },
            }
        },
    }
