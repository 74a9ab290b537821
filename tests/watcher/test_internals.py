"""Pin the Airflow internals the integration patches, so an Airflow upgrade fails CI first."""

from __future__ import annotations

import inspect

import airflow.dag_processing.bundles.base as base_module
import airflow.dag_processing.bundles.manager as bundles_module
import airflow.dag_processing.manager as processor_module
import attrs
import pytest

from airflow_bundles_ext.integration import bundles, cleanup, processor

SIGNATURES = [
    (bundles_module.DagBundlesManager.parse_config, ["self"]),
    (bundles_module.DagBundlesManager.sync_bundles_to_db, ["self", "deactivate_missing", "session"]),
    (bundles_module.DagBundlesManager.get_bundle, ["self", "name", "version"]),
    (processor_module.DagFileProcessorManager.prepare_bundles, ["self"]),
    (processor_module.DagFileProcessorManager._refresh_dag_bundles, ["self", "known_files"]),
    (processor_module.DagFileProcessorManager.handle_removed_files, ["self", "known_files"]),
    (processor_module.DagFileProcessorManager.request_bundle_refresh, ["self", "bundle_names"]),
    (base_module.BundleUsageTrackingManager.remove_stale_bundle_versions, ["self"]),
]


def test_integration_accepts_the_installed_airflow():
    bundles.check_internals(bundles_module)
    processor.check_internals(processor_module)
    cleanup.check_internals(base_module)


@pytest.mark.parametrize(("func", "params"), SIGNATURES, ids=lambda v: getattr(v, "__qualname__", ""))
def test_wrapped_methods_keep_their_signatures(func, params):
    assert list(inspect.signature(inspect.unwrap(func)).parameters) == params


def test_processor_fields_and_internal_config_model():
    fields = {f.name for f in attrs.fields(processor_module.DagFileProcessorManager)}
    assert set(processor.FIELDS) <= fields
    assert set(bundles_module._InternalBundleConfig.model_fields) == {"bundle_class", "kwargs", "team_name"}


def test_tracking_layout_the_reclaim_relies_on(bundle_storage):
    """Tracking files at ``<root>/_tracking/<name>/<version>``, trees at ``<root>/<name>/versions/<v>``."""
    assert base_module.get_bundle_tracking_file("b", "v1") == bundle_storage / "_tracking" / "b" / "v1"
    assert base_module.get_bundle_version_path("b", "v1") == bundle_storage / "b" / "versions" / "v1"
    assert base_module.STALE_BUNDLE_TRACKING_FOLDER == bundle_storage / "_tracking"
