"""The one place that touches Airflow internals that are not public API.

:mod:`.bundles` patches ``DagBundlesManager`` (every process resolves directory bundles) and
:mod:`.processor` patches ``DagFileProcessorManager`` (the DAG processor reloads them). Both
are imported by :mod:`airflow_bundles_ext.activate` right after Airflow imports the module
they patch. Each submodule's ``install`` checks, before patching anything, that the running
Airflow is in the supported range and that every attribute it relies on exists with the
expected signature, and raises :class:`UnsupportedAirflowError` saying what to do; then its
``install_guard`` makes the patched class refuse to work, loudly.
``tests/watcher/test_internals.py`` pins the same internals so an upgrade fails CI first.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from packaging.version import Version

from airflow_bundles_ext.errors import UnsupportedAirflowError

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
