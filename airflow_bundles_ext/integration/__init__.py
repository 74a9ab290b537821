"""The one place that patches Airflow internals that are not public API.

:mod:`.bundles` patches ``DagBundlesManager`` (every process resolves directory bundles) and
:mod:`.processor` patches ``DagFileProcessorManager`` (the DAG processor reloads them). Both
are imported by :mod:`airflow_bundles_ext.activate` right after Airflow imports the module
they patch. Each submodule's ``install`` checks, before patching anything, that the running
Airflow is in the supported range and that every attribute it relies on exists with the
expected signature (:mod:`airflow_bundles_ext.compat.airflow`), and raises
:class:`~airflow_bundles_ext.errors.UnsupportedAirflowError` saying what to do; then its
``install_guard`` makes the patched class refuse to work, loudly. What differs between Airflow
lines is in :mod:`airflow_bundles_ext.compat`, never here.
``tests/integration/test_internals.py`` pins the same internals so an upgrade fails CI first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from airflow_bundles_ext.errors import UnsupportedAirflowError

_PATCHED = "_bundles_ext_patched"


def patch_once(cls: Any, **wrappers: Callable[[Any], Any]) -> None:
    """Replace each named method of ``cls`` by ``wrapper(original)``, once per class."""
    if getattr(cls, _PATCHED, False):
        return
    for name, wrap in wrappers.items():
        setattr(cls, name, wrap(getattr(cls, name)))
    setattr(cls, _PATCHED, True)


def refuse_with(error: Exception) -> Callable[[Any], Any]:
    """A wrapper for :func:`patch_once` making a method raise ``error`` (an install guard)."""

    def wrap(original: Any) -> Any:
        @functools.wraps(original)
        def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
            raise UnsupportedAirflowError(str(error)) from error

        return refuse

    return wrap
