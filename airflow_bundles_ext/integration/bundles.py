"""Directory bundles in every process: a patched ``DagBundlesManager``.

``DagBundlesManager()`` is built in about 15 places (task runner, callbacks, CLI, API server),
and every one calls ``parse_config()``. After the stock method has read the static
``dag_bundle_config_list``, the patched one adds the bundles in force in the watched directory
(:class:`~airflow_bundles_ext.watcher.view.ConfigDirView`, shared per process, so a fresh
manager costs one ``stat`` per file once the files were read).

``sync_bundles_to_db`` is patched to never deactivate "missing" bundles: with directory
bundles, no process sees every bundle of every processor (apache/airflow #69963), and
``airflow dags test`` must not switch bundles off. Deactivation is done by the DAG processor
that owns a bundle (:mod:`.processor`). How depends on the Airflow line
(:func:`.compat.sync_keeping_unknown_bundles`).

Internals used (pinned in tests/integration/test_internals.py): ``DagBundlesManager.parse_config``,
``.sync_bundles_to_db`` (``deactivate_missing=`` on 3.3), ``._bundle_config`` and
``_InternalBundleConfig``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from airflow_bundles_ext.compat import processor as compat
from airflow_bundles_ext.compat.airflow import check_running_airflow, require, require_fields, require_params
from airflow_bundles_ext.core.bundle_config import BundleSpec
from airflow_bundles_ext.errors import (
    BundleConfigError,
    BundlesExtError,
    CheckUnavailable,
    PolicyError,
    UnsafePathError,
)
from airflow_bundles_ext.integration import patch_once, refuse_with
from airflow_bundles_ext.policy_source import PolicySource
from airflow_bundles_ext.watcher.options import WatcherOptions, configured_directory
from airflow_bundles_ext.watcher.state import LastGoodStore, state_dir_for
from airflow_bundles_ext.watcher.view import Check, ConfigDirView, shared_view

log = structlog.get_logger(__name__)

SOURCES_ATTR = "_bundles_ext_sources"
"""Set on each patched manager: bundle name -> ``"static"`` or the file it came from."""
STATIC = "static"


def check_internals(module: Any) -> None:
    """Raise :class:`UnsupportedAirflowError` unless ``module`` has what this patch needs."""
    where = "airflow.dag_processing.bundles.manager"
    require(module, ("DagBundlesManager", "_InternalBundleConfig"), where=where)
    manager = module.DagBundlesManager
    require(manager, ("parse_config", "sync_bundles_to_db", "get_bundle"), where=f"{where}.DagBundlesManager")
    require_params(manager.sync_bundles_to_db, compat.sync_params(), where=f"{where}.sync_bundles_to_db")
    require_fields(
        getattr(module._InternalBundleConfig, "model_fields", {}),
        ("bundle_class", "kwargs", "team_name"),
        where=f"{where}._InternalBundleConfig",
    )


def install(module: Any) -> None:
    """Patch ``module.DagBundlesManager`` once. Raises before patching if internals are missing."""
    check_running_airflow()
    check_internals(module)
    patch_once(
        module.DagBundlesManager,
        parse_config=lambda original: _patched_parse_config(original, module._InternalBundleConfig),
        sync_bundles_to_db=_patched_sync,
    )


def install_guard(module: Any, error: Exception) -> None:
    """The watcher is on but cannot work here: make resolving bundles fail loudly, not silently."""
    manager = getattr(module, "DagBundlesManager", None)
    if manager is not None:
        patch_once(manager, __init__=refuse_with(error))


def _patched_parse_config(original: Any, internal_config: Any) -> Any:
    @functools.wraps(original)
    def parse_config(self: Any) -> None:
        if self._bundle_config:
            return
        original(self)
        sources = dict.fromkeys(self._bundle_config, STATIC)
        view = directory_view()
        if view is not None:
            for name, spec in _in_force(view, sources).items():
                try:
                    bundle_class = import_string(spec.classpath)
                except Exception as exc:  # vetted moments ago; one class must not stop the rest
                    log.error("bundle class does not import", bundle_name=name, error=str(exc))
                    continue
                self._bundle_config[name] = internal_config(
                    bundle_class=bundle_class, kwargs=dict(spec.kwargs), team_name=spec.team_name
                )
                sources[name] = spec.source
        setattr(self, SOURCES_ATTR, sources)

    return parse_config


def _in_force(view: ConfigDirView, sources: dict[str, str]) -> dict[str, BundleSpec]:
    """The directory's bundles. Every spec in force was vetted in this process: a file's spec by
    the check, a last good stand-in by ``usable``. A bug here must not stop every Airflow process
    from resolving the static bundles: it is logged and the last resolution stands."""
    try:
        return dict(view.resolve(sources).bundles)
    except Exception as exc:
        log.exception("bundle-config watcher failed to resolve; keeping what was in force", error=str(exc))
        last = view.last_resolution
        return dict(last.bundles) if last is not None else {}


def _patched_sync(original: Any) -> Any:
    @functools.wraps(original)
    def sync_bundles_to_db(self: Any, *, deactivate_missing: bool = True, **kwargs: Any) -> Any:
        # Only the owning DAG processor deactivates bundles (see module docstring).
        return compat.sync_keeping_unknown_bundles(original, self, **kwargs)

    return sync_bundles_to_db


def import_string(classpath: str) -> Any:
    """Import ``module.Name``; a missing module or name raises ``ImportError``."""
    module, _, name = classpath.rpartition(".")
    if not module:
        raise ImportError(f"{classpath!r} is not a dotted path")
    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError as exc:
        raise ImportError(f"module {module!r} has no attribute {name!r}") from exc


def _load_class(spec: BundleSpec) -> Any:
    """The spec's class; ``BundleConfigError`` when it cannot be (``CheckUnavailable`` if that may pass)."""
    from airflow.dag_processing.bundles.base import BaseDagBundle

    try:
        cls = import_string(spec.classpath)
    except (ImportError, SyntaxError) as exc:
        raise BundleConfigError(
            spec.source,
            f"classpath {spec.classpath!r} does not import: {exc}; fix the classpath",
            key="classpath",
        ) from exc
    except Exception as exc:  # the module raised at import: possibly a passing fault
        raise CheckUnavailable(f"importing {spec.classpath!r} failed: {type(exc).__name__}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, BaseDagBundle)):
        raise BundleConfigError(
            spec.source, f"{spec.classpath!r} is not a BaseDagBundle subclass", key="classpath"
        )
    return cls


REFUSED_KWARGS = (TypeError, ValueError, BundleConfigError, UnsafePathError)
"""What a constructor raises for kwargs it refuses. Anything else (a connection or secrets
lookup failing during an outage, say) means the check could not be completed: retried."""


def check_loadable(spec: BundleSpec, *, construct: bool = True) -> Any:
    """What only Airflow can check: the class imports, is a DAG bundle, and takes the kwargs.

    The constructor runs once with ``version=None`` when ``construct`` is set (the instance is
    returned); bundle constructors must do no I/O (Airflow deactivates a bundle whose
    constructor raises). Raises ``BundleConfigError`` (invalid) or ``CheckUnavailable``.
    """
    from airflow.configuration import conf

    cls = _load_class(spec)
    if spec.team_name and not conf.getboolean("core", "multi_team", fallback=False):
        raise BundleConfigError(
            spec.source, "team_name needs [core] multi_team = True; remove team_name", key="team_name"
        )
    if not construct:
        return None
    try:
        return cls(name=spec.name, version=None, **spec.kwargs)
    except REFUSED_KWARGS as exc:
        raise BundleConfigError(
            spec.source,
            f"the bundle constructor refused the kwargs: {type(exc).__name__}: {exc}",
            key="kwargs",
        ) from exc
    except Exception as exc:
        raise CheckUnavailable(
            f"the bundle constructor failed: {type(exc).__name__}: {exc}; kept the last good definition"
        ) from exc


def check_in_dag_processor(spec: BundleSpec, proven: bool) -> None:
    """The DAG processor and the CLI: everything, the team's existence in the metadata DB included.

    A file that would make ``sync_bundles_to_db`` fail for every bundle (an unknown team) or
    fail at every refresh (credentials bound to another host) is reported invalid instead.
    """
    bundle = check_loadable(spec, construct=True)
    if spec.team_name:
        _check_team_exists(spec)
    _preflight(spec, bundle)


def check_in_other_process(spec: BundleSpec, proven: bool) -> None:
    """Any other process (workers talk to no metadata DB): construct and preflight only a spec
    the DAG processor has not already proven.

    A fresh worker or task pod thus imports each class but builds no bundle for files that
    match ``last_good.json``.
    """
    bundle = check_loadable(spec, construct=not proven)
    if bundle is not None:
        _preflight(spec, bundle)


def _preflight(spec: BundleSpec, bundle: Any) -> None:
    """The bundle's own checks that need its connection (our git bundle: the credential's host)."""
    preflight = getattr(bundle, "preflight", None)
    if preflight is None:
        return
    try:
        preflight()
    except BundleConfigError as exc:
        raise BundleConfigError(spec.source, exc.problem, key=exc.key) from exc
    except Exception as exc:
        raise CheckUnavailable(f"the bundle's preflight check failed: {type(exc).__name__}: {exc}") from exc


def _check_team_exists(spec: BundleSpec) -> None:
    from airflow.models.team import Team
    from airflow.utils.session import create_session
    from sqlalchemy import select

    try:
        with create_session() as session:
            found = session.scalar(select(Team.name).where(Team.name == spec.team_name))
    except Exception as exc:
        raise CheckUnavailable(f"cannot look up team {spec.team_name!r}: {type(exc).__name__}") from exc
    if found is None:
        raise BundleConfigError(
            spec.source,
            f"team {spec.team_name!r} does not exist; create it (airflow teams create) or fix the policy",
            key="team_name",
        )


def usable_check(policy: PolicySource) -> Callable[[BundleSpec], str | None]:
    """Vet a last good spec before it stands in for an invalid file in this process.

    It must still pass the current tenancy policy (which may have narrowed since it was saved)
    and its class must import. When the policy itself is unusable, the saved definition, which
    an earlier policy admitted, stands in as it is.
    """

    def usable(spec: BundleSpec) -> str | None:
        try:
            with contextlib.suppress(PolicyError):
                policy.current().admit(spec, spec.source)
            _load_class(spec)
        except BundlesExtError as exc:
            return str(exc)
        return None

    return usable


def directory_view(directory: str | None = None) -> ConfigDirView | None:
    """The process-wide view of the watched directory; ``None`` when the watcher is off."""
    chosen = directory or configured_directory()
    if not chosen:
        return None
    return shared_view(Path(chosen), lambda: new_view(WatcherOptions.load(chosen)))


def new_view(
    options: WatcherOptions, *, check: Check = check_in_other_process, report: bool = True
) -> ConfigDirView:
    """A view that does not write the state (the DAG processor makes its own the writer)."""
    store = LastGoodStore(
        state_dir_for(options.state_root, options.directory, options.state_id), writable=False
    )
    policy = options.policy_source()
    return ConfigDirView(
        options.directory,
        policy=policy,
        last_good=store,
        check=check,
        usable=usable_check(policy),
        report=report,
    )
