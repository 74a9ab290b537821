"""Reclaiming a removed bundle's storage waits for tasks that hold a version (real flock), and
for the grace period on processes that reclaim bundles they no longer resolve (workers)."""

from __future__ import annotations

import fcntl
import json

from airflow_bundles_ext.integration.reclaim import (
    KEPT_IN_USE,
    LOCAL_STATE,
    reclaim_bundle_storage,
    reclaim_unconfigured_storage,
)


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


# --- storage of bundles this process no longer resolves (workers: integration/cleanup.py) ---


def _state(root):
    return json.loads((root / LOCAL_STATE).read_text())["bundles"]


def test_unconfigured_bundle_is_kept_while_a_task_holds_it_then_reclaimed(bundle_storage):
    root = bundle_storage
    tracking = _bundle_tree(root, "gone")
    _bundle_tree(root, "kept")
    task_lock = open(tracking)  # a running task's BundleVersionLock
    fcntl.flock(task_lock, fcntl.LOCK_SH)
    try:
        assert reclaim_unconfigured_storage({"kept"}, root=root, grace_period=0, now=10.0) == []
        assert (root / "gone" / "versions" / "v1" / "dag.py").exists()
        assert _state(root)["gone"]["kept"] == KEPT_IN_USE
    finally:
        fcntl.flock(task_lock, fcntl.LOCK_UN)
        task_lock.close()

    assert reclaim_unconfigured_storage({"kept"}, root=root, grace_period=0, now=11.0) == ["gone"]
    assert not (root / "gone").exists() and not (root / "_tracking" / "gone").exists()
    assert (root / "kept" / "versions" / "v1").is_dir()
    assert _state(root) == {}


def test_unconfigured_bundle_waits_for_the_grace_period_counted_from_first_seen(bundle_storage):
    root = bundle_storage
    _bundle_tree(root, "gone")
    assert reclaim_unconfigured_storage(set(), root=root, grace_period=60, now=1000.0) == []
    assert _state(root) == {"gone": {"unconfigured_since": 1000.0}}
    assert reclaim_unconfigured_storage(set(), root=root, grace_period=60, now=1059.0) == []
    assert (root / "gone" / "versions").is_dir()
    assert reclaim_unconfigured_storage(set(), root=root, grace_period=60, now=1060.0) == ["gone"]
    assert not (root / "gone").exists()


def test_bundle_configured_again_before_the_grace_period_keeps_its_storage(bundle_storage):
    root = bundle_storage
    _bundle_tree(root, "flaky")
    reclaim_unconfigured_storage(set(), root=root, grace_period=60, now=1000.0)
    reclaim_unconfigured_storage({"flaky"}, root=root, grace_period=60, now=1100.0)
    assert _state(root) == {}
    # removed again: the grace period starts over
    assert reclaim_unconfigured_storage(set(), root=root, grace_period=60, now=1101.0) == []
    assert (root / "flaky" / "versions" / "v1").is_dir()


def test_directories_that_are_not_bundle_storage_are_never_touched(bundle_storage):
    root = bundle_storage
    (root / "notes").mkdir()
    (root / "notes" / "keep.txt").write_text("not a bundle")
    (root / "_bundles_ext" / "config_state").mkdir(parents=True)
    assert reclaim_unconfigured_storage(set(), root=root, grace_period=0, now=1.0) == []
    assert (root / "notes" / "keep.txt").exists() and (root / "_bundles_ext" / "config_state").is_dir()


def test_corrupt_marks_read_as_empty_and_the_grace_period_starts_over(bundle_storage):
    root = bundle_storage
    _bundle_tree(root, "gone")
    (root / LOCAL_STATE).parent.mkdir(parents=True)
    (root / LOCAL_STATE).write_text("{not json")
    assert reclaim_unconfigured_storage(set(), root=root, grace_period=60, now=5.0) == []
    assert _state(root) == {"gone": {"unconfigured_since": 5.0}}


def _patched_cleanup(monkeypatch):
    import airflow.dag_processing.bundles.base as base_module

    from airflow_bundles_ext.integration import cleanup, reclaim

    cls = base_module.BundleUsageTrackingManager
    monkeypatch.setattr(cls, "remove_stale_bundle_versions", cls.remove_stale_bundle_versions)
    monkeypatch.setattr(cls, "_bundles_ext_patched", False, raising=False)
    monkeypatch.setattr(reclaim, "_processor_reclaims", False)
    cleanup.install(base_module)
    return cls


def test_stock_stale_cleanup_also_reclaims_bundles_whose_file_is_gone(inprocess_watcher, monkeypatch):
    from airflow_bundles_ext.watcher.demo import write_bundle_file

    root = inprocess_watcher.storage
    (root / "dags").mkdir()
    write_bundle_file(inprocess_watcher.conf_dir, "stays", kwargs={"path": str(root / "dags")})
    _bundle_tree(root, "stays")
    _bundle_tree(root, "gone")
    manager_cls = _patched_cleanup(monkeypatch)

    manager_cls().remove_stale_bundle_versions()  # what a Celery worker runs every interval

    assert not (root / "gone").exists() and not (root / "_tracking" / "gone").exists()
    assert (root / "stays" / "versions" / "v1" / "dag.py").exists()


def test_stale_cleanup_in_a_watching_dag_processor_leaves_reclaim_to_the_watcher(
    inprocess_watcher, monkeypatch
):
    from airflow_bundles_ext.integration import reclaim

    root = inprocess_watcher.storage
    _bundle_tree(root, "gone")
    manager_cls = _patched_cleanup(monkeypatch)
    reclaim.processor_reclaims_here()

    manager_cls().remove_stale_bundle_versions()

    assert (root / "gone" / "versions" / "v1" / "dag.py").exists()
