"""Helpers shared by this package's bundle classes (Airflow public API only)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import IO, Any


def make_bundle_version(version: str, data: dict[str, Any] | None = None) -> Any:
    """What ``get_current_version()`` returns: ``BundleVersion`` on Airflow 3.3+, a string on 3.2."""
    try:
        from airflow.dag_processing.bundles.base import BundleVersion
    except ImportError:  # Airflow 3.2 has no BundleVersion
        return version
    return BundleVersion(version=version, data=data)


def mark_version_in_use(bundle_name: str, version: str) -> None:
    """Record ``version`` as just used, so Airflow's stale-version cleanup keeps it.

    Airflow removes ``versions/<v>`` only for versions that have a tracking file and are
    neither among the newest ``stale_bundle_cleanup_min_versions`` nor used within
    ``stale_bundle_cleanup_age_threshold``. The timestamp is written in place, as Airflow's own
    ``BundleVersionLock`` does: replacing the file would move it to a new inode and drop the
    shared ``flock`` that running tasks (and :class:`PublishedVersionHold`) keep on it, and a temp
    file in the tracking dir would be taken for a version by the cleanup.
    Never raises: failing to record use must not fail a refresh.
    """
    import pendulum
    from airflow.dag_processing.bundles.base import get_bundle_tracking_file

    with contextlib.suppress(OSError):
        path = get_bundle_tracking_file(bundle_name=bundle_name, version=version)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.truncate(0)
            fh.write(pendulum.now(tz=pendulum.UTC).isoformat())


class PublishedVersionHold:
    """Protect the published version from Airflow's stale-version cleanup, whatever its settings.

    The tracking file is touched (newest used version) and held with a shared ``flock``, as a
    running task holds its version: the cleanup takes an exclusive non-blocking lock and skips a
    version it cannot lock. Touching alone is not enough with
    ``stale_bundle_cleanup_min_versions = 0`` and a zero age threshold. Each call takes the new
    hold before releasing the previous one.
    """

    def __init__(self) -> None:
        self._handle: IO[str] | None = None

    def hold(self, bundle_name: str, version: str) -> None:
        mark_version_in_use(bundle_name, version)
        from airflow.dag_processing.bundles.base import get_bundle_tracking_file

        try:
            handle = open(get_bundle_tracking_file(bundle_name=bundle_name, version=version))  # noqa: SIM115
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return
        previous, self._handle = self._handle, handle
        if previous is not None:
            previous.close()
