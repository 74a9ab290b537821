"""Helpers shared by the bundles: the version value Airflow 3.2 and 3.3 each expect."""

from __future__ import annotations

import airflow.dag_processing.bundles.base as base

from airflow_bundles_ext.bundles._common import make_bundle_version


def test_bundle_version_on_airflow_3_3_carries_the_data():
    result = make_bundle_version("abc", {"k": 1})
    assert isinstance(result, base.BundleVersion)
    assert (result.version, result.data) == ("abc", {"k": 1})


def test_bundle_version_is_a_plain_string_where_airflow_has_no_bundle_version(monkeypatch):
    """Airflow 3.2 has no BundleVersion: get_current_version() must return the string."""
    monkeypatch.delattr(base, "BundleVersion")
    assert make_bundle_version("abc", {"k": 1}) == "abc"
