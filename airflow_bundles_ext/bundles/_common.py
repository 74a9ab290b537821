"""Helpers shared by this package's bundle classes (Airflow public API only)."""

from __future__ import annotations

import contextlib
import os
from typing import Any


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
    ``stale_bundle_cleanup_age_threshold``. Touching the published version's tracking file
    on every refresh keeps it the most recently used, so it is never a candidate.
    Never raises: failing to record use must not fail a refresh.
    """
    import pendulum
    from airflow.dag_processing.bundles.base import get_bundle_tracking_file

    with contextlib.suppress(OSError):
        path = get_bundle_tracking_file(bundle_name=bundle_name, version=version)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{version}.{os.getpid()}.tmp"
        tmp.write_text(pendulum.now(tz=pendulum.UTC).isoformat())
        os.replace(tmp, path)
