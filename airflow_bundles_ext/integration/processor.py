"""Hot reload in the stock DAG processor: a patched ``DagFileProcessorManager``.

Two methods are wrapped, the same on Airflow 3.2 and 3.3:

* ``sync_bundles`` (public override point, runs once at start, before the bundles are loaded):
  this process becomes the one that validates with the constructor and saves the last good
  definitions; after the stock sync, the watcher deactivates the bundles this processor owned
  at its last run whose files are gone (deleted while it was down), then records what it owns.
* ``_refresh_dag_bundles(known_files)`` (runs every loop): before the stock refresh, the
  watcher stats the directory and, only when something changed, applies it
  (:class:`ProcessorWatcher`). A failure there is logged and retried next loop; the stock
  refresh always runs.

Both also drive the bundle status writer (:class:`~.status_hook.StatusHook`) when
``[bundles_ext] status_writer`` is on, with or without the watcher.

Internals used (pinned in tests/integration/test_internals.py, listed per line in :mod:`.compat`):
the wrapped methods, the attrs fields ``_dag_bundles``, ``_bundle_versions``,
``_force_refresh_bundles``, ``bundle_names_to_parse`` (3.3 also ``_bundle_version_data`` and
``_bundle_name_to_team_name``), ``handle_removed_files(known_files)`` and, on 3.3,
``request_bundle_refresh(names)``.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import structlog

from airflow_bundles_ext.compat import processor as compat
from airflow_bundles_ext.compat.airflow import check_running_airflow, require, require_fields, require_params
from airflow_bundles_ext.integration import patch_once, refuse_with
from airflow_bundles_ext.integration.bundles import check_in_dag_processor, directory_view
from airflow_bundles_ext.integration.reload import ProcessorWatcher
from airflow_bundles_ext.integration.status_hook import StatusHook  # [bundles-ext status]
from airflow_bundles_ext.watcher.options import WatcherOptions

log = structlog.get_logger(__name__)

_watchers: dict[int, ProcessorWatcher] = {}
"""One watcher per manager (attrs slots classes take no new attributes), keyed by ``id``."""
_status_hooks: dict[int, StatusHook] = {}
"""[bundles-ext status] One status writer per manager, when ``[bundles_ext] status_writer`` is on."""


def check_internals(module: Any) -> None:
    where = "airflow.dag_processing.manager.DagFileProcessorManager"
    require(module, ("DagFileProcessorManager",), where="airflow.dag_processing.manager")
    manager = module.DagFileProcessorManager
    require(manager, compat.processor_methods(), where=where)
    require_params(manager._refresh_dag_bundles, ("known_files",), where=f"{where}._refresh_dag_bundles")
    require_params(manager.handle_removed_files, ("known_files",), where=f"{where}.handle_removed_files")
    if "request_bundle_refresh" in compat.processor_methods():
        require_params(
            manager.request_bundle_refresh, ("bundle_names",), where=f"{where}.request_bundle_refresh"
        )
    require_fields((f.name for f in attrs.fields(manager)), compat.processor_fields(), where=where)


def install(module: Any) -> None:
    check_running_airflow()
    check_internals(module)
    patch_once(module.DagFileProcessorManager, sync_bundles=_wrap_sync, _refresh_dag_bundles=_wrap_refresh)


def install_guard(module: Any, error: Exception) -> None:
    """The watcher is on but cannot hook the processor: refuse to start it, loudly.

    A processor running without the reload hook would never deactivate a removed bundle
    (``sync_bundles_to_db`` is patched never to), so it must not run at all.
    """
    manager = getattr(module, "DagFileProcessorManager", None)
    if manager is not None:
        name = "sync_bundles" if hasattr(manager, "sync_bundles") else "__init__"
        patch_once(manager, **{name: refuse_with(error)})


def watcher_of(manager: Any) -> ProcessorWatcher | None:
    return _watchers.get(id(manager))


def _wrap_sync(original: Any) -> Any:
    @functools.wraps(original)
    def sync_bundles(self: Any) -> None:
        view = directory_view()
        if view is not None:
            # Before the stock start-up resolves bundles: this process validates with the
            # constructor and is the one that saves last_good.json.
            view.become_writer(check_in_dag_processor)
        original(self)
        if view is not None:
            watcher = ProcessorWatcher(self, view, WatcherOptions.load())
            _watchers[id(self)] = watcher
            watcher.start()
        # [bundles-ext status] The bundles are loaded after this returns: the hook wraps them
        # on the first loop, before the stock refresh initialises them.
        _start_status_hook(self)

    return sync_bundles


def _wrap_refresh(original: Any) -> Any:
    @functools.wraps(original)
    def _refresh_dag_bundles(self: Any, known_files: Any) -> Any:
        watcher = _watchers.get(id(self))
        if watcher is not None:
            try:
                watcher.check(known_files)
            except Exception as exc:
                # Retried next loop: nothing was recorded as applied.
                log.exception("bundle-config watcher check failed; retrying next loop", error=str(exc))
        hook = _status_hooks.get(id(self))  # [bundles-ext status]
        if hook is not None:
            _guarded(hook.before_refresh)
        result = original(self, known_files)
        if hook is not None:
            _guarded(hook.after_refresh)
        return result

    return _refresh_dag_bundles


# --- [bundles-ext status] the status writer's hook (airflow_bundles_ext/integration/status_hook.py)


def _start_status_hook(manager: Any) -> None:
    from airflow_bundles_ext.status.options import writer_enabled

    if not writer_enabled():
        return
    hook = StatusHook(manager, lambda: _watchers.get(id(manager)))
    _status_hooks[id(manager)] = hook
    _guarded(hook.start)


def _guarded(step: Any) -> None:
    """Status is reporting only: a failure there is logged and never stops the processor."""
    try:
        step()
    except Exception as exc:
        log.exception("bundle status hook failed; continuing", error=str(exc))
