"""Which Airflow runs, and everything that differs between the lines this package supports.

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
import inspect
from collections.abc import Iterable, Iterator
from typing import Any

from packaging.version import Version

from airflow_bundles_ext.errors import UnsupportedAirflowError

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
            "add it to airflow_bundles_ext/compat/airflow.py"
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


SUPPORTED_AIRFLOW = (Version("3.2.0"), Version("3.4.0"))
"""``>=3.2,<3.4``: the releases whose internals this package was written and tested against."""

_WHAT_TO_DO = (
    "install an airflow-bundles-ext release that supports it, or switch the watcher off by unsetting "
    "[dag_processor] dag_bundle_config_path (AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_PATH)"
)


def check_airflow_version(version: str) -> None:
    low, high = SUPPORTED_AIRFLOW
    parsed = Version(version)
    if not (low <= Version(parsed.base_version) < high):
        raise UnsupportedAirflowError(
            f"bundle-config watcher cannot start: Airflow {version} is not supported "
            f"(supported: >={low},<{high}); {_WHAT_TO_DO}"
        )


def require(owner: Any, names: Iterable[str], *, where: str) -> None:
    """Raise unless ``owner`` has every attribute in ``names``."""
    missing = [n for n in names if not hasattr(owner, n)]
    if missing:
        raise UnsupportedAirflowError(
            f"bundle-config watcher cannot start: {where} lacks {', '.join(missing)} in this Airflow "
            f"version; {_WHAT_TO_DO}"
        )


def require_fields(fields: Iterable[str], needed: Iterable[str], *, where: str) -> None:
    """Raise unless the model or attrs class at ``where``, with ``fields``, has every ``needed`` one."""
    have = set(fields)
    missing = [f for f in needed if f not in have]
    if missing:
        raise UnsupportedAirflowError(
            f"bundle-config watcher cannot start: {where} lacks fields {', '.join(missing)} in this Airflow "
            f"version; {_WHAT_TO_DO}"
        )


def require_params(func: Any, params: Iterable[str], *, where: str) -> None:
    """Raise unless ``func`` accepts every parameter in ``params`` (by name)."""
    try:
        accepted = set(inspect.signature(func).parameters)
    except (TypeError, ValueError) as exc:
        raise UnsupportedAirflowError(f"bundle-config watcher cannot inspect {where}: {exc}") from exc
    missing = [p for p in params if p not in accepted]
    if missing:
        raise UnsupportedAirflowError(
            f"bundle-config watcher cannot start: {where} no longer takes {', '.join(missing)}; {_WHAT_TO_DO}"
        )


def check_running_airflow() -> None:
    """Raise unless the running Airflow is supported; each ``install`` calls it before patching.

    Not run at import, so the guards (``install_guard``) can still be installed when it fails.
    """
    import airflow

    check_airflow_version(airflow.__version__)
