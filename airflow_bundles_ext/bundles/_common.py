"""Helpers shared by this package's bundle classes.

- :func:`make_bundle_version`: what ``get_current_version()`` returns on Airflow 3.2 and 3.3.
- Version holds against Airflow's stale-version cleanup (:func:`mark_version_in_use`,
  :func:`version_held`, :class:`VersionHolds`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

_LOCK_TRIES = 5  # a cleanup removing the file between our open and our lock, this many times in a row


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
    shared ``flock`` that running tasks (and :class:`VersionHolds`) keep on it, and a temp
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


def _hold(bundle_name: str, version: str) -> IO[str] | None:
    """Touch the tracking file of ``version`` and take a shared ``flock`` on it, as a running task does.

    Airflow's cleanup takes the exclusive lock (non-blocking) *before* it ``rmtree``s the version
    and removes the tracking file, and holds it until both are done. So once this returns:

    - if a cleanup was removing the version, it has finished (the shared lock waited for it), and
      ``versions/<v>`` is gone entirely rather than half-deleted;
    - no later cleanup can remove it while the returned handle stays open.

    The lock is checked to be on the file that is at the path now (a cleanup may have removed
    the one we opened). ``None`` when the tracking dir is unusable: the caller goes on unheld.
    """
    from airflow.dag_processing.bundles.base import get_bundle_tracking_file

    path = get_bundle_tracking_file(bundle_name=bundle_name, version=version)
    for _ in range(_LOCK_TRIES):
        mark_version_in_use(bundle_name, version)
        try:
            handle = open(path)  # noqa: SIM115 - the lock lives as long as the handle
        except OSError:
            return None
        try:
            fcntl.flock(handle, fcntl.LOCK_SH)  # waits while a cleanup holds LOCK_EX
            if os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino:
                return handle
        except OSError:
            pass
        handle.close()
    return None


@contextlib.contextmanager
def version_held(bundle_name: str, version: str) -> Iterator[None]:
    """Hold ``version`` against stale cleanup for the block (check for its tree, build, use it)."""
    handle = _hold(bundle_name, version)
    try:
        yield
    finally:
        if handle is not None:
            handle.close()


class VersionHolds:
    """The versions a processor-side bundle holds against stale cleanup, whatever its settings.

    A refresh holds its *target* version before it looks for that tree on disk (a revert to an
    old version that a cleanup is deleting) and keeps holding only the published one afterwards.
    Touching alone is not enough with ``stale_bundle_cleanup_min_versions = 0`` and a zero age
    threshold: the held ``flock`` makes the cleanup skip the version.
    """

    def __init__(self, bundle_name: str) -> None:
        self.bundle_name = bundle_name
        self._handles: dict[str, IO[str]] = {}

    def hold(self, version: str) -> None:
        """Hold ``version`` (again: the use timestamp is refreshed on every call)."""
        handle = self._handles.get(version)
        if handle is not None and _still_at_path(handle, self.bundle_name, version):
            mark_version_in_use(self.bundle_name, version)
            return
        new = _hold(self.bundle_name, version)
        if handle is not None:
            handle.close()
            del self._handles[version]
        if new is not None:
            self._handles[version] = new

    def keep_only(self, version: str | None) -> None:
        """Release every hold but ``version``'s."""
        for held in [v for v in self._handles if v != version]:
            self._handles.pop(held).close()


def _still_at_path(handle: IO[str], bundle_name: str, version: str) -> bool:
    from airflow.dag_processing.bundles.base import get_bundle_tracking_file

    try:
        path = get_bundle_tracking_file(bundle_name=bundle_name, version=version)
        return os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    except OSError:
        return False
