"""Injected S3 faults and bad keys: the published version stays, no debris, errors name the object."""

from __future__ import annotations

import pytest

from airflow_bundles_ext.errors import S3SourceError, UnsafePathError
from tests.bundles.s3.conftest import tree

GOOD = {"a.py": "a = 1\n", "pkg/b.py": "b = 1\n"}


@pytest.fixture
def published(bucket, make_bundle):
    """A bundle with GOOD published, and one changed object waiting in the bucket.

    The bundle keeps the default read_timeout: the rig's "reset" fault drops the connection at
    once and "truncate" closes it after part of the body, so no fault here waits for a timeout.
    """
    bucket.put(GOOD)
    bundle = make_bundle()
    bundle.initialize()
    bucket.put({"a.py": "a = 2\n"})
    return bundle


def assert_untouched(bundle, version):
    assert bundle.get_current_version().version == version
    assert tree(bundle.path) == {k: v.encode() for k, v in GOOD.items()}
    staging = bundle.base_dir / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []
    assert list(bundle.base_dir.glob(".current.*")) == []
    assert not list(bundle.base_dir.rglob("*.abx-part"))


def assert_recovers(s3, bundle):
    s3.clear_faults()
    bundle.refresh()
    assert (bundle.path / "a.py").read_text() == "a = 2\n"


PERSISTENT = [
    {"action": "status", "status": 503, "code": "ServiceUnavailable"},
    {"action": "status", "status": 503, "code": "SlowDown"},
    {"action": "status", "status": 403, "code": "AccessDenied"},
    {"action": "reset"},
    {"action": "truncate"},
]


@pytest.mark.parametrize("fault", PERSISTENT, ids=lambda f: f.get("code", f["action"]))
def test_persistent_get_fault_keeps_published_version_and_names_the_object(s3, published, fault):
    before = published.get_current_version().version
    s3.add_faults({"op": "GetObject", "key": r"a\.py$", "times": -1, **fault})
    with pytest.raises(S3SourceError, match=r"s3://dag-bucket/dags/a\.py"):
        published.refresh()
    assert_untouched(published, before)
    assert_recovers(s3, published)


@pytest.mark.parametrize(
    "fault",
    [{"action": "status", "status": 503, "code": "SlowDown"}, {"action": "reset"}, {"action": "truncate"}],
    ids=lambda f: f.get("code", f["action"]),
)
def test_one_transient_get_fault_is_retried(s3, published, fault):
    s3.add_faults({"op": "GetObject", "key": r"a\.py$", "times": 1, **fault})
    published.refresh()
    assert (published.path / "a.py").read_text() == "a = 2\n"
    assert s3.counts().op("GetObject") >= 2


def test_retries_and_re_requests_of_a_broken_body_share_one_budget(s3, published):
    """Every GET first fails with SlowDown (botocore retries), then its body breaks (we re-request):
    max_attempts=2 allows two GETs in all, not two per re-request."""
    throttled_then_cut = [
        {"op": "GetObject", "key": r"a\.py$", "times": 1, "status": 503, "code": "SlowDown"},
        {"op": "GetObject", "key": r"a\.py$", "times": 1, "action": "truncate"},
    ]
    s3.add_faults(*throttled_then_cut * 3)
    s3.reset_counts()
    with pytest.raises(S3SourceError, match=r"s3://dag-bucket/dags/a\.py"):
        published.refresh()
    assert s3.counts().op("GetObject") == 2


def test_restart_while_s3_is_down_serves_the_published_version(s3, published, make_bundle):
    before = published.get_current_version().version
    s3.add_faults({"op": "ListObjectsV2", "times": -1, "status": 503, "code": "ServiceUnavailable"})
    restarted = make_bundle()
    restarted.initialize()
    assert restarted.is_initialized
    assert_untouched(restarted, before)
    with pytest.raises(S3SourceError):
        make_bundle(name="never-published").initialize()  # nothing to serve: the error stands


def test_list_fault_names_the_prefix(s3, published):
    before = published.get_current_version().version
    s3.add_faults({"op": "ListObjectsV2", "times": -1, "status": 503, "code": "SlowDown"})
    with pytest.raises(S3SourceError, match=r"ListObjectsV2 failed: s3://dag-bucket/dags/: SlowDown"):
        published.refresh()
    assert_untouched(published, before)
    assert_recovers(s3, published)


def test_denied_manifest_upload_publishes_nothing(s3, published):
    before = published.get_current_version().version
    s3.add_faults({"op": "PutObject", "times": -1, "status": 403, "code": "AccessDenied"})
    with pytest.raises(
        S3SourceError, match=r"PutObject failed: s3://dag-bucket/_airflow_bundles_ext/.*AccessDenied"
    ):
        published.refresh()
    assert_untouched(published, before)
    assert_recovers(s3, published)


def test_missing_bucket_is_a_source_error(s3, make_bundle):
    bundle = make_bundle(bucket_name="no-such-bucket")
    with pytest.raises(S3SourceError, match=r"s3://no-such-bucket/dags/: NoSuchBucket.*check bucket_name"):
        bundle.initialize()
    assert bundle.get_current_version() is None


@pytest.mark.parametrize(
    "bad_key",
    ["dags/../escape.py", "dags/sub/../../escape.py", "dags//double.py", "dags/./dot.py"],
)
def test_path_traversal_keys_are_refused_and_nothing_lands_outside(s3, published, bundle_storage, bad_key):
    before = published.get_current_version().version
    s3.boto3_client().put_object(Bucket="dag-bucket", Key=bad_key, Body=b"evil = 1\n")
    with pytest.raises(UnsafePathError) as err:
        published.refresh()
    assert bad_key in str(err.value)
    assert_untouched(published, before)
    escaped = [p for p in bundle_storage.parent.rglob("*") if p.name.startswith(("escape", "double", "dot"))]
    assert escaped == []


def test_file_directory_collision_is_refused_naming_both_keys(s3, bucket, published):
    before = published.get_current_version().version
    bucket.put({"x.py": "x\n", "x.py/y.py": "y\n"})
    with pytest.raises(UnsafePathError, match=r"s3://dag-bucket/dags/x\.py is a file and also a directory"):
        published.refresh()
    assert_untouched(published, before)
