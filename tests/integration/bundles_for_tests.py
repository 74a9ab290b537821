"""Real ``BaseDagBundle`` subclasses for the integration and watcher tests (importable by classpath)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.dag_processing.bundles.base import BaseDagBundle

CLASSPATH = "tests.integration.bundles_for_tests."


class OutageBundle(BaseDagBundle):
    """A local bundle whose constructor looks something up, like ``GitDagBundle`` without
    ``repo_url`` looks up its connection: while ``outage_marker`` exists the lookup fails."""

    def __init__(self, *, path: str, outage_marker: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if Path(outage_marker).exists():
            raise ConnectionError("secrets backend unreachable")
        self._path = Path(path)

    @property
    def path(self) -> Path:
        return self._path

    def get_current_version(self) -> None:
        return None

    def refresh(self) -> None:
        """Nothing to fetch."""


class PinnedVersionBundle(BaseDagBundle):
    """A versioned local bundle whose version string does not depend on ``path`` (like a Git
    bundle whose ``subdir`` changes while the commit stays the same)."""

    supports_versioning = True

    def __init__(self, *, path: str, pinned: str = "v1", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._path = Path(path)
        self._pinned = pinned

    @property
    def path(self) -> Path:
        return self._path

    def get_current_version(self) -> str:
        return self._pinned

    def refresh(self) -> None:
        """Nothing to fetch."""
