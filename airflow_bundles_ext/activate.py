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
directory is not configured nothing is installed and nothing changes.

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
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


def install() -> bool:
    """Install the import hook (once) and patch target modules already imported."""
    from airflow_bundles_ext.watcher.options import is_configured

    if not is_configured():
        return False
    if not any(isinstance(f, PatchingFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, PatchingFinder())
    for name in TARGETS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__spec__", None) is not None:
            patch_module(module)
    return True


ACTIVE = install()
