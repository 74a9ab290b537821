"""Settings from environment variables and flags: defaults, precedence, errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_bundles_ext.sidecar.config import (
    SyncConfigError,
    normalize_prefix,
    probe_config,
    sync_config,
)

BASE = {"BUNDLE_BUCKET": "my-airflow-config", "BUNDLE_PATH": "/opt/airflow/dag-bundles-conf"}


def test_defaults_follow_the_blog():
    cfg = sync_config({}, BASE)
    assert (cfg.mode, cfg.interval, cfg.max_failures) == ("sidecar", 30.0, 5)
    assert cfg.health_file == Path("/tmp/sync-health")
    assert cfg.prefix == "" and cfg.allow_empty is False and cfg.endpoint_url is None
    assert "airflow_bundles_ext.bundles.s3.S3DagBundle" in cfg.allowlist.patterns


def test_flags_win_over_environment_variables():
    env = {
        **BASE,
        "RUN_MODE": "sidecar",
        "SYNC_INTERVAL": "30",
        "AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS": "a.B",
    }
    cfg = sync_config({"mode": "once", "interval": "0.5", "allowed_classpaths": "my.*"}, env)
    assert (cfg.mode, cfg.interval, cfg.allowlist.patterns) == ("once", 0.5, ("my.*",))
    assert sync_config({}, env).allowlist.patterns == ("a.B",)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"BUNDLE_PATH": "/x"}, "BUNDLE_BUCKET"),
        ({"BUNDLE_BUCKET": "b-1"}, "BUNDLE_PATH"),
        ({**BASE, "BUNDLE_BUCKET": "s3://bucket/prefix"}, "BUNDLE_BUCKET"),
        ({**BASE, "RUN_MODE": "daemon"}, "RUN_MODE"),
        ({**BASE, "SYNC_INTERVAL": "abc"}, "SYNC_INTERVAL"),
        ({**BASE, "SYNC_INTERVAL": "0"}, "SYNC_INTERVAL"),
        ({**BASE, "MAX_FAILURES": "0"}, "MAX_FAILURES"),
        ({**BASE, "ALLOW_EMPTY": "maybe"}, "ALLOW_EMPTY"),
        ({**BASE, "AWS_MAX_ATTEMPTS": "x"}, "AWS_MAX_ATTEMPTS"),
        ({**BASE, "AWS_ENDPOINT_URL": "127.0.0.1:9000"}, "AWS_ENDPOINT_URL"),
        ({**BASE, "HEALTH_FILE": "/opt/airflow/dag-bundles-conf/health.json"}, "HEALTH_FILE"),
    ],
)
def test_bad_settings_raise_naming_the_variable_and_flag(env, variable):
    with pytest.raises(SyncConfigError) as err:
        sync_config({}, env)
    assert err.value.variable == variable
    assert variable in str(err.value) and "--" in str(err.value)


def test_prefix_is_normalized_to_one_trailing_slash():
    assert normalize_prefix("airflow/dag-bundles") == "airflow/dag-bundles/"
    assert normalize_prefix("/airflow/dag-bundles/") == "airflow/dag-bundles/"
    assert normalize_prefix("") == "" and normalize_prefix("/") == ""


def test_probe_settings_default_and_validate():
    cfg = probe_config(None, None, {})
    assert (cfg.health_file, cfg.max_age) == (Path("/tmp/sync-health"), 90.0)
    assert probe_config(None, "5", {"HEALTH_FILE": "/h"}).health_file == Path("/h")
    with pytest.raises(SyncConfigError, match="--max-age"):
        probe_config(None, "soon", {})
