"""Reclaiming the local storage of a bundle whose file was deleted.

A removed bundle's tree (``get_bundle_base_folder(name)``) is kept for ``[bundles_ext]
removed_bundle_grace_period`` seconds, then removed, but only when nothing may still read it:

* no task instance of one of its DAGs is queued, running, deferred or restarting
  (:func:`bundles_in_use`, one query for all the names due). This covers what the lock below
  cannot: ``BundleVersionLock`` takes no lock when the version is ``None`` (bundles without
  versioning, or ``disable_bundle_versioning``);
* no task holds one of its versions: running tasks hold ``LOCK_SH`` on Airflow's tracking files
  (``get_bundle_tracking_dir(name)/<version>``, ``BundleVersionLock``); like Airflow's own
  stale-version cleanup (``BundleUsageTrackingManager._remove_stale_bundle``), this takes
  ``LOCK_EX | LOCK_NB`` on every tracking file first and backs off if any is held. The locks
  are kept until the tree is gone, so no task can start using a version halfway through.

The tracking layout and its lock protocol are spoken by :mod:`airflow_bundles_ext.compat.tracking`.
Never raises from the filesystem part: a failed reclaim is retried on a later loop.

Two callers:

* the DAG processor's watcher (:mod:`.reload`) reclaims the bundles it deactivated, with both
  checks above, ``removed_bundle_grace_period`` after it deactivated them;
* every other process, after Airflow's periodic stale-version cleanup (:mod:`.cleanup`: a
  Celery worker runs it every ``[dag_processor] stale_bundle_cleanup_interval``), reclaims the
  storage of bundles it no longer resolves (:func:`reclaim_unconfigured_storage`). A worker
  must not depend on the metadata DB, so there only the tracking-file locks and the grace period
  (counted from when *that* process first saw the bundle gone, recorded in
  ``<storage root>/_bundles_ext/reclaim.json``) protect a task; tasks of bundles without
  versions take no lock.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import structlog

from airflow_bundles_ext.compat.tracking import all_versions_released
from airflow_bundles_ext.core import storage_reclaim
from airflow_bundles_ext.core.paths import check_segment
from airflow_bundles_ext.errors import UnsafePathError
from airflow_bundles_ext.publish import atomic_write

log = structlog.get_logger(__name__)

LOCAL_STATE = Path("_bundles_ext") / "reclaim.json"
"""Under a storage root: unconfigured bundles of this root, since when, and why still kept."""
KEPT_IN_USE = "a task holds one of its versions (or its tracking files cannot be locked); retried"

_processor_reclaims = False

IN_USE_STATES = ("queued", "running", "deferred", "restarting", "up_for_reschedule")
"""Task instance states whose task may read (or is about to read) the bundle's files."""


def bundles_in_use(names: Iterable[str]) -> set[str]:
    """The bundles among ``names`` with a task instance in :data:`IN_USE_STATES`. One query."""
    from airflow.models.dag import DagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    wanted = sorted(set(names))
    if not wanted:
        return set()
    query = (
        select(DagModel.bundle_name)
        .join(TaskInstance, TaskInstance.dag_id == DagModel.dag_id)
        .where(DagModel.bundle_name.in_(wanted), TaskInstance.state.in_(IN_USE_STATES))
        .distinct()
    )
    with create_session() as session:
        return set(session.scalars(query))


def reclaim_bundle_storage(bundle_name: str) -> bool:
    """Remove the bundle's storage and tracking files; ``False`` if a task holds a version."""
    from airflow.dag_processing.bundles.base import get_bundle_base_folder, get_bundle_tracking_dir

    check_segment(bundle_name, what="bundle name")
    base = Path(get_bundle_base_folder(bundle_name))
    with all_versions_released(bundle_name) as released:
        if not released:
            log.info("removed bundle still in use by a task; storage kept", bundle_name=bundle_name)
            return False
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(get_bundle_tracking_dir(bundle_name), ignore_errors=True)
    log.info("removed bundle's storage reclaimed", bundle_name=bundle_name, path=str(base))
    return not base.exists()


def processor_reclaims_here() -> None:
    """Called by the DAG processor's watcher: it reclaims its own storage, with the DB check."""
    global _processor_reclaims
    _processor_reclaims = True


def reclaims_in_processor() -> bool:
    return _processor_reclaims


def bundles_with_storage(root: Path, tracking_root: Path) -> set[str]:
    """Bundles with trees under ``root``: a tracking dir, or ``<root>/<name>/versions``.

    Only names that are safe path segments; anything else in the root is not ours to touch.
    """
    names = {p.name for p in _subdirs(tracking_root)}
    names |= {p.name for p in _subdirs(root) if (p / "versions").is_dir()}
    return {n for n in names if _is_segment(n)}


def reclaim_unconfigured_storage(
    configured: Collection[str], *, root: Path, grace_period: float, now: float | None = None
) -> list[str]:
    """Reclaim the storage of bundles not in ``configured``, ``grace_period`` after first seen so.

    Returns the bundles reclaimed. Marks and reasons are saved in :data:`LOCAL_STATE`.
    """
    from airflow.dag_processing.bundles import base

    state_path = root / LOCAL_STATE
    recorded = _read_state(state_path)
    marks = {name: float(entry["unconfigured_since"]) for name, entry in recorded.items()}
    now = time.time() if now is None else now
    on_disk = bundles_with_storage(root, Path(base.STALE_BUNDLE_TRACKING_FOLDER))
    plan = storage_reclaim.plan(on_disk, configured, marks, now=now, grace_period=grace_period)
    reclaimed = [name for name in plan.due if reclaim_bundle_storage(name)]
    state = {
        name: {"unconfigured_since": since}
        | ({"kept": KEPT_IN_USE, "checked_at": now} if name in plan.due else {})
        for name, since in plan.marks.items()
        if name not in reclaimed
    }
    if state != recorded:
        _write_state(state_path, state)
    return reclaimed


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def _is_segment(name: str) -> bool:
    try:
        check_segment(name, what="bundle name")
    except UnsafePathError:
        return False
    return True


def _read_state(path: Path) -> dict[str, Any]:
    """The saved marks; missing or corrupt reads as empty (grace periods start over)."""
    try:
        data = json.loads(path.read_text())
        bundles = data["bundles"]
        return {n: e for n, e in bundles.items() if isinstance(e.get("unconfigured_since"), int | float)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_state(path: Path, state: Mapping[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps({"bundles": state}, indent=2, sort_keys=True).encode())
    except OSError as exc:
        log.warning("cannot save storage reclaim marks", path=str(path), error=str(exc))
