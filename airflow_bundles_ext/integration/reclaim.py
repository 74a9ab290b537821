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

Both are Airflow internals (the tracking layout and its lock protocol), hence this module
lives in :mod:`airflow_bundles_ext.integration`. Never raises from the filesystem part: a
failed reclaim is retried on a later loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
from collections.abc import Iterable
from pathlib import Path

import structlog

from airflow_bundles_ext.core.paths import check_segment

log = structlog.get_logger(__name__)

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
    tracking = Path(get_bundle_tracking_dir(bundle_name))
    with contextlib.ExitStack() as locks:
        try:
            files = sorted(p for p in tracking.iterdir() if p.is_file()) if tracking.is_dir() else []
            for path in files:
                fh = locks.enter_context(open(path, "a"))
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("removed bundle still in use by a task; storage kept", bundle_name=bundle_name)
            return False
        except OSError as exc:
            log.warning(
                "cannot lock removed bundle's tracking files", bundle_name=bundle_name, error=str(exc)
            )
            return False
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(tracking, ignore_errors=True)
    log.info("removed bundle's storage reclaimed", bundle_name=bundle_name, path=str(base))
    return not base.exists()
