"""Reclaiming a removed bundle's storage waits for tasks that hold a version (real flock)."""

from __future__ import annotations

import fcntl

from airflow_bundles_ext.integration.reclaim import reclaim_bundle_storage


def _bundle_tree(root, name="gone", version="v1"):
    (root / name / "versions" / version).mkdir(parents=True)
    (root / name / "versions" / version / "dag.py").write_text("x = 1\n")
    tracking = root / "_tracking" / name / version
    tracking.parent.mkdir(parents=True)
    tracking.write_text("2026-01-01T00:00:00+00:00")
    return tracking


def test_storage_is_kept_while_a_task_holds_a_version_then_reclaimed(bundle_storage):
    tmp_path = bundle_storage
    tracking = _bundle_tree(tmp_path)
    (tmp_path / "other" / "versions").mkdir(parents=True)
    task_lock = open(tracking)  # what BundleVersionLock does in a running task
    fcntl.flock(task_lock, fcntl.LOCK_SH)
    try:
        assert reclaim_bundle_storage("gone") is False
        assert (tmp_path / "gone" / "versions" / "v1" / "dag.py").exists()
    finally:
        fcntl.flock(task_lock, fcntl.LOCK_UN)
        task_lock.close()

    assert reclaim_bundle_storage("gone") is True
    assert not (tmp_path / "gone").exists() and not (tmp_path / "_tracking" / "gone").exists()
    assert (tmp_path / "other" / "versions").is_dir()


def test_reclaim_of_a_bundle_without_storage_succeeds(bundle_storage):
    assert reclaim_bundle_storage("never-refreshed") is True
