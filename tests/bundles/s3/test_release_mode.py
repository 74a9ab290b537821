"""``S3DagBundle(release_mode=True)`` on a release root written by ``airflow-bundle-release``:
a no-change refresh is one conditional GET; a new release or a rollback is served at the next
refresh; a half-published release is never visible; fresh workers build releases from archives."""

from __future__ import annotations

import os
import signal

import pytest

from tests.bundles.s3.conftest import tree
from tests.release.conftest import BUCKET, ROOT, ReleaseRig
from tests.rig.airflow_env import wait_for

FILES = {f"team/{i:03}.py": f"x = {i}\n" * 10 for i in range(30)}


@pytest.fixture
def release(s3, tmp_path) -> ReleaseRig:
    return ReleaseRig(s3, tmp_path)


def released(make_bundle, **kwargs):
    return make_bundle(bucket_name=BUCKET, prefix="etls/project-a/dags", release_mode=True, **kwargs)


def test_a_no_change_refresh_is_one_conditional_get(release, make_bundle):
    release.write(FILES)
    v1 = release.publish().out["version"]
    bundle = released(make_bundle)
    bundle.initialize()
    assert (
        bundle.get_current_version().version == v1
        and tree(bundle.path)["team/000.py"] == FILES["team/000.py"].encode()
    )
    release.s3.reset_counts()
    for _ in range(3):
        bundle.refresh()
    assert release.s3.counts().requests == {"GET:GetObject": 3}  # the pointer, answered 304
    assert bundle.get_current_version().data["release"].endswith(f"/manifests/{v1}.json")


def test_a_new_release_then_a_rollback_are_served_at_the_next_refresh(release, make_bundle):
    release.write(FILES)
    v1 = release.publish().out["version"]
    bundle = released(make_bundle)
    bundle.initialize()
    release.write({"team/000.py": "second = 1\n"})
    v2 = release.publish().out["version"]
    release.s3.reset_counts()
    bundle.refresh()
    assert (
        bundle.get_current_version().version == v2
        and (bundle.path / "team/000.py").read_text() == "second = 1\n"
    )
    assert release.s3.counts().op("GetObject") == 3  # pointer, manifest, archive
    assert release.run("rollback", ROOT, v1).code == 0
    release.s3.reset_counts()
    bundle.refresh()
    assert (
        bundle.get_current_version().version == v1
        and (bundle.path / "team/000.py").read_text() == FILES["team/000.py"]
    )
    assert release.s3.counts().op("GetObject") == 1  # the pointer: v1's tree was still on disk


def test_a_half_published_release_is_never_visible(release, make_bundle):
    release.write(FILES)
    v1 = release.publish().out["version"]
    bundle = released(make_bundle)
    bundle.initialize()
    release.write({f"team/{i:03}.py": f"new = {i}\n" for i in range(30)})  # 30 objects to upload
    release.s3.add_faults(
        {"op": "PutObject", "key": "/objects/", "action": "delay", "seconds": 30, "times": 1}
    )
    release.s3.reset_counts()
    publisher = release.start("publish", str(release.tree), ROOT)
    try:
        wait_for(lambda: release.s3.counts().op("PutObject") >= 3, timeout=60, what="the publish mid-upload")
        assert publisher.poll() is None, "the publish ended before it could be killed"
        os.kill(publisher.pid, signal.SIGKILL)
    finally:
        publisher.kill()
        publisher.communicate()
    bundle.refresh()
    assert (
        bundle.get_current_version().version == v1
        and tree(bundle.path)["team/001.py"] == FILES["team/001.py"].encode()
    )


def test_a_fresh_worker_builds_an_old_release_from_its_archive_or_from_objects(
    release, make_bundle, tmp_path, monkeypatch
):
    import airflow.dag_processing.bundles.base as base

    release.write(FILES)
    v1 = release.publish().out["version"]
    release.write({"team/000.py": "second\n"})
    release.publish()
    root = tmp_path / "worker"
    root.mkdir()
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH", str(root))
    monkeypatch.setattr(base, "STALE_BUNDLE_TRACKING_FOLDER", root / "_tracking")
    release.s3.reset_counts()
    worker = released(make_bundle, version=v1)
    worker.initialize()
    assert tree(worker.path)["team/000.py"] == FILES["team/000.py"].encode()
    assert release.s3.counts().total == 2  # the release's manifest and archive

    release.client.delete_object(Bucket=BUCKET, Key=f"etls/project-a/dags/_releases/archives/{v1}.tar.zst")
    other = tmp_path / "worker-2"
    other.mkdir()
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH", str(other))
    monkeypatch.setattr(base, "STALE_BUNDLE_TRACKING_FOLDER", other / "_tracking")
    again = released(make_bundle, version=v1)
    again.initialize()
    assert tree(again.path) == {k: v.encode() for k, v in FILES.items()}


def test_no_release_yet_is_a_clear_error(release, make_bundle):
    with pytest.raises(
        Exception,
        match="no release at s3://release-bucket/etls/project-a/dags/.*airflow-bundle-release publish",
    ):
        released(make_bundle).initialize()
