"""Status and refresh routes, authorized by Airflow's auth manager exactly like core routes.

The dependencies are Airflow's own (``airflow.api_fastapi.core_api.security``): a Bearer JWT
from ``POST /auth/token`` or the UI's session cookie identifies the user, and
``requires_access_dag`` asks the configured auth manager. Reading bundle status needs read
access to DAGs (``GET``); requesting a refresh needs edit access (``PUT``), like "Reparse Dag".
"""

from __future__ import annotations

from typing import Annotated, Any

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import APIRouter, Depends, HTTPException, Path, status
from fastapi.responses import JSONResponse

from airflow_bundles_ext.api.schemas import (
    BundleOut,
    ErrorOut,
    HealthOut,
    PermissionsOut,
    RefreshOut,
    ReportOut,
)
from airflow_bundles_ext.errors import InactiveBundleError, UnknownBundleError
from airflow_bundles_ext.status import options, service

router = APIRouter(prefix="/api/v1")

READ = [Depends(requires_access_dag(method="GET"))]
EDIT = [Depends(requires_access_dag(method="PUT"))]
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Not authenticated"},
    403: {"model": ErrorOut, "description": "Not allowed, or the token is invalid"},
}
BundleName = Annotated[str, Path(min_length=1, max_length=250, description="Bundle name")]


@router.get("/bundles", response_model=ReportOut, dependencies=READ, responses=AUTH_ERRORS)
def list_bundles(session: SessionDep) -> dict[str, Any]:
    """Every bundle with its status, the watched directory's invalid files and the health verdict."""
    return service.report(session, max_failures=options.max_failures())


@router.get(
    "/bundles/{name}",
    response_model=BundleOut,
    dependencies=READ,
    responses={**AUTH_ERRORS, 404: {"model": ErrorOut, "description": "Unknown bundle"}},
)
def get_bundle(name: BundleName, session: SessionDep) -> dict[str, Any]:
    """One bundle's status."""
    try:
        return service.bundle_view(session, name, max_failures=options.max_failures())
    except UnknownBundleError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.post(
    "/bundles/{name}/refresh",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RefreshOut,
    dependencies=EDIT,
    responses={
        **AUTH_ERRORS,
        404: {"model": ErrorOut, "description": "Unknown bundle"},
        409: {"model": ErrorOut, "description": "The bundle is inactive"},
    },
)
def refresh_bundle(name: BundleName, session: SessionDep) -> dict[str, Any]:
    """Have the DAG processor that owns the bundle refresh it on its next loop (about a second),
    whatever its ``refresh_interval``. Idempotent while a request is pending."""
    try:
        result = service.request_refresh(session, name)
    except UnknownBundleError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except InactiveBundleError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    session.commit()
    return result


@router.get(
    "/health",
    response_model=HealthOut,
    dependencies=READ,
    responses={**AUTH_ERRORS, 503: {"model": HealthOut, "description": "Some bundles are unhealthy"}},
)
def health(session: SessionDep) -> JSONResponse:
    """200 when every active bundle refreshes and no bundle file is invalid, else 503 naming them."""
    verdict = service.health(session, max_failures=options.max_failures())
    code = status.HTTP_200_OK if verdict.healthy else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(service.health_json(verdict), status_code=code)


@router.get("/permissions", response_model=PermissionsOut, responses=AUTH_ERRORS)
def permissions(user: GetUserDep) -> dict[str, bool]:
    """What the caller may do here (the page shows the refresh button only when allowed)."""
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    return {
        "can_read": manager.is_authorized_dag(method="GET", user=user),
        "can_refresh": manager.is_authorized_dag(method="PUT", user=user),
    }
