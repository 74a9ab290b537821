"""Attacks written into bundle files, under the default policy and under a platform policy file.

One watched directory holds every attack next to good files. It is checked by the real
``airflow bundles-ext validate`` CLI and resolved by a fresh Airflow process (what every worker
and task does), once per module. Each test reads its attack's outcome from those runs: the file is
invalid with an error naming the file and the key, its bundle is not in force, the good bundles
are, and no secret appears anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_bundles_ext.watcher.demo import activation_env
from tests.security.conftest import GIT, LOCAL, SECRET, bundle, resolve, validate, write

UPSTREAM_GIT = "airflow.providers.git.bundles.git.GitDagBundle"
GIT_CONN = {
    "conn_type": "git",
    "host": "https://git.platform.example/acme/platform.git",
    "login": "platform-bot",
    "password": SECRET,
}
ATTACKS: dict[str, dict[str, Any] | bytes] = {
    "good.json": bundle("good"),
    "aws-admin.json": bundle("aws-admin", aws_conn_id="aws_platform_admin"),
    "upstream-git.json": bundle(
        "upstream-git", UPSTREAM_GIT, repo_url="https://h/r.git", tracking_ref="main"
    ),
    "local-root.json": bundle("local-root", LOCAL, path="/"),
    "file-url.json": bundle("file-url", GIT, repo_url="file:///srv/git/platform.git", tracking_ref="main"),
    "abs-path.json": bundle("abs-path", GIT, repo_url="/srv/git/platform.git", tracking_ref="main"),
    "team-claim.json": {**bundle("team-claim"), "team_name": "platform"},
    "nested.json": b"[" * 200_000,
    "bigint.json": b'{"name": "bigint", "n": ' + b"7" * 5000 + b"}",
    "claimer.json": bundle("good", prefix="etls/claimer/dags"),
    "huge-timeout.json": bundle(
        "huge-timeout", GIT, repo_url="https://h/r.git", tracking_ref="m", git_timeout=2e6
    ),
    "many-workers.json": bundle("many-workers", max_workers=1000, connect_timeout=1e9),
    "token-url.json": bundle(
        "token-url", GIT, repo_url=f"https://bot:{SECRET}@github.com/acme/r.git", tracking_ref="m"
    ),
    "query-token.json": bundle(
        "query-token", GIT, repo_url=f"https://github.com/acme/r.git?access_token={SECRET}", tracking_ref="m"
    ),
    "manifest-prefix.json": bundle("manifest-prefix", manifest_prefix="etls/good/dags/"),
    "http-conn.json": bundle(
        "http-conn",
        GIT,
        repo_url="http://git.platform.example/acme/x.git",
        git_conn_id="git_default",
        tracking_ref="m",
    ),
    "other-host.json": bundle(
        "other-host",
        GIT,
        repo_url="https://collector.example/x.git",
        git_conn_id="git_default",
        tracking_ref="m",
    ),
    "zz-good.json": bundle("zz-good"),
}


def _scenario(env, directory: Path, files: dict[str, Any], **extra: str) -> SimpleNamespace:
    for file, content in files.items():
        write(directory, file, content)
    env.extra_env.update(
        {
            **activation_env(directory, state_path=env.home / "state"),
            "AIRFLOW__CORE__MULTI_TEAM": "True",
            "AIRFLOW_CONN_GIT_DEFAULT": json.dumps(GIT_CONN),
            **extra,
        }
    )
    rows, validate_output = validate(env, directory)
    answer, resolve_output = resolve(env)
    return SimpleNamespace(rows=rows, answer=answer, output=validate_output + resolve_output, env=env)


@pytest.fixture(scope="module")
def default_policy(sqlite_template, tmp_path_factory) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("default-policy")
    env = sqlite_template.new_env(root / "airflow")
    env.airflow("teams", "create", "platform", AIRFLOW__CORE__MULTI_TEAM="True")
    try:
        yield _scenario(env, root / "conf", ATTACKS)
    finally:
        env.dispose()


def refused(run: SimpleNamespace, file: str, key: str | None, fragment: str) -> None:
    row = run.rows[file]
    assert row["status"] == "invalid", row
    assert row["error"].startswith(f"invalid bundle config {file}"), row["error"]
    if key:
        assert f"key '{key}'" in row["error"], row["error"]
    assert fragment in row["error"], row["error"]
    assert file.removesuffix(".json") not in run.answer["bundles"]
    assert {"good", "zz-good"} <= set(run.answer["bundles"]), "a good bundle was disturbed"


def test_good_files_are_in_force_beside_every_attack(default_policy):
    assert default_policy.rows["good.json"]["status"] == "ok"
    assert set(default_policy.answer["bundles"]) == {"good", "zz-good"}
    assert default_policy.answer["bundles"]["good"]["kwargs"]["max_files"] == 10_000  # caps injected


def test_a_connection_the_policy_does_not_grant_is_refused(default_policy):
    refused(default_policy, "aws-admin.json", "kwargs.aws_conn_id", "'aws_platform_admin' is not granted")


def test_upstream_bundle_classes_are_refused_by_default(default_policy):
    refused(default_policy, "upstream-git.json", "classpath", "may not be used in a bundle file")


def test_local_dag_bundle_is_refused_by_default(default_policy):
    refused(default_policy, "local-root.json", "classpath", "may not be used in a bundle file")


@pytest.mark.parametrize("file", ["file-url.json", "abs-path.json"])
def test_remotes_on_the_processors_own_disk_are_refused(default_policy, file):
    refused(default_policy, file, "kwargs.repo_url", "local paths and file:// URLs")


def test_a_team_name_the_policy_does_not_assign_is_refused_with_multi_team_on(default_policy):
    refused(default_policy, "team-claim.json", "team_name", "'platform' is refused")


def test_deeply_nested_json_is_one_invalid_file_and_files_after_it_still_load(default_policy):
    refused(default_policy, "nested.json", None, "nested deeper than 16 levels")
    assert "zz-good" in default_policy.answer["bundles"]


def test_an_integer_of_thousands_of_digits_is_one_invalid_file(default_policy):
    refused(default_policy, "bigint.json", None, "undecodable JSON: ValueError")


def test_a_file_claiming_another_bundles_name_is_refused_and_the_owner_keeps_it(default_policy):
    refused(default_policy, "claimer.json", "name", "differs from the file name")
    assert default_policy.answer["bundles"]["good"]["kwargs"]["prefix"] == "etls/good/dags"


@pytest.mark.parametrize(
    ("file", "key"),
    [("huge-timeout.json", "kwargs.git_timeout"), ("many-workers.json", "kwargs.max_workers")],
)
def test_timeouts_and_worker_counts_above_the_caps_are_refused(default_policy, file, key):
    refused(default_policy, file, key, "at most")


@pytest.mark.parametrize(
    ("file", "why"), [("token-url.json", "credentials"), ("query-token.json", "query strings")]
)
def test_secrets_inside_repo_url_are_refused_and_never_shown(default_policy, file, why):
    refused(default_policy, file, "kwargs.repo_url", why)
    assert SECRET not in default_policy.output
    assert SECRET not in json.dumps(default_policy.rows)


def test_a_manifest_prefix_in_another_teams_prefix_is_refused(default_policy):
    refused(default_policy, "manifest-prefix.json", "kwargs.manifest_prefix", "inside a granted prefix")


def test_a_git_connection_is_never_used_over_plain_http(default_policy):
    refused(default_policy, "http-conn.json", "kwargs.repo_url", "never sent over plain http")


def test_a_git_connections_credentials_only_go_to_the_host_it_names(default_policy):
    refused(
        default_policy, "other-host.json", "repo_url", "only sent to the host it names (git.platform.example)"
    )


# --- a platform policy file granting tenants their connection, prefixes and team ---------------

POLICY = {
    "version": 1,
    "tenants": {
        "etl": {
            "files": ["{project}-bundle.json"],
            "team_name": "team-{project}",
            "conn_ids": ["aws_{project}"],
            "s3": [{"bucket": "workspace", "prefixes": ["etls/{project}/latest/workspaces/*/dags"]}],
            "caps": {"max_workers": 4},
        }
    },
    "default": None,
}


def etl(project: str, prefix_of: str | None = None, **kwargs: Any) -> dict[str, Any]:
    prefix = f"etls/{prefix_of or project}/latest/workspaces/dev/dags"
    return bundle(f"{project}-bundle", prefix=prefix, **{"aws_conn_id": f"aws_{project}", **kwargs})


TENANT_FILES: dict[str, dict[str, Any] | bytes] = {
    "alpha-bundle.json": etl("alpha"),
    "beta-bundle.json": etl("beta", prefix_of="alpha"),  # another tenant's prefix
    "gamma-bundle.json": etl("gamma", aws_conn_id="aws_alpha"),  # another tenant's connection
    "delta-bundle.json": {**etl("delta"), "team_name": "team-alpha"},  # another tenant's team
    "eps-bundle.json": etl("eps", max_workers=16),  # above the tenant's cap
    "stray.json": bundle("stray", aws_conn_id="aws_default"),  # no tenant claims this file
}


@pytest.fixture(scope="module")
def with_policy(sqlite_template, tmp_path_factory) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("policy-file")
    env = sqlite_template.new_env(root / "airflow")
    env.create_teams("team-alpha", "team-beta", "team-gamma", "team-delta", "team-eps")
    policy = root / "tenancy-policy.json"
    policy.write_text(json.dumps(POLICY))
    try:
        yield _scenario(env, root / "conf", TENANT_FILES, AIRFLOW__BUNDLES_EXT__TENANCY_POLICY=str(policy))
    finally:
        env.dispose()


def test_policy_grants_a_tenant_its_connection_prefix_and_team(with_policy):
    assert with_policy.rows["alpha-bundle.json"]["status"] == "ok"
    assert with_policy.rows["alpha-bundle.json"]["tenant"] == "etl"
    alpha = with_policy.answer["bundles"]["alpha-bundle"]
    assert alpha["team_name"] == "team-alpha" and alpha["kwargs"]["max_workers"] == 4
    assert set(with_policy.answer["bundles"]) == {"alpha-bundle"}


@pytest.mark.parametrize(
    ("file", "key", "fragment"),
    [
        ("beta-bundle.json", "kwargs.prefix", "s3://workspace/etls/alpha"),
        ("gamma-bundle.json", "kwargs.aws_conn_id", "'aws_alpha' is not granted; allowed: aws_gamma"),
        ("delta-bundle.json", "team_name", "the policy assigns 'team-delta'"),
        ("eps-bundle.json", "kwargs.max_workers", "at most 4"),
        ("stray.json", None, "no tenant of"),
    ],
)
def test_policy_never_lets_a_file_reach_another_tenants_grant(with_policy, file, key, fragment):
    row = with_policy.rows[file]
    assert row["status"] == "invalid" and fragment in row["error"], row
    if key:
        assert f"key '{key}'" in row["error"]
    assert file.removesuffix(".json") not in with_policy.answer["bundles"]
    assert "alpha-bundle" in with_policy.answer["bundles"]
