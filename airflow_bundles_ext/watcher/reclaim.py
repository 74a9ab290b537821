"""Reclaiming the local storage of a bundle whose file was deleted.

A removed bundle's tree (``<storage root>/<name>``) is kept for ``[bundles_ext]
removed_bundle_grace_period`` seconds, then removed, but only when no task holds one of its
versions. Running tasks hold ``LOCK_SH`` on Airflow's tracking file
``<storage root>/_tracking/<name>/<version>`` (``BundleVersionLock``); like Airflow's own
stale-version cleanup, this takes ``LOCK_EX | LOCK_NB`` on every tracking file first and backs
off if any is held. The locks are kept until the tree is gone, so no task can start using a
version halfway through. Never raises: a failed reclaim is retried on a later loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
from pathlib import Path

import structlog

from airflow_bundles_ext.core.paths import check_segment

log = structlog.get_logger(__name__)


def reclaim_bundle_storage(storage_root: Path, bundle_name: str) -> bool:
    """Remove the bundle's storage and tracking files; ``False`` if a task holds a version."""
    check_segment(bundle_name, what="bundle name")
    base = storage_root / bundle_name
    tracking = storage_root / "_tracking" / bundle_name
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
