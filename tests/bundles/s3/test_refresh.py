"""Refresh of the processor's instance: manifest diffing, atomic publish, request counts."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from airflow_bundles_ext.errors import EmptySourceRefusedError, UnsafePathError
from tests.bundles.s3.conftest import tree

DAGS = {"a.py": "a = 1\n", "pkg/b.py": "b = 1\n", "pkg/deep/c.py": "c = 1\n"}


def test_initialize_publishes_nested_tree_at_a_stable_current_path(bucket, make_bundle):
    bucket.put(DAGS)
    bundle = make_bundle()
    bundle.initialize()
    assert bundle.path == bundle.base_dir / "current"
    assert tree(bundle.path) == {k: v.encode() for k, v in DAGS.items()}
    version = bundle.get_current_version().version
    assert os.readlink(bundle.path) == f"versions/{version}"
    assert bundle.is_initialized


def test_add_change_delete_each_publish_a_new_version_and_keep_old_trees(bucket, make_bundle):
    bucket.put(DAGS)
    bundle = make_bundle()
    bundle.initialize()
    v1 = bundle.get_current_version().version
    old_tree = tree(bundle.path)

    bucket.put({"new.py": "n = 1\n", "a.py": "a = 2\n", "pkg/b.py": None})
    bundle.refresh()
    v2 = bundle.get_current_version().version

    assert v2 != v1
    assert tree(bundle.path) == {"a.py": b"a = 2\n", "new.py": b"n = 1\n", "pkg/deep/c.py": b"c = 1\n"}
    assert tree(bundle.versions_dir / v1) == old_tree  # a published tree is never modified
    assert bundle.path == bundle.base_dir / "current"


def test_unchanged_files_are_hard_linked_from_the_published_tree(bucket, make_bundle):
    bucket.put(DAGS)
    bundle = make_bundle()
    bundle.initialize()
    v1 = bundle.get_current_version().version
    bucket.put({"a.py": "a = 2\n"})
    bundle.refresh()
    v2 = bundle.get_current_version().version
    old, new = bundle.versions_dir / v1 / "pkg/b.py", bundle.versions_dir / v2 / "pkg/b.py"
    assert os.stat(old).st_ino == os.stat(new).st_ino


def test_no_change_refresh_makes_only_list_requests(s3, bucket, make_bundle):
    bucket.put({f"d{i:02}.py": f"x = {i}\n" for i in range(25)})
    bundle = make_bundle(max_workers=8)
    bundle.objects.page_size = 10  # three LIST pages without uploading thousands of objects
    bundle.initialize()
    version = bundle.get_current_version().version
    s3.reset_counts()
    bundle.refresh()
    counts = s3.counts()
    assert counts.op("ListObjectsV2") == 3
    assert counts.total == 3, counts.requests
    assert bundle.get_current_version().version == version


def test_one_changed_object_costs_exactly_one_get(s3, bucket, make_bundle):
    bucket.put(DAGS)
    bundle = make_bundle()
    bundle.initialize()
    bucket.put({"pkg/b.py": "b = 2\n"})
    s3.reset_counts()
    bundle.refresh()
    counts = s3.counts()
    assert counts.op("GetObject") == 1
    assert counts.op("HeadObject") == 0
    assert counts.op("PutObject") == 2  # the version's manifest and its archive, for workers
    assert (bundle.path / "pkg/b.py").read_text() == "b = 2\n"


def test_same_content_gives_the_same_version(bucket, make_bundle):
    bucket.put(DAGS)
    bundle = make_bundle()
    bundle.initialize()
    v1 = bundle.get_current_version().version
    bucket.put({"a.py": "a = 2\n"})
    bundle.refresh()
    bucket.put({"a.py": "a = 1\n"})  # revert: same bytes, same ETag
    bundle.refresh()
    assert bundle.get_current_version().version == v1
    other = make_bundle(name="other", prefix="dags/")  # trailing slash is the same prefix
    other.initialize()
    assert other.get_current_version().version == v1


def test_keys_with_spaces_and_unicode(bucket, make_bundle):
    files = {"team a/dag ü é.py": "x = 1\n", "日本/ダグ.py": "y = 1\n"}
    bucket.put(files)
    bundle = make_bundle()
    bundle.initialize()
    assert tree(bundle.path) == {k: v.encode() for k, v in files.items()}


def test_empty_prefix_mirrors_the_bucket_without_the_manifests(bucket, make_bundle):
    bucket.put({"root.py": "r = 1\n", "sub/x.py": "x = 1\n"}, prefix="")
    bundle = make_bundle(prefix="")
    bundle.initialize()
    bucket.put({"root.py": "r = 2\n"}, prefix="")
    bundle.refresh()
    assert any(k.startswith("_airflow_bundles_ext/manifests/s3dags/") for k in bucket.keys())
    assert tree(bundle.path) == {"root.py": b"r = 2\n", "sub/x.py": b"x = 1\n"}


def test_two_whole_bucket_bundles_on_one_bucket_keep_their_versions(s3, bucket, make_bundle):
    """Each writes its manifests into the bucket the other one lists: neither may take them for DAGs."""
    bucket.put({"root.py": "r = 1\n"}, prefix="")
    first, second = make_bundle(name="whole-a", prefix=""), make_bundle(name="whole-b", prefix="")
    first.initialize()
    second.initialize()
    first.refresh()
    versions = (first.get_current_version().version, second.get_current_version().version)
    s3.reset_counts()
    second.refresh()
    first.refresh()
    assert (first.get_current_version().version, second.get_current_version().version) == versions
    assert s3.counts().op("PutObject") == 0
    assert tree(first.path) == tree(second.path) == {"root.py": b"r = 1\n"}


def test_no_change_refresh_hashes_once_and_reads_no_local_manifest(bucket, make_bundle, monkeypatch):
    """The processor's hot path: LIST, one hash of the listing, compare; nothing else per object."""
    from airflow_bundles_ext.bundles import s3_local
    from airflow_bundles_ext.core import manifest as mf

    bucket.put(DAGS)
    bundle = make_bundle()
    bundle.initialize()
    calls: Counter[str] = Counter()

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(mf, "content_version", counted("hash", mf.content_version))
    monkeypatch.setattr(mf, "check_collisions", counted("collisions", mf.check_collisions))
    monkeypatch.setattr(s3_local.LocalManifests, "load", counted("load", s3_local.LocalManifests.load))
    bundle.refresh()
    assert calls == {"hash": 1}


