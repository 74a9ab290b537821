"""Everything that differs between the Airflow lines this package supports, in one place.

Callers never compare versions: they call what is here. The lines are those of
:data:`airflow_bundles_ext.integration.SUPPORTED_AIRFLOW`; CI runs 3.2.2 and 3.3.2
(docs/development.md). What differs, read from the installed sources:

======================================  ==============================  ===============================
                                        3.2                             3.3
======================================  ==============================  ===============================
``get_current_version()`` returns       the version string              ``BundleVersion(version, data)``
stats modules (core, task SDK)          class ``Stats``; its metaclass  module functions; module-level
                                        holds ``factory``               ``_factory``
``sync_bundles_to_db``                  always deactivates stored       ``deactivate_missing=``
                                        bundles it was not given
processor, bundle ``initialize()``      retries ``AirflowException``;   retries any exception
                                        any other ends the processor
processor per-bundle state              ``_bundle_versions``            also ``_bundle_version_data``,
                                                                        ``_bundle_name_to_team_name``
ask the processor to refresh a bundle   ``_force_refresh_bundles``      ``request_bundle_refresh()``
======================================  ==============================  ===============================

Both lines load bundles at processor start through ``sync_bundles()`` then
``get_all_bundles()`` (3.3 wraps the two in ``prepare_bundles()``), and refresh them in
``_refresh_dag_bundles(known_files)``: the watcher hooks those on both.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from packaging.version import Version

from airflow_bundles_ext.integration import UnsupportedAirflowError, check_airflow_version

LINES = ("3.2", "3.3")


@functools.cache
def airflow_line() -> str:
    """``"3.2"`` or ``"3.3"``: the line of the running Airflow. Raises when it is unsupported."""
    import airflow

    check_airflow_version(airflow.__version__)
    major, minor = Version(airflow.__version__).release[:2]
    line = f"{major}.{minor}"
    if line not in LINES:  # SUPPORTED_AIRFLOW was widened without teaching this module the new line
        raise UnsupportedAirflowError(
            f"airflow-bundles-ext: Airflow {airflow.__version__}: no compatibility entry for line {line}; "
            "add it to airflow_bundles_ext/integration/compat.py"
        )
    return line


def is_airflow_3_2() -> bool:
    return airflow_line() == "3.2"


# --- bundle versions ----------------------------------------------------------------------


def bundle_version(version: str, data: dict[str, Any] | None = None) -> Any:
    """What ``get_current_version()`` returns for ``version`` on this line (``data`` is 3.3 only)."""
    if is_airflow_3_2():
        return version
    from airflow.dag_processing.bundles.base import BundleVersion

    return BundleVersion(version=version, data=data)


def version_string(value: Any) -> str | None:
    """The version string of what ``get_current_version()`` returned, on either line."""
    return getattr(value, "version", value)


def processor_initialize_errors() -> contextlib.AbstractContextManager[None]:
    """Wrap a bundle's first ``initialize()`` in the DAG processor so that its failure is retried.

    3.3's processor catches every exception from ``initialize()``, logs it and retries the bundle
    next loop. 3.2's catches only ``AirflowException``: anything else ends the processor, and every
    other bundle with it. On 3.2 the error is raised again as an ``AirflowException`` (type and
    message kept, the original chained as its cause).
    """
    return _as_airflow_exception() if is_airflow_3_2() else contextlib.nullcontext()


@contextlib.contextmanager
def _as_airflow_exception() -> Iterator[None]:
    from airflow.exceptions import AirflowException

    try:
        yield
    except AirflowException:
        raise
    except Exception as exc:
        raise AirflowException(f"{type(exc).__name__}: {exc}") from exc


# --- stats --------------------------------------------------------------------------------


def stats_emitter(module: Any) -> tuple[Any, bool]:
    """What to call ``incr``/``gauge``/``timing`` on for one Airflow stats module, and whether
    this process initialised it (``Stats.initialize`` on 3.2, ``stats.initialize`` on 3.3)."""
    if is_airflow_3_2():
        stats = module.Stats
        return stats, getattr(stats, "factory", None) is not None
    return module, module._factory is not None


# --- DagBundlesManager --------------------------------------------------------------------


def sync_params() -> tuple[str, ...]:
    """Parameters ``DagBundlesManager.sync_bundles_to_db`` must take on this line."""
    return ("session",) if is_airflow_3_2() else ("deactivate_missing", "session")


def sync_keeping_unknown_bundles(original: Callable[..., Any], manager: Any, **kwargs: Any) -> Any:
    """Run the stock ``sync_bundles_to_db`` so that it leaves alone the stored bundles that
    ``manager`` does not know (3.3's ``deactivate_missing=False``).

    3.2 has no such parameter: its method loads every ``dag_bundle`` row and deactivates (and
    drops the teams and import errors of) each one not configured here. The rows of unknown
    bundles are kept out of its reads for the duration of the call, with a loader criterion on
    the session, so it never sees them. A bundle whose constructor raises is still deactivated
    on 3.2, as stock 3.2 does (3.3 leaves its row as it is).
    """
    if not is_airflow_3_2():
        return original(manager, deactivate_missing=False, **kwargs)
    session = kwargs.pop("session", None)
    if session is not None:
        with _only_bundles_visible(session, manager._bundle_config):
            return original(manager, session=session, **kwargs)
    from airflow.utils.session import create_session

    with create_session() as session, _only_bundles_visible(session, manager._bundle_config):
        return original(manager, session=session, **kwargs)


@contextlib.contextmanager
def _only_bundles_visible(session: Any, names: Iterable[str]) -> Iterator[None]:
    from airflow.models.dagbundle import DagBundleModel
    from sqlalchemy import event
    from sqlalchemy.orm import with_loader_criteria

    known = sorted(names)

    def hide_unknown(state: Any) -> None:
        if state.is_select:
            state.statement = state.statement.options(
                with_loader_criteria(DagBundleModel, DagBundleModel.name.in_(known), include_aliases=True)
            )

    event.listen(session, "do_orm_execute", hide_unknown)
    try:
        yield
    finally:
        event.remove(session, "do_orm_execute", hide_unknown)


# --- DagFileProcessorManager --------------------------------------------------------------

_PROCESSOR_FIELDS = ("_dag_bundles", "_bundle_versions", "_force_refresh_bundles", "bundle_names_to_parse")
_PROCESSOR_FIELDS_3_3 = ("_bundle_version_data", "_bundle_name_to_team_name")
_PROCESSOR_METHODS = ("sync_bundles", "_refresh_dag_bundles", "handle_removed_files")


def processor_fields() -> tuple[str, ...]:
    """The attrs fields of ``DagFileProcessorManager`` the watcher reads or resets on this line."""
    return _PROCESSOR_FIELDS if is_airflow_3_2() else _PROCESSOR_FIELDS + _PROCESSOR_FIELDS_3_3


def processor_methods() -> tuple[str, ...]:
    """The methods of ``DagFileProcessorManager`` the watcher wraps or calls on this line."""
    return _PROCESSOR_METHODS if is_airflow_3_2() else (*_PROCESSOR_METHODS, "request_bundle_refresh")


def forget_bundle_version(manager: Any, name: str) -> None:
    """Drop what the processor recorded of ``name``'s version, so its next refresh rescans it."""
    manager._bundle_versions.pop(name, None)
    if not is_airflow_3_2():
        manager._bundle_version_data.pop(name, None)


def forget_bundle_teams(manager: Any) -> None:
    """Drop the processor's cache of bundle -> team (3.3), rebuilt from the bundles it has."""
    if not is_airflow_3_2():
        manager._bundle_name_to_team_name = {}


def request_refresh(manager: Any, names: Iterable[str]) -> None:
    """Make the processor's next refresh tick refresh ``names`` whatever their interval."""
    if is_airflow_3_2():
        manager._force_refresh_bundles.update(names)
    else:
        manager.request_bundle_refresh(list(names))
