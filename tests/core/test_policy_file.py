"""The tenancy policy file: pydantic schema, errors naming file and key, placeholders checked."""

from __future__ import annotations

import json

import pytest

from airflow_bundles_ext.core.bundle_config import Allowlist
from airflow_bundles_ext.core.policy_file import parse_policy
from airflow_bundles_ext.core.tenancy import Caps, Grant
from airflow_bundles_ext.errors import PolicyError

BLOG = {
    "version": 1,
    "tenants": {
        "etl-projects": {
            "files": ["{project}-bundle.json"],
            "conn_ids": ["aws_default"],
            "s3": [
                {"bucket": "my-airflow-workspace", "prefixes": ["etls/{project}/latest/workspaces/*/dags"]}
            ],
            "caps": {"max_files": 2000},
        }
    },
    "default": None,
}


def parse(doc) -> object:
    return parse_policy(json.dumps(doc).encode(), source="/etc/policy.json", allowlist=Allowlist())


def test_the_blog_layout_example_parses_into_one_tenant_without_a_default():
    policy = parse(BLOG)
    (tenant,) = policy.tenants
    assert tenant.name == "etl-projects" and policy.default is None
    assert tenant.grant.caps == Caps(max_files=2000)
    assert tenant.grant.s3[0].prefixes == ("etls/{project}/latest/workspaces/*/dags",)


def test_an_empty_document_is_the_default_policy():
    policy = parse({})
    assert policy.tenants == () and policy.default == Grant()


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"version": 2}, "version"),
        ({"tenants": {"t": {}}}, "tenants.t.files"),
        ({"tenants": {"t": {"files": ["a.json"], "caps": {"max_files": 0}}}}, "tenants.t.caps.max_files"),
        ({"tenants": {"t": {"files": ["a.json"], "s3": [{"bucket": "b"}]}}}, "tenants.t.s3[0].prefixes"),
        (
            {"tenants": {"t": {"files": ["a.json"], "local_path_roots": ["rel"]}}},
            "tenants.t.local_path_roots",
        ),
        ({"default": {"conn_idz": []}}, "default.conn_idz"),
        ({"tenants": {"t": {"files": ["a.json"], "team_name": "{team}"}}}, "tenants.t.team_name"),
        (
            {"tenants": {"t": {"files": ["{p}-x.json", "y.json"], "conn_ids": ["c_{p}"]}}},
            "tenants.t.conn_ids[0]",
        ),
        ({"default": {"git_urls": ["https://h/{project}.git"]}}, "default.git_urls[0]"),
    ],
)
def test_an_invalid_policy_names_the_file_and_the_key(doc, key):
    with pytest.raises(PolicyError) as err:
        parse(doc)
    assert "/etc/policy.json" in str(err.value)
    assert f"key {key}" in str(err.value)


def test_a_policy_that_is_not_json_is_a_policy_error():
    with pytest.raises(PolicyError, match="not JSON"):
        parse_policy(b"[" * 100_000, source="p.json", allowlist=Allowlist())
