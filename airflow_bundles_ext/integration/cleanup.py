"""Removed bundles' storage on workers: a patched ``BundleUsageTrackingManager``.

Every Celery worker (``airflow celery worker`` starts a cleanup subprocess), the scheduler and
the DAG processor call ``BundleUsageTrackingManager().remove_stale_bundle_versions()`` every
``[dag_processor] stale_bundle_cleanup_interval`` seconds. The stock method only cleans
bundles that are still configured, so on a worker the trees of a bundle whose file was deleted
would stay forever. After the stock cleanup, the patched method reclaims them
(:func:`~airflow_bundles_ext.integration.reclaim.reclaim_unconfigured_storage`):
``[bundles_ext] removed_bundle_grace_period`` after this process first saw the bundle gone,
and only while no task holds one of its versions. It does nothing in a DAG processor whose
watcher reclaims its own storage (with the metadata DB check as well).

Reclaiming is an extra: when the internals are missing, the stock cleanup runs unchanged
(``install_guard`` changes nothing) and the failure is logged by :mod:`airflow_bundles_ext.activate`.

Internals used (pinned in tests/integration/test_internals.py):
``BundleUsageTrackingManager.remove_stale_bundle_versions(self)`` and the tracking layout.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import structlog

from airflow_bundles_ext.compat.airflow import check_running_airflow, require, require_params
from airflow_bundles_ext.integration import patch_once
from airflow_bundles_ext.integration.reclaim import reclaim_unconfigured_storage, reclaims_in_processor

log = structlog.get_logger(__name__)

WHERE = "airflow.dag_processing.bundles.base"


def check_internals(module: Any) -> None:
    require(module, ("BundleUsageTrackingManager", "STALE_BUNDLE_TRACKING_FOLDER"), where=WHERE)
    manager = module.BundleUsageTrackingManager
    where = f"{WHERE}.BundleUsageTrackingManager"
    require(manager, ("remove_stale_bundle_versions",), where=where)
    method = manager.remove_stale_bundle_versions
    require_params(method, ("self",), where=f"{where}.remove_stale_bundle_versions")


def install(module: Any) -> None:
    check_running_airflow()
    check_internals(module)
    patch_once(module.BundleUsageTrackingManager, remove_stale_bundle_versions=_wrap)


def install_guard(module: Any, error: Exception) -> None:
    """Nothing to refuse: without the patch removed bundles' storage is only kept."""


def reclaim_removed_bundles() -> list[str]:
    """Reclaim this process's storage of bundles it no longer resolves; the names reclaimed."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    from airflow_bundles_ext.watcher.options import WatcherOptions

    options = WatcherOptions.load()
    configured = set(DagBundlesManager().get_all_bundle_names())
    root = Path(options.storage_root)
    return reclaim_unconfigured_storage(configured, root=root, grace_period=options.grace_period)


def _wrap(original: Any) -> Any:
    @functools.wraps(original)
    def remove_stale_bundle_versions(self: Any) -> None:
        original(self)
        if reclaims_in_processor():
            return
        try:
            reclaimed = reclaim_removed_bundles()
        except Exception as exc:  # never fail the stock cleanup; tried again next interval
            log.exception("cannot reclaim removed bundles' storage; retrying later", error=str(exc))
            return
        if reclaimed:
            log.info("removed bundles' storage reclaimed", bundles=reclaimed)

    return remove_stale_bundle_versions
