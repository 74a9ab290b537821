"""Fuzzing the two parsers of untrusted bytes: a bundle file (watcher, validate, sidecar) and a
fetched object (the sidecar's review). Whatever the input, only the package's own error types
come out, and an accepted file is always one the policy admits."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_bundles_ext.core.bundle_config import parse_bundle_file
from airflow_bundles_ext.core.tenancy import TenancyPolicy
from airflow_bundles_ext.errors import BundleConfigError
from airflow_bundles_ext.sidecar.plan import Download, Target, review

POLICY = TenancyPolicy()
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
keys = st.sampled_from(["name", "classpath", "kwargs", "team_name", "extra"])
classpaths = st.sampled_from(
    [
        "airflow_bundles_ext.bundles.s3.S3DagBundle",
        "airflow_bundles_ext.bundles.git.GitDagBundle",
        "airflow.dag_processing.bundles.local.LocalDagBundle",
        "os.system",
    ]
)
kwarg_names = st.sampled_from(
    [
        "bucket_name",
        "prefix",
        "aws_conn_id",
        "repo_url",
        "git_conn_id",
        "git_timeout",
        "max_workers",
        "max_files",
        "manifest_prefix",
        "restricted",
        "path",
        "tracking_ref",
        "connect_timeout",
    ]
)
entries = st.fixed_dictionaries(
    {
        "name": st.just("fuzz"),
        "classpath": classpaths,
        "kwargs": st.dictionaries(kwarg_names, json_values, max_size=6),
    },
    optional={"team_name": st.none() | st.text(max_size=10)},
)


# What broke parsers before: deep nesting (RecursionError), integers past Python's digit limit
# (ValueError), NaN, lone surrogates, duplicate keys. Random bytes almost never reach these.
adversarial = st.builds(
    lambda depth, digits, tail: (
        b'{"name":"fuzz","classpath":"airflow_bundles_ext.bundles.s3.S3DagBundle","kwargs":{"x":'
        + b"[" * depth
        + b"1" * digits
        + b"]" * depth
        + tail
    ),
    st.integers(0, 3000),
    st.integers(1, 6000),
    st.sampled_from([b"}}", b"", b',"y":NaN}}', b',"y":"\\ud800"}}', b',"x":1}}', b"}" * 5000]),
)


def only_our_errors(raw: bytes) -> None:
    try:
        spec = parse_bundle_file(raw, file="fuzz.json", policy=POLICY)
    except BundleConfigError:
        return
    assert POLICY.admit(spec, "fuzz.json") == spec  # what is accepted is admitted, and stays so


@FAST
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_a_spec_or_a_bundle_config_error(raw):
    only_our_errors(raw)


@FAST
@given(adversarial)
def test_adversarial_json_gives_a_spec_or_a_bundle_config_error(raw):
    only_our_errors(raw)


@FAST
@given(st.dictionaries(keys, json_values, max_size=6))
def test_arbitrary_json_objects_give_a_spec_or_a_bundle_config_error(data):
    only_our_errors(json.dumps(data).encode())


@FAST
@given(entries)
def test_plausible_bundle_files_give_a_spec_or_a_bundle_config_error(entry):
    only_our_errors(json.dumps(entry).encode())


@FAST
@given(
    st.lists(
        st.binary(max_size=500) | adversarial | entries.map(lambda e: json.dumps(e).encode()), max_size=4
    )
)
def test_the_sidecars_review_of_any_bodies_only_accepts_or_refuses(bodies):
    fetched = [
        Download(Target("fuzz.json", f"p/{i}/fuzz.json", "e"), body, "e") for i, body in enumerate(bodies)
    ]
    accepted, rejected = review(fetched, {}, bucket="b", policy=POLICY)
    assert len(accepted) + len(rejected) == len(bodies)
