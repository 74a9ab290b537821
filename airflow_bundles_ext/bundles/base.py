"""``VersionedTreeBundle``: the Airflow bundle contract, once, for every source of this package.

A source (S3, git, the next one) supplies only what differs:

- :meth:`~VersionedTreeBundle.parse_version`: check a version string and normalise it;
- :meth:`~VersionedTreeBundle.resolve_latest`: what the latest version is (one LIST, one
  ``ls-remote``), as a :class:`Target`;
- :meth:`~VersionedTreeBundle.resolve_pinned`: the :class:`Target` of a given version (a worker);
- :meth:`~VersionedTreeBundle.build`: write that version's tree into an empty staging directory.

This class owns everything else, as a straight list of steps. A refresh (the DAG processor's
instance, under the bundle lock)::

    sweep crash debris -> resolve the latest version -> hold it against stale cleanup
    -> published already? done -> tree on disk? else check, stage and build it
    -> pre-publish check (caps, symlinks) -> rename into versions/<v> -> flip ``current``

A pinned instance (a worker given ``(name, version)``, possibly on an empty storage root)::

    hold the version -> tree on disk? done -> else, under the bundle lock: resolve the pinned
    version, stage, build, check, rename -> mark it in use

Publishing goes through :class:`~airflow_bundles_ext.publish.VersionStore` (stage, rename,
symlink flip, sweep), so a reader never sees a mix and a crash at any point heals at the next
refresh. Constructors do no I/O: Airflow deactivates a bundle whose constructor raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import structlog
from airflow.dag_processing.bundles.base import BaseDagBundle

from airflow_bundles_ext.bundles._common import (
    VersionHolds,
    make_bundle_version,
    mark_version_in_use,
    version_held,
)
from airflow_bundles_ext.core.paths import check_segment
from airflow_bundles_ext.errors import BundlesExtError
from airflow_bundles_ext.metrics import BundleMetrics
from airflow_bundles_ext.publish import VersionStore
from airflow_bundles_ext.tree_check import TreeLimits, check_tree


@dataclass(frozen=True)
class Target:
    """A version to publish and whatever its source needs to build it (``detail``)."""

    version: str
    detail: Any = None


class VersionedTreeBundle(BaseDagBundle):
    """Versions as immutable trees under ``versions/<v>``, published by a symlink flip.

    Subclasses set :attr:`component` (metric and log name), may set :attr:`subdir` (a directory
    inside each tree that ``path`` points at) and :attr:`limits` (the pre-publish check).
    """

    supports_versioning = True
    component: ClassVar[str] = "bundle"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_segment(self.name, what="bundle name")  # it becomes a directory (and an S3 key prefix)
        self.pinned = self.parse_version(self.version) if self.version is not None else None
        self.subdir: str | None = None
        self.limits = TreeLimits()
        self.store = VersionStore(self.base_dir, self.versions_dir)
        self.holds = VersionHolds(self.name)
        self.metrics = BundleMetrics(self.component, self.name)
        self.log = structlog.get_logger(type(self).__module__).bind(bundle_name=self.name)

    # --- what a source supplies -----------------------------------------------------------------

    def parse_version(self, version: str) -> str:
        """``version`` checked and normalised; raise for a string that cannot be this source's."""
        return check_segment(version, what="bundle version")

    def resolve_latest(self) -> Target:
        raise NotImplementedError

    def resolve_pinned(self, version: str) -> Target:
        raise NotImplementedError

    def build(self, target: Target, staging: Path) -> None:
        """Write ``target``'s tree into the empty directory ``staging``."""
        raise NotImplementedError

    def check_publishable(self, target: Target, published: str | None) -> None:
        """Refuse a target before it is built (caps, collisions, an emptied source)."""

    def published(self, target: Target, built: bool) -> None:
        """Called after ``target`` became the published version (``built``: its tree is new)."""

    def refresh_failed(self) -> None:
        """Called after a failed refresh (e.g. forget cached credentials)."""

    def version_data(self, version: str) -> dict[str, Any] | None:
        """What ``get_current_version()`` stores with a version (Airflow 3.3's ``version_data``)."""
        return None

    # --- Airflow's interface --------------------------------------------------------------------

    @property
    def path(self) -> Path:
        root = self.store.version_dir(self.pinned) if self.pinned else self.store.current_link
        return root / self.subdir if self.subdir else root

    def get_current_version(self) -> Any:
        version = self.pinned or self.store.published_version()
        return make_bundle_version(version, self.version_data(version)) if version else None

    def initialize(self) -> None:
        if self.pinned:
            self._materialise(self.pinned)
        else:
            self._initial_refresh()
        super().initialize()

    def refresh(self) -> None:
        """Publish the source's latest version (the DAG processor's instance only)."""
        if self.pinned:
            raise BundlesExtError(
                f"cannot refresh bundle {self.name!r}: it is pinned to version {self.pinned}; "
                "only the unpinned bundle follows its source"
            )
        with self.metrics.timer("refresh_duration"), self._counting_failures(), self.lock():
            self._refresh_locked()

    # --- the steps ------------------------------------------------------------------------------

    def _refresh_locked(self) -> None:
        self.store.sweep()
        target = self.resolve_latest()
        published = self.store.published_version()
        # Held before looking for its tree: a stale cleanup may be deleting an old tree we revert to.
        self.holds.hold(target.version)
        try:
            if target.version == published:
                self.metrics.incr("noop_refreshes")
                self.published(target, built=False)
                return
            built = not self.store.has(target.version)
            if built:
                self.check_publishable(target, published)
                self._stage(target)
            self.store.publish(target.version)
            self.log.info("version published", version=target.version, previous=published, built=built)
            self.published(target, built=built)
        finally:
            self.holds.keep_only(self.store.published_version())

    def _materialise(self, version: str) -> None:
        """Make ``versions/<version>`` exist on this host (a worker, maybe with empty storage)."""
        with version_held(self.name, version):
            if not self.store.has(version):
                with self.lock():
                    if not self.store.has(version):  # another process may have built it meanwhile
                        self.store.sweep()
                        self._stage(self.resolve_pinned(version))
                        self.log.info("version built", version=version)
        mark_version_in_use(self.name, version)

    def _stage(self, target: Target) -> None:
        where = f"bundle {self.name!r} version {target.version}"
        with self.store.stage(
            target.version, check=lambda root: check_tree(root, self.limits, where)
        ) as staging:
            self.build(target, staging)

    def _initial_refresh(self) -> None:
        """Refresh; if that fails while a version is published, keep serving it.

        A processor restarted while the source is down (outage, unreachable remote, expired
        credential) then parses the published tree instead of leaving the bundle uninitialized;
        the error was logged and counted by the refresh, and the next refresh retries.
        """
        try:
            self.refresh()
        except (BundlesExtError, OSError) as exc:
            version = self.store.published_version()
            if version is None:
                raise
            self.log.warning(
                "initial refresh failed, serving the published version", version=version, error=str(exc)
            )

    @contextlib.contextmanager
    def _counting_failures(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self.metrics.incr("refresh_failures")
            self.log.warning("refresh failed", error=str(exc), error_type=type(exc).__name__)
            self.refresh_failed()
            raise
