"""The Airflow plugin of airflow-bundles-ext: the ``/bundles-ext`` API and the Bundles page.

Registered through the ``airflow.plugins`` entry point, so every ``airflow api-server`` of a
deployment with this package installed serves it. Plugins are loaded by many Airflow
processes: this module imports nothing heavy, and the FastAPI app is built only when the API
server asks for ``fastapi_apps``.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/bundles-ext"


class BundlesExtPlugin(AirflowPlugin):
    name = "bundles_ext"
    external_views = [
        {
            "name": "Bundles",
            "href": f"{URL_PREFIX}/ui/",
            "url_route": "bundles",
            "destination": "nav",
            "category": "browse",
        }
    ]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        from airflow_bundles_ext.api.app import get_app

        return [{"app": get_app(), "url_prefix": URL_PREFIX, "name": "airflow-bundles-ext"}]
