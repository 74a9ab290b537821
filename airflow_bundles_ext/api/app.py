"""The FastAPI app mounted at ``/bundles-ext`` in ``airflow api-server`` (OpenAPI at ``/openapi.json``)."""

from __future__ import annotations

from functools import cache

from fastapi import FastAPI

from airflow_bundles_ext import __version__

DESCRIPTION = (
    "Bundle status, push refresh and git webhooks of airflow-bundles-ext. Authenticate like "
    "Airflow's own REST API: `Authorization: Bearer <JWT>` with a token from `POST /auth/token`. "
    "Reading needs read access to DAGs; requesting a refresh needs edit access to DAGs. The "
    "webhooks are authenticated by their signature instead."
)


def create_app() -> FastAPI:
    from airflow_bundles_ext.api import page, routes, webhooks

    app = FastAPI(
        title="airflow-bundles-ext",
        description=DESCRIPTION,
        version=__version__,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.include_router(routes.router)
    app.include_router(webhooks.router)
    app.include_router(page.router)
    return app


@cache
def get_app() -> FastAPI:
    """One app per process, built on first use (only the API server asks for it)."""
    return create_app()
