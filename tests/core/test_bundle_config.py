from __future__ import annotations

import json

import pytest

from airflow_bundles_ext.core.bundle_config import (
    MAX_FILE_BYTES,
    Allowlist,
    BundleSpec,
    duplicate_names,
    is_config_file_name,
    parse_bundle_file,
)
from airflow_bundles_ext.errors import BundleConfigError

S3 = "airflow_bundles_ext.bundles.s3.S3DagBundle"
DEFAULT = Allowlist()


def raw(**entry) -> bytes:
    base = {"name": "team-a", "classpath": S3, "kwargs": {"bucket_name": "b", "prefix": "dags"}}
    base.update(entry)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def test_valid_file_becomes_a_spec_with_its_source():
    spec = parse_bundle_file(raw(team_name="t"), source="team-a.json", allowlist=DEFAULT)
    assert spec == BundleSpec("team-a", S3, {"bucket_name": "b", "prefix": "dags"}, "t", "team-a.json")
    assert spec.as_config_entry()["team_name"] == "t"


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
        (raw(classpath="os.system"), "classpath", "not on the allow-list"),
        (raw(kwargs=[1]), "kwargs", "expected an object"),
        (raw(kwargs={"name": "x"}), "kwargs.name", "set by Airflow"),
        (raw(team_name=5), "team_name", "string or null"),
    ],
)
def test_invalid_file_names_file_key_and_problem(data, key, fragment):
    with pytest.raises(BundleConfigError) as err:
        parse_bundle_file(data, source="f.json", allowlist=DEFAULT)
    assert err.value.source == "f.json"
    assert err.value.key == key
    assert fragment in str(err.value)
    assert "f.json" in str(err.value)


def test_oversized_file_is_refused_before_decoding():
    with pytest.raises(BundleConfigError, match="over the"):
        parse_bundle_file(b" " * (MAX_FILE_BYTES + 1), source="big.json", allowlist=DEFAULT)


def test_allowlist_supports_exact_entries_and_globs():
    allow = Allowlist.parse("mycorp.bundles.*, airflow_bundles_ext.bundles.s3.S3DagBundle\n")
    assert allow.allows("mycorp.bundles.fancy.Bundle")
    assert allow.allows(S3)
    assert not allow.allows("airflow.dag_processing.bundles.local.LocalDagBundle")
    assert Allowlist.parse("") == Allowlist()


@pytest.mark.parametrize(
    ("name", "read"),
    [("a.json", True), (".a.json", False), ("a.json.tmp", False), ("a.json~", False), ("a.yaml", False)],
)
def test_only_visible_final_json_files_are_read(name, read):
    assert is_config_file_name(name) is read


def test_duplicate_names_lists_every_source():
    specs = [
        BundleSpec("x", S3, {}, source="b.json"),
        BundleSpec("x", S3, {}, source="a.json"),
        BundleSpec("y", S3, {}, source="c.json"),
    ]
    assert duplicate_names(specs) == {"x": ["a.json", "b.json"]}