def test_folder_marker_objects_are_skipped(bucket, make_bundle):
    bucket.put({"": b"", "empty/": b"", "real.py": "r = 1\n"})
    bundle = make_bundle()
    bundle.initialize()
    assert tree(bundle.path) == {"real.py": b"r = 1\n"}


def test_emptied_prefix_is_refused_unless_allowed(bucket, make_bundle):
    bucket.put({"a.py": "a = 1\n"})
    bundle = make_bundle()
    bundle.initialize()
    v1 = bundle.get_current_version().version
    bucket.put({"a.py": None})
    with pytest.raises(EmptySourceRefusedError, match=r"s3://dag-bucket/dags/ lists no objects"):
        bundle.refresh()
    assert bundle.get_current_version().version == v1
    assert tree(bundle.path) == {"a.py": b"a = 1\n"}
    allowing = make_bundle(allow_empty=True)
    allowing.refresh()
    assert tree(allowing.path) == {}


def test_empty_prefix_on_first_refresh_publishes_an_empty_tree(bucket, make_bundle):
    bundle = make_bundle()
    bundle.initialize()
    assert bundle.path.is_dir()
    assert tree(bundle.path) == {}


def test_constructor_does_no_io(s3, bundle_storage):
    from airflow_bundles_ext.bundles.s3 import S3DagBundle

    s3.reset_counts()
    S3DagBundle(name="x", bucket_name="no-such-bucket", aws_conn_id="no_such_conn")
    assert s3.counts().total == 0
    assert list(bundle_storage.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"bucket_name": ""}, "bucket_name"),
        ({"max_workers": 0}, "max_workers"),
        ({"manifest_prefix": "/abs"}, "manifest_prefix"),
        ({"prefix": "m/x", "manifest_prefix": "m"}, "prefix"),
        ({"prefix": "_airflow_bundles_ext/manifests/other"}, "prefix"),
    ],
)
def test_invalid_kwargs_are_refused_naming_the_key(bundle_storage, kwargs, key):
    from airflow_bundles_ext.bundles.s3 import S3DagBundle
    from airflow_bundles_ext.errors import BundleConfigError

    with pytest.raises(BundleConfigError) as err:
        S3DagBundle(name="x", **{"bucket_name": "b", **kwargs})
    assert err.value.key == key


def test_unsafe_bundle_name_is_refused_before_anything_is_written(bundle_storage, tmp_path):
    from airflow_bundles_ext.bundles.s3 import S3DagBundle

    with pytest.raises(UnsafePathError, match="bundle name"):
        S3DagBundle(name="../../escape", bucket_name="b")
    assert list(bundle_storage.iterdir()) == [] and not (tmp_path / "escape").exists()
