"""Provider registration: Airflow lists the package, its options and its CLI group."""

from __future__ import annotations

import json
import subprocess
import sys

from airflow_bundles_ext import __version__
from airflow_bundles_ext.get_provider_info import get_provider_info


def test_airflow_providers_list_shows_the_package(airflow_env):
    out = airflow_env.airflow("providers", "list", "-o", "json").stdout
    providers = {p["package_name"]: p for p in json.loads(out[out.index("[") :])}
    assert providers["airflow-bundles-ext"]["version"] == __version__


def test_airflow_config_list_describes_the_options(airflow_env):
    out = airflow_env.airflow("config", "list", "--section", "bundles_ext", "--include-descriptions").stdout
    options = get_provider_info()["config"]["bundles_ext"]["options"]
    assert options
    for name, option in options.items():
        assert f"# {name} =" in out
        assert " ".join(option["description"].split())[:60] in " ".join(out.split())
    assert "dag_bundle_config_path" in out  # the section description points at the watcher option


def test_cli_group_is_registered(airflow_env):
    out = airflow_env.airflow("bundles-ext", "--help").stdout
    assert "validate" in out and "list" in out


def test_cli_definition_import_is_cheap():
    """Every `airflow` call imports the definition: it must not pull in boto3, git or our commands."""
    code = (
        "import sys, airflow_bundles_ext.cli.definition as d; d.get_cli_commands();"
        "heavy = [m for m in ('boto3', 'botocore', 'airflow_bundles_ext.cli.commands',"
        " 'airflow_bundles_ext.bundles.s3', 'airflow_bundles_ext.bundles.git') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
