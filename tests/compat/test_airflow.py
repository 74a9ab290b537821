"""Helpers shared by the bundles: the version value Airflow 3.2 and 3.3 each expect.

Runs in both CI jobs; each checks the value the running line's DAG processor stores.
"""

from __future__ import annotations

import airflow.dag_processing.bundles.base as base

from airflow_bundles_ext.compat.airflow import airflow_line
from airflow_bundles_ext.compat.airflow import bundle_version as make_bundle_version


def test_bundle_version_is_what_the_running_airflow_line_expects():
    result = make_bundle_version("abc", {"k": 1})
    if airflow_line() == "3.2":  # no BundleVersion: get_current_version() returns the string
        assert result == "abc"
    else:  # 3.3 stores data in dag_version.version_data
        assert isinstance(result, base.BundleVersion)
        assert (result.version, result.data) == ("abc", {"k": 1})
