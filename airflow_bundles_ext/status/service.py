"""What the REST API, the Bundles page and ``airflow bundles-ext status|refresh`` share.

* :func:`report` / :func:`bundle_view`: Airflow's ``dag_bundle`` rows joined with the status
  rows the DAG processors wrote, the invalid files and the pending refresh requests, as JSON
  ready dicts (the API returns them as they are; the CLI prints them).
* :func:`request_refresh`: a ``dag_priority_parsing_request`` row naming the bundle and the
  marker file. The stock DAG processor that owns the bundle claims it on its next loop and
  refreshes the bundle whatever its ``refresh_interval`` (Airflow 3.2 and 3.3 alike).
* :func:`push_targets`: the configured git bundles that a webhook's push concerns.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from airflow_bundles_ext.errors import InactiveBundleError, UnknownBundleError
from airflow_bundles_ext.status import store
from airflow_bundles_ext.status.model import (
    REFRESH_MARKER,
    BundleStatus,
    Health,
    InvalidFile,
    assess,
)
from airflow_bundles_ext.status.webhooks import GitBundleRef, Push, git_bundle_refs, matching_bundles


def _iso(value: datetime | None) -> str | None:
    return store.utc(value).isoformat() if value is not None else None  # type: ignore[union-attr]


def report(session: Session, *, max_failures: int) -> dict[str, Any]:
    """Every bundle, the invalid files and the health verdict."""
    airflow_rows = _airflow_bundles(session)
    statuses = store.read_bundles(session)
    files = store.read_invalid_files(session)
    pending = _pending(session)
    health = _health(airflow_rows, statuses, files, max_failures)
    names = sorted(set(airflow_rows) | set(statuses))
    return {
        "bundles": [
            _view(n, airflow_rows.get(n), statuses.get(n), files, n in pending, health) for n in names
        ],
        "invalid_files": [_file_json(f) for f in sorted(files.values(), key=lambda f: f.file)],
        "health": health_json(health),
    }


def bundle_view(session: Session, name: str, *, max_failures: int) -> dict[str, Any]:
    """One bundle; :class:`UnknownBundleError` when neither Airflow nor a processor knows it."""
    airflow_rows = _airflow_bundles(session, [name])
    statuses = store.read_bundles(session, [name])
    if not airflow_rows and not statuses:
        raise UnknownBundleError(f"bundle {name!r} is not known to Airflow; check the name")
    files = {k: f for k, f in store.read_invalid_files(session).items() if f.bundle_name == name}
    health = _health(airflow_rows, statuses, files, max_failures)
    return _view(name, airflow_rows.get(name), statuses.get(name), files, name in _pending(session), health)


def health(session: Session, *, max_failures: int) -> Health:
    files = store.read_invalid_files(session)
    return _health(_airflow_bundles(session), store.read_bundles(session), files, max_failures)


def health_json(health: Health) -> dict[str, Any]:
    return {
        "status": "healthy" if health.healthy else "unhealthy",
        "unhealthy": list(health.unhealthy_names),
        "failing_bundles": list(health.failing),
        "invalid_files": {k: list(v) for k, v in health.invalid.items()},
        "max_failures": health.max_failures,
    }


def request_refresh(session: Session, name: str) -> dict[str, Any]:
    """Ask the owning DAG processor to refresh ``name`` on its next loop; idempotent."""
    from airflow.models.dagbag import DagPriorityParsingRequest

    row = _airflow_bundles(session, [name]).get(name)
    if row is None:
        raise UnknownBundleError(f"bundle {name!r} is not known to Airflow; check the name")
    if not row.active:
        raise InactiveBundleError(
            f"bundle {name!r} is inactive: no DAG processor owns it, so nothing would refresh it; "
            "check its definition"
        )
    already = name in _pending(session, [name])
    if not already:
        try:
            with session.begin_nested():
                session.add(DagPriorityParsingRequest(bundle_name=name, relative_fileloc=REFRESH_MARKER))
        except IntegrityError:  # a concurrent request for the same bundle
            already = True
    return {"bundle": name, "refresh_requested": True, "already_pending": already}


def push_targets(push: Push, entries: Iterable[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """Names of the configured git bundles that track the pushed repository and ref."""
    refs = [
        _with_connection_url(ref, kwargs)
        for name, classpath, kwargs in entries
        for ref in git_bundle_refs([(name, classpath, kwargs)])
    ]
    return matching_bundles(refs, push)


def configured_entries() -> list[tuple[str, str, dict[str, Any]]]:
    """``(name, classpath, kwargs)`` of the static list and of the watched directory's bundles."""
    from airflow.configuration import conf

    from airflow_bundles_ext.integration.bundles import directory_view

    static: Any = conf.getjson("dag_processor", "dag_bundle_config_list", fallback=[]) or []
    if not isinstance(static, list):
        static = []
    entries = [
        (e["name"], e.get("classpath", ""), dict(e.get("kwargs") or {}))
        for e in static
        if isinstance(e, dict) and isinstance(e.get("name"), str)
    ]
    view = directory_view()
    if view is not None:
        resolved = view.resolve([name for name, _, _ in entries]).bundles
        entries += [(n, spec.classpath, dict(spec.kwargs)) for n, spec in sorted(resolved.items())]
    return entries


