"""The plugin, the CLI commands and the options are registered, and cheap to load."""

from __future__ import annotations

import subprocess
import sys

from airflow_bundles_ext.get_provider_info import get_provider_info


def test_webhook_secrets_are_sensitive_options_so_cmd_and_secret_variants_work():
    options = get_provider_info()["config"]["bundles_ext"]["options"]
    assert options["github_webhook_secret"]["sensitive"] is True
    assert options["gitlab_webhook_token"]["sensitive"] is True
    for name in ("status_writer", "health_max_failures", "github_webhook_secret", "gitlab_webhook_token"):
        assert options[name]["description"]


def test_airflow_lists_the_plugin_and_the_cli_commands(airflow_env):
    plugins = airflow_env.airflow("plugins", "-o", "json").stdout
    assert "bundles_ext" in plugins and "/bundles-ext" in plugins
    help_text = airflow_env.airflow("bundles-ext", "--help").stdout
    assert "status" in help_text and "refresh" in help_text


def test_plugin_and_cli_definition_imports_stay_cheap():
    """Plugins load in many processes and every `airflow` call loads the CLI definition."""
    code = (
        "import sys, airflow_bundles_ext.cli.definition as d; d.get_cli_commands();"
        "import airflow_bundles_ext.plugin;"
        "heavy = [m for m in ('fastapi', 'airflow_bundles_ext.api.app',"
        " 'airflow_bundles_ext.cli.status_commands', 'airflow_bundles_ext.status.service')"
        " if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1:] in ([], [""])
