"""``airflow bundles-ext status [NAME]`` and ``airflow bundles-ext refresh NAME``.

The same service as the REST API (:mod:`airflow_bundles_ext.status.service`): ``status -o json``
prints exactly what ``GET /bundles-ext/api/v1/bundles`` (or ``.../bundles/NAME``) returns, and
``refresh`` writes the same request as ``POST .../bundles/NAME/refresh``. Like every Airflow
CLI command they talk to the metadata DB directly, so they need no login.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from airflow_bundles_ext.errors import BundlesExtError

STATUS_COLUMNS = ("bundle", "health", "active", "source", "version", "last_refresh", "failures", "error")
FILE_COLUMNS = ("file", "bundle", "since", "error")


def status(args: Any) -> None:
    from airflow.utils.session import create_session

    from airflow_bundles_ext.status import options, service

    with create_session() as session:
        try:
            data = (
                service.bundle_view(session, args.name, max_failures=options.max_failures())
                if args.name
                else service.report(session, max_failures=options.max_failures())
            )
        except BundlesExtError as exc:
            raise SystemExit(f"airflow bundles-ext status: {exc}") from exc
    if args.output == "json":
        print(json.dumps(data, indent=2))
        return
    bundles = [data] if args.name else data["bundles"]
    _table([_row(b) for b in bundles], STATUS_COLUMNS)
    files = data["invalid_files"]
    if files:
        print("\ninvalid files in the watched directory:")
        _table([{c: f.get(c) or "" for c in FILE_COLUMNS} for f in files], FILE_COLUMNS)
    if not args.name:
        health = data["health"]
        names = f" ({', '.join(health['unhealthy'])})" if health["unhealthy"] else ""
        print(f"\nhealth: {health['status']}{names}")


def refresh(args: Any) -> None:
    from airflow.utils.session import create_session

    from airflow_bundles_ext.status import service

    try:
        with create_session() as session:
            result = service.request_refresh(session, args.name)
    except BundlesExtError as exc:
        raise SystemExit(f"airflow bundles-ext refresh: {exc}") from exc
    if args.output == "json":
        print(json.dumps(result, indent=2))
        return
    pending = " (a request was already pending)" if result["already_pending"] else ""
    print(f"refresh of {args.name!r} requested{pending}; its DAG processor picks it up on its next loop")


def _row(b: dict[str, Any]) -> dict[str, str]:
    error = b["error"] or {}
    return {
        "bundle": b["name"],
        "health": "ok" if b["healthy"] else "; ".join(b["problems"]),
        "active": str(b["active"]),
        "source": b["source"] or "",
        "version": (b["version"] or "")[:12],
        "last_refresh": b["refresh"]["ended_at"] or b["last_refreshed"] or "",
        "failures": str(error.get("consecutive_failures", 0)),
        "error": (error.get("message") or "")[:80],
    }


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    from tabulate import tabulate

    print(tabulate([[r[c] for c in columns] for r in rows], headers=list(columns), tablefmt="simple"))
    sys.stdout.flush()
