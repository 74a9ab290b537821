"""The tenancy policy's admission of one bundle file, with plain data (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_bundles_ext.core.bundle_config import Allowlist, BundleSpec
from airflow_bundles_ext.core.tenancy import (
    OUR_GIT,
    OUR_S3,
    Caps,
    Grant,
    S3Grant,
    TenancyPolicy,
    Tenant,
    tenant_url_problem,
)
from airflow_bundles_ext.errors import BundleConfigError

LOCAL = "airflow.dag_processing.bundles.local.LocalDagBundle"
UPSTREAM_GIT = "airflow.providers.git.bundles.git.GitDagBundle"

ETL = TenancyPolicy(
    tenants=(
        Tenant(
            "etl",
            ("{project}-bundle.json",),
            Grant(
                conn_ids=("aws_{project}",),
                team_name="{project}",
                s3=(S3Grant("workspace", ("etls/{project}/latest/workspaces/*/dags",)),),
                caps=Caps(max_files=50),
            ),
        ),
        Tenant("git-team", ("git-*.json",), Grant(git_urls=("https://git.example/acme/*.git",))),
    ),
    default=None,
    source="policy.json",
)


def spec(name: str, classpath: str = OUR_S3, team_name: str | None = None, **kwargs: Any) -> BundleSpec:
    return BundleSpec(name, classpath, kwargs, team_name, f"{name}.json")


def refused(policy: TenancyPolicy, s: BundleSpec, file: str | None = None) -> BundleConfigError:
    with pytest.raises(BundleConfigError) as err:
        policy.admit(s, file or s.source)
    return err.value


def test_default_policy_injects_caps_for_our_classes_and_pins_restricted_git():
    got = TenancyPolicy().admit(spec("a", OUR_GIT, repo_url="https://h/r.git", tracking_ref="main"), "a.json")
    assert got.kwargs["restricted"] is True
    assert (got.kwargs["max_files"], got.kwargs["max_bytes"], got.kwargs["git_timeout"]) == (
        10_000,
        1024**3,
        300.0,
    )
    assert got.tenant == "default"


def test_admitting_an_effective_definition_again_gives_the_same_definition():
    policy = TenancyPolicy()
    once = policy.admit(spec("a", OUR_GIT, repo_url="https://h/r.git", tracking_ref="main"), "a.json")
    assert policy.admit(once, "a.json") == once


@pytest.mark.parametrize(
    ("s", "key", "fragment"),
    [
        (spec("a", aws_conn_id="aws_admin"), "kwargs.aws_conn_id", "'aws_admin' is not granted"),
        (
            spec("a", OUR_GIT, git_conn_id="github_admin", tracking_ref="m"),
            "kwargs.git_conn_id",
            "not granted",
        ),
        (spec("a", UPSTREAM_GIT, tracking_ref="m"), "classpath", "may not be used"),
        (spec("a", LOCAL, path="/"), "classpath", "may not be used"),
        (spec("a", team_name="platform", bucket_name="b"), "team_name", "assigns no team"),
        (spec("a", OUR_GIT, repo_url="file:///srv/repo", tracking_ref="m"), "kwargs.repo_url", "local paths"),
        (spec("a", OUR_GIT, repo_url="/srv/repo.git", tracking_ref="m"), "kwargs.repo_url", "local paths"),
        (
            spec("a", OUR_GIT, repo_url="ext::sh -c id", tracking_ref="m"),
            "kwargs.repo_url",
            "transport 'ext'",
        ),
        (
            spec("a", OUR_GIT, repo_url="https://u:t0k@h/r", tracking_ref="m"),
            "kwargs.repo_url",
            "credentials",
        ),
        (spec("a", OUR_GIT, repo_url="https://t0k@h/r", tracking_ref="m"), "kwargs.repo_url", "credentials"),
        (
            spec("a", OUR_GIT, repo_url="ssh://git:t0k@h/r", tracking_ref="m"),
            "kwargs.repo_url",
            "credentials",
        ),
        (
            spec("a", OUR_GIT, repo_url="https://h/r?access_token=t0k", tracking_ref="m"),
            "kwargs.repo_url",
            "query",
        ),
        (
            spec("a", OUR_GIT, repo_url="http://h/r", git_conn_id="git_default", tracking_ref="m"),
            "kwargs.repo_url",
            "never sent over plain http",
        ),
        (
            spec("a", OUR_GIT, repo_url="https://h/r", tracking_ref="m", git_timeout=2e6),
            "kwargs.git_timeout",
            "at most 300",
        ),
        (
            spec("a", OUR_GIT, repo_url="https://h/r", tracking_ref="m", restricted=False),
            "kwargs.restricted",
            "set by the platform",
        ),
        (spec("a", bucket_name="b", connect_timeout=1e9), "kwargs.connect_timeout", "at most 10"),
        (spec("a", bucket_name="b", max_workers=1000), "kwargs.max_workers", "at most 16"),
        (spec("a", bucket_name="b", max_files=True), "kwargs.max_files", "a number"),
        (
            spec("a", bucket_name="b", manifest_prefix="etls/team-b/"),
            "kwargs.manifest_prefix",
            "inside a granted",
        ),
    ],
)
def test_default_policy_refuses_with_file_and_key(s, key, fragment):
    err = refused(TenancyPolicy(), s)
    assert (err.source, err.key) == ("a.json", key)
    assert fragment in str(err)
    assert "t0k" not in str(err)


def test_anonymous_http_and_ssh_remotes_are_allowed_without_a_connection():
    policy = TenancyPolicy()
    for url in ("http://127.0.0.1:8080/r.git", "git@github.com:acme/r.git", "ssh://git@h:2222/r.git"):
        assert policy.admit(spec("a", OUR_GIT, repo_url=url, tracking_ref="main"), "a.json")


def test_name_must_be_the_file_stem():
    err = refused(TenancyPolicy(), spec("team-b", bucket_name="b"), "team-a.json")
    assert err.key == "name" and "rename the file to team-b.json" in str(err)


def test_policy_grants_a_tenant_its_connection_prefix_and_team_from_the_file_name():
    got = ETL.admit(
        spec(
            "pa-bundle",
            bucket_name="workspace",
            prefix="etls/pa/latest/workspaces/dev/dags",
            aws_conn_id="aws_pa",
        ),
        "pa-bundle.json",
    )
    assert got.team_name == "pa" and got.tenant == "etl" and got.kwargs["max_files"] == 50


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        (
            {
                "bucket_name": "workspace",
                "prefix": "etls/pb/latest/workspaces/dev/dags",
                "aws_conn_id": "aws_pa",
            },
            "kwargs.prefix",
        ),
        (
            {"bucket_name": "other", "prefix": "etls/pa/latest/workspaces/dev/dags", "aws_conn_id": "aws_pa"},
            "kwargs.prefix",
        ),
        (
            {
                "bucket_name": "workspace",
                "prefix": "etls/pa/latest/workspaces/dev/dags",
                "aws_conn_id": "aws_pb",
            },
            "kwargs.aws_conn_id",
        ),
        ({"bucket_name": "workspace", "prefix": "etls/pa/latest/workspaces/dev/dags"}, "kwargs.aws_conn_id"),
        (
            {
                "bucket_name": "workspace",
                "prefix": "etls/pa/latest/workspaces/dev/dags",
                "aws_conn_id": "aws_pa",
                "max_files": 51,
            },
            "kwargs.max_files",
        ),
    ],
)
def test_policy_never_lets_a_file_widen_its_grant(kwargs, key):
    err = refused(ETL, spec("pa-bundle", **kwargs), "pa-bundle.json")
    assert err.key == key and "tenant 'etl' of policy.json" in str(err)


def test_policy_refuses_a_team_name_other_than_the_assigned_one_and_accepts_the_same():
    base = {
        "bucket_name": "workspace",
        "prefix": "etls/pa/latest/workspaces/dev/dags",
        "aws_conn_id": "aws_pa",
    }
    assert refused(ETL, spec("pa-bundle", team_name="platform", **base), "pa-bundle.json").key == "team_name"
    assert ETL.admit(spec("pa-bundle", team_name="pa", **base), "pa-bundle.json").team_name == "pa"


def test_files_of_no_tenant_are_refused_when_the_policy_has_no_default():
    err = refused(ETL, spec("stray", bucket_name="workspace"))
    assert "no tenant of policy.json claims this file name" in str(err)


def test_git_url_patterns_and_manifest_prefix_inside_a_grant():
    ok = ETL.admit(
        spec("git-a", OUR_GIT, repo_url="https://git.example/acme/a.git", tracking_ref="m"), "git-a.json"
    )
    assert ok.kwargs["restricted"] is True
    err = refused(ETL, spec("git-a", OUR_GIT, repo_url="https://git.example/other/a.git", tracking_ref="m"))
    assert err.key == "kwargs.repo_url"
    inside = {
        "bucket_name": "workspace",
        "prefix": "etls/pa/latest/workspaces/dev/dags",
        "aws_conn_id": "aws_pa",
    }
    got = ETL.admit(
        spec("pa-bundle", manifest_prefix="etls/pa/latest/workspaces/dev/dags/_m", **inside), "pa-bundle.json"
    )
    assert got.kwargs["manifest_prefix"].endswith("_m")


def test_local_bundle_when_allowed_is_held_to_its_path_roots():
    policy = TenancyPolicy(
        default=Grant(classpaths=(LOCAL,), local_path_roots=("/opt/teams/{name}",)),
        allowlist=Allowlist(),
    )
    assert policy.admit(spec("a", LOCAL, path="/opt/teams/a/dags"), "a.json")
    for path in ("/opt/teams/b", "/opt/teams/a/../b", "relative", "/"):
        assert refused(policy, spec("a", LOCAL, path=path)).key == "kwargs.path"
    anywhere = TenancyPolicy(allowlist=Allowlist((OUR_S3, LOCAL)))
    assert anywhere.admit(spec("a", LOCAL, path="/"), "a.json")  # allowed by the platform, no roots set


@pytest.mark.parametrize(
    ("url", "with_connection", "problem"),
    [
        ("https://github.com/acme/r.git", True, None),
        ("git@github.com:acme/r.git", True, None),
        ("http://h/r", False, None),
        ("http://h/r", True, "plain http"),
        ("git://h/r", True, "plain http"),
        ("fd::17", False, "transport 'fd'"),
        ("https:///r", False, "no host"),
        ("./r", False, "local paths"),
    ],
)
def test_tenant_url_problem(url, with_connection, problem):
    got = tenant_url_problem(url, with_connection=with_connection)
    assert (got is None) if problem is None else (problem in got)
