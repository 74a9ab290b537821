"""Response models: the OpenAPI document at ``/bundles-ext/openapi.json`` is built from these."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RefreshInfo(BaseModel):
    pending: bool = Field(description="A refresh was requested and no DAG processor has claimed it yet")
    started_at: str | None = Field(description="Start of the last refresh (or initialize), UTC ISO 8601")
    ended_at: str | None
    duration_s: float | None
    last_success_at: str | None


class ErrorInfo(BaseModel):
    message: str = Field(description="The last refresh error; URL credentials and secrets removed")
    at: str | None
    consecutive_failures: int = Field(description="Failed refreshes in a row; 0 once one succeeded")
    failing_since: str | None


class StorageInfo(BaseModel):
    bytes: int = Field(description="Bytes on the local bundle storage, hard links counted once")
    versions: int = Field(description="Versions kept on the local bundle storage")


class InvalidFileOut(BaseModel):
    file: str = Field(description="File name in the watched directory")
    bundle: str | None = Field(description="Bundle whose last good definition the file had")
    error: str
    since: str | None


class BundleOut(BaseModel):
    name: str
    active: bool
    source: str | None = Field(description="'static' (dag_bundle_config_list) or the bundle file's name")
    version: str | None
    last_refreshed: str | None = Field(description="Airflow's dag_bundle.last_refreshed")
    healthy: bool
    problems: list[str]
    refresh: RefreshInfo
    error: ErrorInfo | None
    storage: StorageInfo | None
    invalid_files: list[InvalidFileOut]
    reporter: str | None = Field(description="The DAG processor (host:pid) that reported the status")
    reported_at: str | None


class HealthOut(BaseModel):
    status: str = Field(description="'healthy' or 'unhealthy'")
    unhealthy: list[str] = Field(description="Bundles (or files) that make the deployment unhealthy")
    failing_bundles: list[str]
    invalid_files: dict[str, list[str]] = Field(description="Bundle (or file) -> invalid files")
    max_failures: int


class ReportOut(BaseModel):
    bundles: list[BundleOut]
    invalid_files: list[InvalidFileOut]
    health: HealthOut


class RefreshOut(BaseModel):
    bundle: str
    refresh_requested: bool
    already_pending: bool


class PermissionsOut(BaseModel):
    can_read: bool
    can_refresh: bool


class WebhookOut(BaseModel):
    event: str
    refreshed: list[str] = Field(description="Bundles whose refresh was requested")
    skipped: dict[str, str] = Field(description="Matching bundles not refreshed, and why")


class ErrorOut(BaseModel):
    detail: str
