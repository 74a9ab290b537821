"""``airflow bundles-ext validate`` and ``airflow bundles-ext list``.

``validate`` runs the DAG processor's own code path (the same :class:`ConfigDirView`, the same
checks, the same reconcile with the static list and the last good state), read-only.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from airflow_bundles_ext.core.configdir import FileError, ParseResult, Resolution
from airflow_bundles_ext.errors import BundlesExtError, PolicyError

VALIDATE_COLUMNS = ("file", "bundle", "tenant", "status", "error")
LIST_COLUMNS = ("bundle", "source", "active", "version", "last_refreshed")


def validate(args: Any) -> None:
    from airflow_bundles_ext.integration.bundles import check_in_dag_processor, new_view
    from airflow_bundles_ext.watcher.options import WatcherOptions, configured_directory

    directory = args.dir or configured_directory()
    if not directory:
        raise SystemExit(
            "airflow bundles-ext validate: no directory given and [dag_processor] dag_bundle_config_path "
            "is not set; pass the directory to check"
        )
    options = WatcherOptions.load(directory)
    try:
        options.policy_source().current()
    except PolicyError as exc:
        raise SystemExit(f"airflow bundles-ext validate: {exc}") from exc
    # The DAG processor's check (the constructor runs for every file); the state is read only.
    view = new_view(options, check=check_in_dag_processor, report=False)
    resolution = view.resolve(static_bundle_names())
    if view.snapshot is None:
        raise SystemExit(f"airflow bundles-ext validate: cannot list {directory}")
    rows = [_validate_row(file, result, resolution) for file, result in sorted(view.parse_results().items())]
    _print(rows, VALIDATE_COLUMNS, args.output)
    if resolution.errors:
        raise SystemExit(1)


def _validate_row(file: str, result: ParseResult, resolution: Resolution) -> dict[str, str]:
    """One row of ``validate``: the file, the bundle it defines (or keeps), its tenant and status."""
    error = resolution.errors.get(file)
    kept = resolution.last_good.get(file)
    if error is None:
        status = "ok"
    elif file in resolution.stale_files:
        status = "invalid (last good in force)"
    else:
        status = "invalid"
    return {
        "file": file,
        "bundle": kept.name if kept else ("" if isinstance(result, FileError) else result.name),
        "tenant": "" if isinstance(result, FileError) else result.tenant or "",
        "status": status,
        "error": error.message if error else "",
    }


def list_bundles(args: Any) -> None:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_bundles_ext.integration.bundles import SOURCES_ATTR

    manager = DagBundlesManager()
    sources: dict[str, str] = getattr(manager, SOURCES_ATTR, None) or dict.fromkeys(
        manager.get_all_bundle_names(), "static"
    )
    with create_session() as session:
        stored = {row.name: row for row in session.scalars(select(DagBundleModel))}
    rows = []
    for name in sorted(set(sources) | set(stored)):
        row = stored.get(name)
        source = sources.get(name, "-")
        rows.append(
            {
                "bundle": name,
                "source": source if source in ("static", "-") else f"file {source}",
                "active": "" if row is None else str(bool(row.active)),
                "version": (row.version or "") if row else "",
                "last_refreshed": row.last_refreshed.isoformat() if row and row.last_refreshed else "",
            }
        )
    _print(rows, LIST_COLUMNS, args.output)


RELEASE_COLUMNS = ("version", "stored_at", "current")


def releases(args: Any) -> None:
    """The releases of a release-mode bundle's root (one LIST of its manifests, one GET of its pointer)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    from airflow_bundles_ext.bundles.s3 import S3DagBundle
    from airflow_bundles_ext.release.steps import releases as list_releases

    try:
        bundle = DagBundlesManager().get_bundle(args.name)
    except ValueError as exc:
        raise SystemExit(f"airflow bundles-ext releases: {exc}") from exc
    if not isinstance(bundle, S3DagBundle) or bundle.release is None:
        raise SystemExit(
            f"airflow bundles-ext releases: bundle {args.name!r} is not an S3DagBundle in release mode "
            "(release_mode=True)"
        )
    try:
        rows = list_releases(bundle.objects, bundle.release.layout)
    except BundlesExtError as exc:
        raise SystemExit(f"airflow bundles-ext releases: {exc}") from exc
    _print([{k: str(v) for k, v in r.items()} for r in rows], RELEASE_COLUMNS, args.output)


def static_bundle_names() -> list[str]:
    """Names in ``[dag_processor] dag_bundle_config_list`` (the static list wins over files)."""
    from airflow.configuration import conf

    try:
        entries: Any = conf.getjson("dag_processor", "dag_bundle_config_list") or []
    except Exception as exc:
        raise BundlesExtError(f"cannot read [dag_processor] dag_bundle_config_list: {exc}") from exc
    if not isinstance(entries, list):
        raise BundlesExtError("[dag_processor] dag_bundle_config_list is not a JSON list; fix the option")
    return [e["name"] for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)]


def _print(rows: list[dict[str, str]], columns: tuple[str, ...], output: str) -> None:
    if output == "json":
        print(json.dumps(rows, indent=2))
        return
    from tabulate import tabulate

    print(tabulate([[r[c] for c in columns] for r in rows], headers=list(columns), tablefmt="simple"))
    sys.stdout.flush()
