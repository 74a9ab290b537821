"""Switch the bundle-config watcher on in this process.

The contract is one line in ``airflow_local_settings.py``::

    import airflow_bundles_ext.activate

and the ``airflow.policy`` entry point (:mod:`airflow_bundles_ext.policy_hook`) imports this
module in every Airflow process when ``[dag_processor] dag_bundle_config_path`` is set, so the
environment variable alone is enough. Importing it is idempotent, cheap and lazy: it imports
no Airflow module. It installs an import hook that patches

* ``airflow.dag_processing.bundles.manager`` (every process resolves directory bundles),
* ``airflow.dag_processing.manager`` (the DAG processor reloads them), and
* ``airflow.dag_processing.bundles.base`` (the periodic stale-version cleanup of workers and
  the scheduler also reclaims the storage of removed bundles)

right after Airflow imports them, or at once if they are already imported. When the watched
directory is not configured only the DAG processor is patched, and only for the bundle status
writer (``[bundles_ext] status_writer``, on by default); with both off nothing is installed.

It never makes a process fail to start: when the running Airflow is unsupported, the error
is logged and every later attempt to resolve bundles (``DagBundlesManager()``, which the
DAG processor, workers and ``airflow dags ...`` commands do) raises
:class:`~airflow_bundles_ext.integration.UnsupportedAirflowError` with what to do, while
commands that resolve no bundles (``airflow version``, ``airflow db migrate``) keep working.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
from types import ModuleType
from typing import Any

TARGETS = {
    "airflow.dag_processing.bundles.manager": "airflow_bundles_ext.integration.bundles",
    "airflow.dag_processing.manager": "airflow_bundles_ext.integration.processor",
    "airflow.dag_processing.bundles.base": "airflow_bundles_ext.integration.cleanup",
}

STATUS_ONLY_TARGETS = ("airflow.dag_processing.manager",)
"""[bundles-ext status] With the watcher off but ``[bundles_ext] status_writer`` on, only the DAG
processor is patched (it writes bundle status); a failure then disables the status writer
only, with an error in the log, and never stops the processor (no guard)."""

_active: dict[str, str] = TARGETS
"""The targets this process patches (:func:`install` narrows it in status-writer-only mode)."""
_status_only = False

GUARDED = {  # the class that refuses to construct when even the patcher does not import
    "airflow.dag_processing.bundles.manager": "DagBundlesManager",
    "airflow.dag_processing.manager": "DagFileProcessorManager",
}

log = logging.getLogger(__name__)


def patch_module(module: ModuleType) -> None:
    """Patch one target module; an unsupported Airflow turns into a loud guard, never a crash."""
    try:
        patcher = importlib.import_module(TARGETS[module.__name__])
    except Exception as exc:
        log.error("airflow-bundles-ext: bundle-config watcher disabled: %s", exc)
        _refuse(module, exc)
        return
    try:
        patcher.install(module)
    except Exception as exc:
        if _status_only:  # [bundles-ext status] status writer only: no guard
            log.error("airflow-bundles-ext: bundle status writer disabled: %s", exc)
            return
        log.error("airflow-bundles-ext: bundle-config watcher disabled: %s", exc)
        patcher.install_guard(module, exc)


def _refuse(module: ModuleType, error: Exception) -> None:
    """Last resort when even the patcher does not import: the target class refuses to construct."""
    if module.__name__ not in GUARDED:  # an optional patch: the stock class keeps working
        return
    cls = getattr(module, GUARDED[module.__name__], None)
    if cls is None:
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"airflow-bundles-ext: bundle-config watcher cannot load: {error}") from error

    cls.__init__ = __init__


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        patch_module(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... for tracebacks
        return getattr(self._loader, name)


class PatchingFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the target modules so they are patched right after they execute."""

    def find_spec(
        self, fullname: str, path: Any, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in TARGETS:
            return None
        _upgrade_if_watcher_configured()  # [bundles-ext status]
        if fullname not in _active:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


def _upgrade_if_watcher_configured() -> None:
    """[bundles-ext status] Status-only mode was chosen at process start (the policy entry point),
    but ``airflow_local_settings.py`` may switch the watcher on afterwards (its documented
    one-line activation sets the option, then imports this already-imported module): patch
    both targets from then on."""
    global _active, _status_only
    from airflow_bundles_ext.watcher.options import is_configured

    if _status_only and is_configured():
        _active, _status_only = TARGETS, False


def install() -> bool:
    """Install the import hook (once) and patch target modules already imported."""
    global _active, _status_only
    from airflow_bundles_ext.status.options import writer_enabled
    from airflow_bundles_ext.watcher.options import is_configured

    if is_configured():
        _active = TARGETS
    elif writer_enabled():  # [bundles-ext status]
        _active = {name: TARGETS[name] for name in STATUS_ONLY_TARGETS}
        _status_only = True
    else:
        return False
    if not any(isinstance(f, PatchingFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, PatchingFinder())
    for name in _active:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__spec__", None) is not None:
            patch_module(module)
    return True


ACTIVE = install()
