"""Pin the Airflow internals the integration patches, so an Airflow upgrade fails CI first.

Runs in both CI jobs (Airflow 3.3 and 3.2): each asserts the internals of the line it runs on,
as read from that line's sources.
"""

from __future__ import annotations

import inspect

import airflow.dag_processing.bundles.base as base_module
import airflow.dag_processing.bundles.manager as bundles_module
import airflow.dag_processing.manager as processor_module
import attrs

from airflow_bundles_ext.compat import airflow as compat_airflow
from airflow_bundles_ext.compat import processor as compat
from airflow_bundles_ext.compat import stats as compat_stats
from airflow_bundles_ext.integration import bundles, cleanup, processor

BUNDLES = bundles_module.DagBundlesManager
PROCESSOR = processor_module.DagFileProcessorManager

SIGNATURES = {
    "3.3": {
        "DagBundlesManager.parse_config": ["self"],
        "DagBundlesManager.sync_bundles_to_db": ["self", "deactivate_missing", "session"],
        "DagBundlesManager.get_bundle": ["self", "name", "version"],
        "DagFileProcessorManager.sync_bundles": ["self"],
        "DagFileProcessorManager._refresh_dag_bundles": ["self", "known_files"],
        "DagFileProcessorManager.handle_removed_files": ["self", "known_files"],
        "DagFileProcessorManager.request_bundle_refresh": ["self", "bundle_names"],
        "BundleUsageTrackingManager.remove_stale_bundle_versions": ["self"],
    },
    "3.2": {
        "DagBundlesManager.parse_config": ["self"],
        "DagBundlesManager.sync_bundles_to_db": ["self", "session"],
        "DagBundlesManager.get_bundle": ["self", "name", "version"],
        "DagFileProcessorManager.sync_bundles": ["self"],
        "DagFileProcessorManager._refresh_dag_bundles": ["self", "known_files"],
        "DagFileProcessorManager.handle_removed_files": ["self", "known_files"],
        "BundleUsageTrackingManager.remove_stale_bundle_versions": ["self"],
    },
}
FIELDS = {
    "3.3": {
        "_dag_bundles",
        "_bundle_versions",
        "_bundle_version_data",
        "_force_refresh_bundles",
        "_bundle_name_to_team_name",
        "bundle_names_to_parse",
    },
    "3.2": {"_dag_bundles", "_bundle_versions", "_force_refresh_bundles", "bundle_names_to_parse"},
}


def _resolve(qualname: str):
    owner, name = qualname.split(".")
    owners = {
        "DagBundlesManager": BUNDLES,
        "DagFileProcessorManager": PROCESSOR,
        "BundleUsageTrackingManager": base_module.BundleUsageTrackingManager,
    }
    return getattr(owners[owner], name)


def test_running_airflow_is_on_a_known_line():
    assert compat_airflow.airflow_line() in SIGNATURES


def test_integration_accepts_the_installed_airflow():
    bundles.check_internals(bundles_module)
    processor.check_internals(processor_module)
    cleanup.check_internals(base_module)


def test_wrapped_methods_keep_their_signatures():
    for qualname, params in SIGNATURES[compat_airflow.airflow_line()].items():
        assert list(inspect.signature(inspect.unwrap(_resolve(qualname))).parameters) == params, qualname


def test_processor_fields_and_internal_config_model():
    line = compat_airflow.airflow_line()
    fields = {f.name for f in attrs.fields(PROCESSOR)}
    assert set(compat.processor_fields()) == FIELDS[line]
    assert FIELDS[line] <= fields
    assert set(bundles_module._InternalBundleConfig.model_fields) == {"bundle_class", "kwargs", "team_name"}


def test_processor_start_up_syncs_before_it_loads_the_bundles():
    """The watcher starts in ``sync_bundles``: the stock start-up must call it before loading bundles."""
    if compat_airflow.airflow_line() == "3.2":
        start, load = PROCESSOR.run, "self.get_all_bundles()"
    else:
        start, load = PROCESSOR.prepare_bundles, "self.load_dag_bundles()"
    source = inspect.getsource(start)
    assert "self.sync_bundles()" in source and load in source
    assert source.index("self.sync_bundles()") < source.index(load)


def test_version_value_and_stats_shape_of_this_line():
    import airflow._shared.observability.metrics.stats as core_stats
    import airflow.dag_processing.bundles.base as base

    value = compat_airflow.bundle_version("abc", {"k": 1})
    emitter, _ = compat_stats.stats_emitter(core_stats)
    if compat_airflow.airflow_line() == "3.2":
        assert value == "abc" and not hasattr(base, "BundleVersion")
        assert emitter is core_stats.Stats
    else:
        assert isinstance(value, base.BundleVersion) and (value.version, value.data) == ("abc", {"k": 1})
        assert emitter is core_stats
    assert compat_airflow.version_string(value) == "abc"
