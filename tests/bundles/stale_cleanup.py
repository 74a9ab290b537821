"""Airflow's stale-version cleanup of one version, caught in the middle (for race tests).

``BundleUsageTrackingManager._remove_stale_bundle`` takes an exclusive ``flock`` on the tracking
file, ``rmtree``s ``versions/<v>``, removes the tracking file, then lets go. :class:`CleanupInProgress`
does the same in two halves: the lock and part of the tree removed on entry, the rest on
:meth:`finish`, so a test can run a refresh in between. :meth:`someone_waits` reads the kernel's
lock table, so the test knows (without sleeping) that the refresh is waiting for the cleanup.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path


class CleanupInProgress:
    def __init__(self, bundle_name: str, version: str, version_dir: Path) -> None:
        from airflow.dag_processing.bundles.base import get_bundle_tracking_file

        self.tracking = get_bundle_tracking_file(bundle_name=bundle_name, version=version)
        self.version_dir = version_dir
        self._handle = open(self.tracking, "a")  # noqa: SIM115 - closed in finish()
        fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.inode = os.fstat(self._handle.fileno()).st_ino
        files = sorted(p for p in version_dir.rglob("*") if p.is_file())
        files[0].unlink()  # half-deleted: the directory is still there

    def someone_waits(self) -> bool:
        """A process waits for a lock on the tracking file (a ``->`` line in /proc/locks)."""
        lines = Path("/proc/locks").read_text().splitlines()
        return any("->" in line and f":{self.inode} " in line for line in lines)

    def finish(self) -> None:
        shutil.rmtree(self.version_dir)
        os.remove(self.tracking)
        self._handle.close()


def race_cleanup(cleanup: CleanupInProgress, refresh, timeout: float = 60.0) -> None:
    """Run ``refresh`` in a thread; let the cleanup finish once the refresh waits for it (or ended)."""
    import threading
    import time

    errors: list[BaseException] = []

    def run() -> None:
        try:
            refresh()
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + timeout
    while thread.is_alive() and not cleanup.someone_waits() and time.monotonic() < deadline:
        time.sleep(0.01)
    cleanup.finish()
    thread.join(timeout)
    assert not thread.is_alive(), "the refresh never finished"
    if errors:
        raise errors[0]
