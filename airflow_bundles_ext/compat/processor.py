"""What differs between Airflow lines in the DAG processor's and the bundles manager's internals.

Only :mod:`airflow_bundles_ext.integration` calls these (it is the one place that patches
those classes); the differences themselves live here, next to the other version checks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from airflow_bundles_ext.compat.airflow import is_airflow_3_2


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
