from __future__ import annotations

import os

import pytest

from airflow_bundles_ext.errors import PublishError
from airflow_bundles_ext.publish import VersionStore, atomic_write


def make_store(tmp_path):
    base = tmp_path / "bundle"
    return VersionStore(base, base / "versions")


def test_stage_then_publish_points_current_at_the_complete_tree(tmp_path):
    store = make_store(tmp_path)
    with store.stage("v1") as staging:
        (staging / "a.py").write_text("1")
    store.publish("v1")
    assert store.published_version() == "v1"
    assert (store.current_link / "a.py").read_text() == "1"
    assert os.readlink(store.current_link) == "versions/v1"


def test_failed_stage_leaves_no_version_and_no_debris(tmp_path):
    store = make_store(tmp_path)
    with pytest.raises(RuntimeError), store.stage("v2") as staging:
        (staging / "half.py").write_text("x")
        raise RuntimeError("download failed")
    assert not store.has("v2")
    assert list(store.staging_root.iterdir()) == []


def test_republish_flips_link_and_leaves_old_tree_untouched(tmp_path):
    store = make_store(tmp_path)
    for version, content in (("v1", "old"), ("v2", "new")):
        with store.stage(version) as staging:
            (staging / "a.py").write_text(content)
    store.publish("v1")
    store.publish("v2")
    assert (store.current_link / "a.py").read_text() == "new"
    assert (store.version_dir("v1") / "a.py").read_text() == "old"


def test_sweep_removes_crash_debris_but_not_versions(tmp_path):
    store = make_store(tmp_path)
    with store.stage("v1") as staging:
        (staging / "a.py").write_text("1")
    store.publish("v1")
    (store.staging_root / "v2.123.abcd").mkdir()
    os.symlink("versions/v1", store.base_dir / ".current.123.beef.tmp")
    removed = store.sweep()
    assert len(removed) == 2
    assert store.published_version() == "v1"
    assert list(store.staging_root.iterdir()) == []


def test_publish_of_missing_version_raises(tmp_path):
    with pytest.raises(PublishError, match="does not exist"):
        make_store(tmp_path).publish("nope")


def test_atomic_write_replaces_content_and_leaves_no_temp(tmp_path):
    target = tmp_path / "x.json"
    atomic_write(target, b"1")
    atomic_write(target, b"2")
    assert target.read_bytes() == b"2"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
