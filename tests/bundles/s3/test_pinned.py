"""A worker given only (bundle name, version) rebuilds exactly that version's tree."""

from __future__ import annotations

import pytest

from airflow_bundles_ext.compat.airflow import version_string
from airflow_bundles_ext.errors import VersionUnavailableError
from tests.bundles.s3.conftest import Bucket, tree

V1 = {"a.py": "a = 1\n", "pkg/b.py": "b = 1\n", "pkg/c.py": "c = 1\n"}


def current_version(bundle) -> str:
    """The version string on either Airflow line (3.3 returns BundleVersion, 3.2 the string)."""
    return version_string(bundle.get_current_version())


def publish_two_versions(bucket, make_bundle):
    bucket.put(V1)
    processor = make_bundle()
    processor.initialize()
    v1 = current_version(processor)
    bucket.put({"a.py": "a = 2\n", "pkg/b.py": None, "new.py": "n = 1\n"})
    processor.refresh()
    return v1, current_version(processor)


def test_versioned_bucket_rebuilds_an_old_version_by_version_id(s3, make_bundle, fresh_root):
    bucket = Bucket(s3, versioned=True)
    v1, v2 = publish_two_versions(bucket, lambda **kw: make_bundle(packed=False, **kw))
    assert v1 != v2
    fresh_root()
    s3.reset_counts()
    worker = make_bundle(version=v1, packed=False)
    worker.initialize()
    assert worker.path == worker.versions_dir / v1
    assert tree(worker.path) == {k: v.encode() for k, v in V1.items()}
    assert current_version(worker) == v1
    assert s3.counts().op("GetObject") == 1 + len(V1)  # the manifest, then each object once
    assert s3.counts().op("ListObjectsV2") == 0


def test_unversioned_bucket_rebuilds_an_unchanged_version(s3, bucket, make_bundle, fresh_root):
    bucket.put(V1)
    processor = make_bundle()
    processor.initialize()
    version = current_version(processor)
    fresh_root()
    worker = make_bundle(version=version)
    worker.initialize()
    assert tree(worker.path) == {k: v.encode() for k, v in V1.items()}


def test_unversioned_bucket_with_a_changed_object_says_which_and_what_to_do(bucket, make_bundle, fresh_root):
    v1, _ = publish_two_versions(bucket, lambda **kw: make_bundle(packed=False, **kw))
    fresh_root()
    worker = make_bundle(version=v1, packed=False)
    with pytest.raises(VersionUnavailableError) as err:
        worker.initialize()
    message = str(err.value)
    assert "s3://dag-bucket/dags/a.py" in message or "s3://dag-bucket/dags/pkg/b.py" in message
    assert "not versioned" in message or "no longer exists" in message
    assert "enable bucket versioning" in message
    assert not worker.path.exists()
    assert list((worker.base_dir / ".staging").iterdir()) == []


def test_missing_manifest_is_reported(bucket, make_bundle, fresh_root):
    bucket.put(V1)
    fresh_root()
    worker = make_bundle(version="0123456789abcdef0123456789abcdef")
    with pytest.raises(
        VersionUnavailableError,
        match=r"manifests/s3dags/0123456789abcdef0123456789abcdef\.json.*"
        r"no longer exists",
    ):
        worker.initialize()


def test_denied_manifest_read_is_reported(s3, bucket, make_bundle, fresh_root):
    bucket.put(V1)
    processor = make_bundle()
    processor.initialize()
    version = current_version(processor)
    fresh_root()
    s3.add_faults({"op": "GetObject", "key": "manifests", "times": -1, "status": 403, "code": "AccessDenied"})
    with pytest.raises(VersionUnavailableError, match=r"AccessDenied: the connection may not read it"):
        make_bundle(version=version).initialize()


def test_pinned_version_already_on_disk_costs_no_request(s3, bucket, make_bundle):
    bucket.put(V1)
    processor = make_bundle()
    processor.initialize()
    version = current_version(processor)
    s3.reset_counts()
    worker = make_bundle(version=version)
    worker.initialize()
    assert s3.counts().total == 0
    assert tree(worker.path) == tree(processor.path)


def test_pinned_rebuild_on_a_processor_host_links_what_the_published_tree_has(s3, make_bundle):
    import shutil

    bucket = Bucket(s3, versioned=True)
    v1, _ = publish_two_versions(bucket, make_bundle)
    shutil.rmtree(make_bundle().versions_dir / v1)  # as Airflow's stale-version cleanup would
    s3.reset_counts()
    worker = make_bundle(version=v1)
    worker.initialize()
    assert tree(worker.path) == {k: v.encode() for k, v in V1.items()}
    assert s3.counts().op("GetObject") == 1 + 2  # manifest, a.py (changed) and pkg/b.py (deleted since)
