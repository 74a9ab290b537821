from __future__ import annotations

import json

import pytest

from airflow_bundles_ext.core.bundle_config import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    Allowlist,
    BundleSpec,
    is_config_file_name,
    parse_bundle_file,
)
from airflow_bundles_ext.core.tenancy import TenancyPolicy
from airflow_bundles_ext.errors import BundleConfigError

S3 = "airflow_bundles_ext.bundles.s3.S3DagBundle"
DEFAULT = TenancyPolicy()
CAPS = {
    "max_files": 10_000,
    "max_bytes": 1024**3,
    "max_workers": 16,
    "max_attempts": 5,
    "connect_timeout": 10.0,
    "read_timeout": 60.0,
}


def raw(**entry) -> bytes:
    base = {"name": "team-a", "classpath": S3, "kwargs": {"bucket_name": "b", "prefix": "dags"}}
    base.update(entry)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def test_valid_file_becomes_its_effective_spec_with_caps_injected():
    spec = parse_bundle_file(raw(), file="team-a.json", policy=DEFAULT)
    assert spec == BundleSpec(
        "team-a", S3, {"bucket_name": "b", "prefix": "dags", **CAPS}, None, "team-a.json"
    )
    assert spec.tenant == "default"
    assert "team_name" not in spec.as_config_entry()


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        (b"{not json", None, "malformed JSON at line 1"),
        (b"\xff\xfe{}", None, "not UTF-8"),
        (b"[1, 2]", None, "expected a JSON object"),
        (raw(name=...), "name", "missing required"),
        (raw(kwargs=...), "kwargs", "missing required"),
        (raw(kwarg={}), "kwarg", "unknown key"),
        (raw(name=3), "name", "non-empty string"),
        (raw(name="../etc"), "name", "unsafe bundle name"),
        (raw(name="example_dags"), "name", "reserved"),
        (raw(classpath="os.system"), "classpath", "may not be used in a bundle file"),
        (raw(team_name="t"), "team_name", "the policy assigns no team"),
        (raw(name="team-b"), "name", "differs from the file name"),
        (raw(kwargs=[1]), "kwargs", "expected an object"),
        (raw(kwargs={"name": "x"}), "kwargs.name", "set by Airflow"),
        (raw(team_name=5), "team_name", "string or null"),
    ],
)
def test_invalid_file_names_file_key_and_problem(data, key, fragment):
    with pytest.raises(BundleConfigError) as err:
        parse_bundle_file(data, file="team-a.json", policy=DEFAULT)
    assert err.value.source == "team-a.json"
    assert err.value.key == key
    assert fragment in str(err.value)
    assert "team-a.json" in str(err.value)


def test_oversized_file_is_refused_before_decoding():
    with pytest.raises(BundleConfigError, match="over the"):
        parse_bundle_file(b" " * (MAX_FILE_BYTES + 1), file="big.json", policy=DEFAULT)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"[" * 200_000, f"nested deeper than {MAX_DEPTH}"),
        (b'{"a": ' + b"1" * 5000 + b"}", "undecodable JSON: ValueError"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"name": "team-a", "name": "team-b"}', "duplicate key 'name'"),
        (b'{"a": "\\ud800"}', "unpaired surrogate"),
    ],
)
def test_exotic_json_is_one_invalid_file_not_an_exception(data, fragment):
    with pytest.raises(BundleConfigError) as err:
        parse_bundle_file(data, file="team-a.json", policy=DEFAULT)
    assert fragment in str(err.value)


def test_the_sidecar_names_the_object_while_the_policy_checks_the_file_name():
    with pytest.raises(BundleConfigError) as err:
        parse_bundle_file(
            raw(name="team-b"), file="team-a.json", policy=DEFAULT, source="s3://b/p/team-a.json"
        )
    assert err.value.source == "s3://b/p/team-a.json" and err.value.key == "name"


def test_control_characters_of_a_file_name_never_reach_the_message():
    with pytest.raises(BundleConfigError) as err:
        parse_bundle_file(b"{", file="evil\r\x1b[2J.json", policy=DEFAULT)
    assert "\r" not in str(err.value) and "\x1b" not in str(err.value)
    assert "\\x0d" in str(err.value)


def test_allowlist_supports_exact_entries_and_globs():
    allow = Allowlist.parse("mycorp.bundles.*, airflow_bundles_ext.bundles.s3.S3DagBundle\n")
    assert allow.allows("mycorp.bundles.fancy.Bundle")
    assert allow.allows(S3)
    assert not allow.allows("airflow.dag_processing.bundles.local.LocalDagBundle")
    assert Allowlist.parse("") == Allowlist()


def test_default_allowlist_holds_only_this_packages_bundles():
    assert Allowlist().patterns == (S3, "airflow_bundles_ext.bundles.git.GitDagBundle")


@pytest.mark.parametrize(
    ("name", "read"),
    [("a.json", True), (".a.json", False), ("a.json.tmp", False), ("a.json~", False), ("a.yaml", False)],
)
def test_only_visible_final_json_files_are_read(name, read):
    assert is_config_file_name(name) is read