def _with_connection_url(ref: GitBundleRef, kwargs: dict[str, Any]) -> GitBundleRef:
    """A git bundle without ``repo_url`` uses its connection's host (as the bundle itself does)."""
    if ref.repo_url:
        return ref
    try:
        from airflow.models.connection import Connection

        conn = Connection.get_connection_from_secrets(kwargs.get("git_conn_id") or "git_default")
    except Exception:
        return ref
    return GitBundleRef(ref.name, conn.host or None, ref.tracking_ref)


def _airflow_bundles(session: Session, names: list[str] | None = None) -> dict[str, Any]:
    from airflow.models.dagbundle import DagBundleModel

    query = sa.select(
        DagBundleModel.name, DagBundleModel.active, DagBundleModel.version, DagBundleModel.last_refreshed
    )
    if names is not None:
        query = query.where(DagBundleModel.name.in_(names))
    return {row.name: row for row in session.execute(query)}


def _pending(session: Session, names: list[str] | None = None) -> set[str]:
    from airflow.models.dagbag import DagPriorityParsingRequest as Request

    query = sa.select(Request.bundle_name).where(Request.relative_fileloc == REFRESH_MARKER)
    if names is not None:
        query = query.where(Request.bundle_name.in_(names))
    return set(session.scalars(query))


def _health(
    airflow_rows: dict[str, Any],
    statuses: dict[str, tuple[BundleStatus, Any]],
    files: dict[str, InvalidFile],
    max_failures: int,
) -> Health:
    triples = []
    for name, (status, _) in statuses.items():
        row = airflow_rows.get(name)
        active = bool(row.active) if row is not None else status.active
        triples.append((name, active, status.refresh.consecutive_failures))
    return assess(triples, files.values(), max_failures=max_failures)


def _view(
    name: str,
    row: Any,
    stored: tuple[BundleStatus, Any] | None,
    files: dict[str, InvalidFile],
    pending: bool,
    health: Health,
) -> dict[str, Any]:
    status, reported_at = stored if stored else (None, None)
    r = status.refresh if status else None
    problems = []
    if name in health.failing and r is not None:
        problems.append(f"last {r.consecutive_failures} refreshes failed")
    if name in health.invalid:
        problems.append(f"invalid bundle file: {', '.join(health.invalid[name])}")
    return {
        "name": name,
        "active": bool(row.active) if row is not None else bool(status and status.active),
        "source": status.source if status else None,
        "version": (row.version if row is not None and row.version else None) or (status and status.version),
        "last_refreshed": _iso(row.last_refreshed) if row is not None else None,
        "healthy": not problems,
        "problems": problems,
        "refresh": {
            "pending": pending,
            "started_at": _iso(r.started_at) if r else None,
            "ended_at": _iso(r.ended_at) if r else None,
            "duration_s": r.duration_s if r else None,
            "last_success_at": _iso(r.last_success_at) if r else None,
        },
        "error": None
        if r is None or r.last_error is None
        else {
            "message": r.last_error,
            "at": _iso(r.last_error_at),
            "consecutive_failures": r.consecutive_failures,
            "failing_since": _iso(r.failing_since),
        },
        "storage": None
        if status is None or status.storage is None
        else {"bytes": status.storage.bytes, "versions": status.storage.versions},
        "invalid_files": [_file_json(f) for f in files.values() if f.bundle_name == name],
        "reporter": status.reporter if status else None,
        "reported_at": _iso(reported_at),
    }


def _file_json(item: InvalidFile) -> dict[str, Any]:
    return {"file": item.file, "bundle": item.bundle_name, "error": item.error, "since": _iso(item.since)}
