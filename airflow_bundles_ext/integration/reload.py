"""Applying a change of the watched directory inside a running DAG processor.

Each loop :meth:`ProcessorWatcher.check` asks the directory view for the bundles in force;
the view only stats files, and when its generation did not move this returns at once (no
reads, no DB queries). Otherwise, as a straight line of steps:

1. diff the bundles this processor applied with those in force now (added, changed, removed);
2. added or changed: sync ``dag_bundle`` rows (``deactivate_missing=False``) so a new bundle is
   active before its first refresh, put fresh instances into ``_dag_bundles`` and force their
   refresh on this very loop. A changed bundle is handled as removed plus added: its known
   files, queued files, processors, file stats and recorded version are dropped first, so the
   refresh rescans it even when its version string did not change (a Git ``subdir`` edit);
3. removed: in one transaction set ``dag_bundle.active = False``, mark the bundle's DAGs
   stale and drop its import errors; drop its files from the queue, its processors and file
   stats (``handle_removed_files``); schedule its storage for reclaim after the grace period;
4. record what this processor owns (``owner-<shard>.json``).

Progress is recorded per step: a step that raises is retried on the next loop, and the steps
that went through are not redone (a failed ownership save retries only the save). Every step
is idempotent. Parse errors never reach this module as removals: an invalid file keeps its
last good definition in force (see :mod:`airflow_bundles_ext.core.configdir`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from airflow_bundles_ext.compat import processor as compat
from airflow_bundles_ext.core.bundle_config import BundleSpec
from airflow_bundles_ext.core.configdir import changed_bundles
from airflow_bundles_ext.integration.bundles import SOURCES_ATTR, STATIC
from airflow_bundles_ext.integration.reclaim import (
    bundles_in_use,
    processor_reclaims_here,
    reclaim_bundle_storage,
)
from airflow_bundles_ext.metrics import BundleMetrics
from airflow_bundles_ext.watcher.options import WatcherOptions
from airflow_bundles_ext.watcher.state import Ownership, OwnershipStore, shard_key, state_dir_for
from airflow_bundles_ext.watcher.view import ConfigDirView

log = structlog.get_logger(__name__)

RECLAIM_CHECK_INTERVAL = 10.0


class ProcessorWatcher:
    """The watcher of one ``DagFileProcessorManager``."""

    def __init__(self, manager: Any, view: ConfigDirView, options: WatcherOptions) -> None:
        self.manager = manager
        self.view = view
        self.options = options
        self.shard = frozenset(manager.bundle_names_to_parse or ())
        state_dir = state_dir_for(options.state_root, options.directory, options.state_id)
        self.store = OwnershipStore(state_dir, shard_key(self.shard))
        self.ownership = Ownership()
        self.static: frozenset[str] = frozenset()
        self.applied: dict[str, BundleSpec] = {}
        self.applied_generation = -1
        self.errors_seen = 0
        self.metrics = BundleMetrics("watcher")
        self._last_reclaim = 0.0
        self._pending_gone: list[str] = []
        self._unsaved = False

    def start(self) -> None:
        """After the stock start-up: deactivate what this processor owned and is now gone."""
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        sources = getattr(DagBundlesManager(), SOURCES_ATTR, {})
        self.static = frozenset(n for n, s in sources.items() if s == STATIC)
        self.ownership = self.store.load()
        processor_reclaims_here()  # not also the stale-version cleanup's reclaim (integration/cleanup.py)
        mine = self._mine(self.view.resolve(self.static).bundles)
        # The stock start-up loaded every bundle in force: that is what is applied now.
        self.applied = dict(mine)
        self.applied_generation = self.view.generation
        configured = set(mine) | set(self._mine_names(self.static))
        self._pending_gone = sorted(set(self.ownership.owned) - configured)
        if self._pending_gone:
            log.info("bundles removed while the processor was down", bundles=self._pending_gone)
            self._deactivate_pending({})
        self._save_ownership()
        self.metrics.gauge("bundles", len(mine))
        log.info("bundle-config watcher started", directory=str(self.view.directory), bundles=len(mine))

    def check(self, known_files: dict[str, set[Any]]) -> None:
        if self._pending_gone:
            self._deactivate_pending(known_files)
        resolution = self.view.resolve(self.static)
        self._count_errors()
        if self.view.generation != self.applied_generation:
            self._apply(self._mine(resolution.bundles), known_files)
        elif self._unsaved:
            self._save_ownership()
        if self.ownership.removed and time.monotonic() - self._last_reclaim >= RECLAIM_CHECK_INTERVAL:
            self._last_reclaim = time.monotonic()
            self._reclaim_due()

    def _deactivate_pending(self, known_files: dict[str, set[Any]]) -> None:
        """Deactivate bundles gone while the processor was down; a failure is retried each loop."""
        try:
            self._deactivate(self._pending_gone, known_files)
        except Exception as exc:
            log.exception(
                "cannot deactivate removed bundles yet; retrying", bundles=self._pending_gone, error=str(exc)
            )
            return
        self._pending_gone = []
        self._save_ownership()

    def _apply(self, mine: dict[str, BundleSpec], known_files: dict[str, set[Any]]) -> None:
        generation = self.view.generation
        added, removed, changed = changed_bundles(self.applied, mine)
        if added or changed:
            self._load(sorted(added | changed), changed, known_files)
            self.applied.update({name: mine[name] for name in added | changed})
            self._unsaved = True
            for name in added:
                self.ownership.removed.pop(name, None)
                BundleMetrics("watcher", name).incr("bundles_added")
            for name in changed:
                BundleMetrics("watcher", name).incr("bundles_changed")
        if removed:
            self._deactivate(sorted(removed), known_files)
            for name in removed:
                self.applied.pop(name, None)
            self._unsaved = True
        self.applied_generation = generation
        if added or removed or changed:
            self.metrics.incr("reloads")
            log.info(
                "bundle config reloaded",
                added=sorted(added),
                changed=sorted(changed),
                removed=sorted(removed),
            )
        self.metrics.gauge("bundles", len(mine))
        self._save_ownership()

    def _load(self, names: list[str], changed: Iterable[str], known_files: dict[str, set[Any]]) -> None:
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        bundles = DagBundlesManager()
        bundles.sync_bundles_to_db(deactivate_missing=False)
        fresh = [bundles.get_bundle(name) for name in names]
        m = self.manager
        changed = sorted(changed)
        if changed:
            # Removed plus added: without this the stock refresh sees the same version string,
            # skips the rescan and keeps parsing files under the old bundle_path.
            for name in changed:
                known_files.pop(name, None)
            m.handle_removed_files(known_files=known_files)
            for name in changed:
                compat.forget_bundle_version(m, name)
        _release_holds(b for b in m._dag_bundles if b.name in names)
        m._dag_bundles = [b for b in m._dag_bundles if b.name not in names] + fresh
        compat.forget_bundle_teams(m)
        compat.request_refresh(m, names)

    def _deactivate(self, names: list[str], known_files: dict[str, set[Any]]) -> None:
        _deactivate_in_db(names)
        m = self.manager
        _release_holds(b for b in m._dag_bundles if b.name in names)
        m._dag_bundles = [b for b in m._dag_bundles if b.name not in names]
        for name in names:
            known_files.pop(name, None)
            compat.forget_bundle_version(m, name)
            m._force_refresh_bundles.discard(name)
            self.ownership.removed.setdefault(name, time.time())
            self.ownership.owned.pop(name, None)
            BundleMetrics("watcher", name).incr("bundles_removed")
        m.handle_removed_files(known_files=known_files)
        log.info("bundles deactivated and their DAGs marked stale", bundles=names)

    def _save_ownership(self) -> None:
        """Record what this processor owns; a failure is retried on the next loop (only the save)."""
        owned = {name: spec.source for name, spec in self.applied.items()}
        owned.update({name: STATIC for name in self._mine_names(self.static)})
        # Still owned until their deactivation went through (retried after a restart too).
        owned.update({n: self.ownership.owned[n] for n in self._pending_gone if n in self.ownership.owned})
        self.ownership.owned = owned
        try:
            self.store.save(self.ownership)
        except OSError as exc:
            if not self._unsaved:
                log.error(
                    "cannot save bundle ownership; retrying each loop",
                    path=str(self.store.path),
                    error=str(exc),
                )
            self._unsaved = True
            return
        self._unsaved = False

    def _reclaim_due(self) -> None:
        now = time.time()
        due = [
            name
            for name, removed_at in sorted(self.ownership.removed.items())
            if name not in self.applied and now - removed_at >= self.options.grace_period
        ]
        if not due:
            return
        try:
            busy = bundles_in_use(due)
        except Exception as exc:
            log.warning("cannot tell whether removed bundles are in use; reclaim later", error=str(exc))
            return
        for name in due:
            if name in busy:
                log.info("removed bundle has unfinished task instances; storage kept", bundle_name=name)
            elif reclaim_bundle_storage(name):
                self.ownership.removed.pop(name, None)
                self._unsaved = True
        if self._unsaved:
            self._save_ownership()

    def _count_errors(self) -> None:
        new = self.view.errors_reported - self.errors_seen
        if new > 0:
            self.metrics.incr("invalid_files", new)
        self.errors_seen = self.view.errors_reported

    def _mine(self, bundles: Mapping[str, BundleSpec]) -> dict[str, BundleSpec]:
        return {n: s for n, s in bundles.items() if not self.shard or n in self.shard}

    def _mine_names(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if not self.shard or n in self.shard]


def _release_holds(bundles: Iterable[Any]) -> None:
    """Let go of the versions that dropped bundle instances hold (this package's bundles keep a
    shared ``flock`` on their published version, ``bundle.holds``).

    Dropping the instance from ``_dag_bundles`` is not enough: any other reference to it (the
    status hook wraps its methods, a reference cycle) keeps the lock until the garbage collector
    runs, and until then a removed bundle's storage cannot be reclaimed.
    """
    for bundle in bundles:
        release = getattr(getattr(bundle, "holds", None), "keep_only", None)
        if callable(release):
            release(None)


def _deactivate_in_db(names: list[str]) -> None:
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.errors import ParseImportError
    from airflow.utils.session import create_session
    from sqlalchemy import delete, update

    with create_session() as session:
        session.execute(
            update(DagBundleModel)
            .where(DagBundleModel.name.in_(names))
            .values(active=False)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(DagModel)
            .where(DagModel.bundle_name.in_(names), ~DagModel.is_stale)
            .values(is_stale=True)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            delete(ParseImportError)
            .where(ParseImportError.bundle_name.in_(names))
            .execution_options(synchronize_session=False)
        )
