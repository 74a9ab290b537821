"""Activation: off without the option, on via the env var alone, never breaking unrelated commands,
and loud (not silent) when the running Airflow cannot be supported."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

from airflow_bundles_ext.activate import patch_module
from airflow_bundles_ext.compat.airflow import check_airflow_version
from airflow_bundles_ext.errors import UnsupportedAirflowError
from tests.rig.airflow_env import base_env

PROBE = """
import json, sys
from airflow.dag_processing.bundles.base import BundleUsageTrackingManager
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.manager import DagFileProcessorManager
print(json.dumps({
    "activate_imported": "airflow_bundles_ext.activate" in sys.modules,
    "finder": any(type(f).__name__ == "PatchingFinder" for f in sys.meta_path),
    "bundles_patched": getattr(DagBundlesManager, "_bundles_ext_patched", False),
    "processor_patched": getattr(DagFileProcessorManager, "_bundles_ext_patched", False),
    "cleanup_patched": getattr(BundleUsageTrackingManager, "_bundles_ext_patched", False),
    "bundles": sorted(DagBundlesManager().get_all_bundle_names()),
}))
"""


def _probe(tmp_path, **env):
    full = {**base_env(tmp_path / "home", f"sqlite:///{tmp_path / 'x.db'}"), **env}
    out = subprocess.run([sys.executable, "-c", PROBE], env=full, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_without_the_option_nothing_is_installed_or_patched(tmp_path):
    # The status writer follows the watcher unless it is switched on explicitly.
    assert _probe(tmp_path) == {
        "activate_imported": False,
        "finder": False,
        "bundles_patched": False,
        "processor_patched": False,
        "cleanup_patched": False,
        "bundles": [],
    }


def test_status_writer_alone_patches_only_the_processor(tmp_path):
    # Switched on explicitly without the watched directory: DagBundlesManager stays stock.
    assert _probe(tmp_path, AIRFLOW__BUNDLES_EXT__STATUS_WRITER="True") == {
        "activate_imported": True,
        "finder": True,
        "bundles_patched": False,
        "processor_patched": True,
        "cleanup_patched": False,
        "bundles": [],
    }


def test_env_var_alone_activates_through_the_policy_entry_point(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "x.json").write_text(
        json.dumps(
            {
                "name": "x",
                "classpath": "airflow_bundles_ext.bundles.s3.S3DagBundle",
                "kwargs": {"bucket_name": "b", "prefix": "x"},
            }
        )
    )
    result = _probe(tmp_path, AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_PATH=str(conf))
    assert result == {
        "activate_imported": True,
        "finder": True,
        "bundles_patched": True,
        "processor_patched": True,
        "cleanup_patched": True,
        "bundles": ["x"],
    }


def test_unrelated_commands_work_with_the_watcher_on(airflow_env, tmp_path):
    # Local settings run after the policy entry point: they record whether activation happened,
    # so an activation that silently failed (it never raises) fails this test.
    marker = tmp_path / "activated"
    config = airflow_env.home / "config"
    config.mkdir(exist_ok=True)
    (config / "airflow_local_settings.py").write_text(
        "import sys\n"
        f"with open({str(marker)!r}, 'a') as fh:\n"
        "    fh.write(str(any(type(f).__name__ == 'PatchingFinder' for f in sys.meta_path)) + '\\n')\n"
    )
    missing = tmp_path / "not-created-yet"
    for args in (("version",), ("db", "migrate")):
        airflow_env.airflow(*args, AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_PATH=str(missing))
    assert set(marker.read_text().split()) == {"True"}


@pytest.mark.parametrize("version", ["3.1.9", "3.4.0", "4.0.0"])
def test_unsupported_airflow_versions_are_refused(version):
    with pytest.raises(UnsupportedAirflowError, match="not supported.*dag_bundle_config_path"):
        check_airflow_version(version)


@pytest.mark.parametrize("version", ["3.2.0", "3.3.2", "3.3.9rc1"])
def test_supported_airflow_versions_pass(version):
    check_airflow_version(version)


def test_missing_internals_make_resolving_bundles_fail_loudly_not_importing():
    module = types.ModuleType("airflow.dag_processing.bundles.manager")

    class DagBundlesManager:  # an "upgraded" Airflow without the internals the patch needs
        def parse_config(self):
            pass

    module.DagBundlesManager = DagBundlesManager
    patch_module(module)  # must not raise: `airflow version` imports this module too
    with pytest.raises(
        UnsupportedAirflowError, match="lacks .*_InternalBundleConfig.*dag_bundle_config_path"
    ):
        module.DagBundlesManager()


def _fake_processor_module():
    module = types.ModuleType("airflow.dag_processing.manager")

    class DagFileProcessorManager:  # a patch release that renamed the loop internals
        def sync_bundles(self):
            pass

    module.DagFileProcessorManager = DagFileProcessorManager
    return module


def test_missing_processor_internals_stop_the_processor_loudly():
    module = _fake_processor_module()
    patch_module(module)
    with pytest.raises(UnsupportedAirflowError, match="lacks .*_refresh_dag_bundles.*dag_bundle_config_path"):
        module.DagFileProcessorManager().sync_bundles()


def test_unsupported_running_airflow_guards_both_modules(monkeypatch):
    import airflow
    import airflow.dag_processing.bundles.manager as real

    monkeypatch.setattr(airflow, "__version__", "3.4.0")
    bundles_module = types.ModuleType("airflow.dag_processing.bundles.manager")
    bundles_module.DagBundlesManager = type("DagBundlesManager", (), {})
    bundles_module._InternalBundleConfig = real._InternalBundleConfig
    processor_module = _fake_processor_module()
    for module in (bundles_module, processor_module):
        patch_module(module)
    with pytest.raises(UnsupportedAirflowError, match="3.4.0 is not supported"):
        bundles_module.DagBundlesManager()
    with pytest.raises(UnsupportedAirflowError, match="3.4.0 is not supported"):
        processor_module.DagFileProcessorManager().sync_bundles()


def test_missing_cleanup_internals_leave_the_stock_cleanup_working():
    """Reclaiming removed bundles on workers is an extra: the scheduler must still start."""
    module = types.ModuleType("airflow.dag_processing.bundles.base")
    calls = []

    class BundleUsageTrackingManager:  # a release that renamed the cleanup method
        def remove_stale_versions(self):
            calls.append("stock")

    module.BundleUsageTrackingManager = BundleUsageTrackingManager
    patch_module(module)  # must not raise
    module.BundleUsageTrackingManager().remove_stale_versions()
    assert calls == ["stock"]
    assert not getattr(module.BundleUsageTrackingManager, "_bundles_ext_patched", False)
