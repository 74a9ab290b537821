"""The contract every bundle of this package keeps, whatever its source (S3, git).

Written once, run against each source (``source`` fixture in conftest.py): a reader never sees a
mix of two versions; a refresh killed in the middle of a build leaves the published tree as it
was and the next refresh heals; a pinned version is rebuilt through
``DagBundlesManager().get_bundle(name, version)`` on an empty storage root; Airflow's stale-version
cleanup never removes the published version nor one a task holds.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from airflow_bundles_ext.errors import BundlesExtError
from tests.bundles.contract_runner import digest
from tests.bundles.stale_cleanup import CleanupInProgress, race_cleanup
from tests.rig.airflow_env import wait_for

N = 120


def files(kind: str, n: int = N) -> dict[str, str | None]:
    return {f"d/{i:03}.py": f"{kind} = {i}\n" for i in range(n)}


def kinds_in(path) -> set[str]:
    base = os.path.realpath(path)
    out = set()
    for root, _, names in os.walk(base):
        for name in names:
            with open(os.path.join(root, name), "rb") as fh:
                out.add(fh.read().split(b" ")[0].decode())
    return out


def test_a_reader_sees_the_old_or_the_new_tree_never_a_mix(source):
    source.publish(files("old"))
    bundle = source.make()
    bundle.initialize()
    source.publish(files("new"))
    seen, errors, stop = [], [], threading.Event()

    def reader() -> None:
        while not stop.is_set():
            base = os.path.realpath(bundle.path)  # resolve `current` once, like a parse does
            count = sum(len(n) for _, _, n in os.walk(base))
            kinds = kinds_in(base)
            if count != N or len(kinds) != 1:
                errors.append(f"{count} files, kinds {kinds}")
            seen.append(kinds.pop() if len(kinds) == 1 else "mixed")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        wait_for(lambda: seen, timeout=30, what="a first read")
        bundle.refresh()
        wait_for(lambda: seen[-1] == "new", timeout=30, what="a read of the new tree")
    finally:
        stop.set()
        thread.join()
    assert errors == [] and seen[0] == "old"


def test_a_refresh_killed_while_building_keeps_the_published_tree_and_the_next_one_heals(
    source, bundle_storage
):
    source.publish(files("old", 12))
    bundle = source.make()
    bundle.initialize()
    before, old_digest = bundle.get_current_version().version, digest(bundle.path)
    source.publish(files("new", 12))
    source.stall_next_build()
    proc = source.start_refresh_process(bundle_storage)
    staging = bundle.base_dir / ".staging"
    try:
        wait_for(
            lambda: (staging.is_dir() and any(staging.iterdir())) or proc.poll() is not None,
            timeout=90,
            what="a refresh stalled while building",
        )
        assert proc.poll() is None, "the refresh finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        source.release()

    assert bundle.get_current_version().version == before and digest(bundle.path) == old_digest
    bundle.refresh()
    assert kinds_in(bundle.path) == {"new"} and list(staging.iterdir()) == []


def test_a_pinned_version_is_rebuilt_through_the_bundles_manager_on_an_empty_storage_root(source, tmp_path):
    source.publish(files("first", 5))
    bundle = source.make()
    bundle.initialize()
    first, first_digest = bundle.get_current_version().version, digest(bundle.path)
    source.publish(files("second", 5))
    bundle.refresh()
    assert bundle.get_current_version().version != first

    fresh = tmp_path / "fresh-worker-storage"
    answer = source.resolve_in_fresh_process(fresh, first)

    assert answer == {"version": first, "digest": first_digest}
    assert (fresh / source.name / "versions" / first).is_dir()


def test_stale_cleanup_never_removes_the_published_version_nor_one_a_task_holds(source, monkeypatch):
    from airflow.dag_processing.bundles.base import BundleUsageTrackingManager, BundleVersionLock

    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__STALE_BUNDLE_CLEANUP_MIN_VERSIONS", "0")
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__STALE_BUNDLE_CLEANUP_AGE_THRESHOLD", "0")
    source.publish(files("v1", 3))
    bundle = source.make()
    bundle.initialize()
    v1 = bundle.get_current_version().version
    source.publish(files("v2", 3))
    bundle.refresh()
    v2 = bundle.get_current_version().version
    source.publish(files("v3", 3))
    bundle.refresh()
    v3 = bundle.get_current_version().version

    task_side = source.make(version=v3)
    with BundleVersionLock(bundle_name=source.name, bundle_version=v3):  # a task on this host used v3
        task_side.initialize()
    with BundleVersionLock(bundle_name=source.name, bundle_version=v2):  # a running task holds v2
        BundleUsageTrackingManager()._remove_stale_bundle_versions_for_bundle(bundle_name=source.name)
    assert not (bundle.versions_dir / v1).exists()
    assert (bundle.versions_dir / v2).is_dir() and (bundle.versions_dir / v3).is_dir()
    assert kinds_in(bundle.path) == {"v3"}
    source.go_back(files("v1", 3), v1)  # back to a version whose tree was cleaned: rebuilt
    bundle.refresh()
    assert bundle.get_current_version().version == v1 and kinds_in(bundle.path) == {"v1"}


def test_going_back_to_a_version_a_cleanup_is_removing_rebuilds_it(source):
    source.publish(files("v1", 3))
    bundle = source.make()
    bundle.initialize()
    v1 = bundle.get_current_version().version
    source.publish(files("v2", 3))
    bundle.refresh()
    source.go_back(files("v1", 3), v1)
    cleanup = CleanupInProgress(source.name, v1, bundle.versions_dir / v1)
    race_cleanup(cleanup, bundle.refresh)
    assert bundle.get_current_version().version == v1 and kinds_in(bundle.path) == {"v1"}


def test_a_restart_while_the_source_is_down_serves_the_published_version(source):
    source.publish(files("up", 3))
    bundle = source.make()
    bundle.initialize()
    published = bundle.get_current_version().version
    source.break_source()
    restarted = source.make(**({"max_attempts": 1} if "S3" in source.classpath else {"git_timeout": 5}))
    restarted.initialize()  # logs and counts the failure, keeps serving
    assert restarted.get_current_version().version == published and kinds_in(restarted.path) == {"up"}
    with pytest.raises(BundlesExtError):
        restarted.refresh()


def test_a_pinned_instance_marks_its_version_in_use_and_cannot_be_refreshed(source):
    from airflow.dag_processing.bundles.base import get_bundle_tracking_file

    source.publish(files("only", 2))
    bundle = source.make()
    bundle.initialize()
    version = bundle.get_current_version().version
    pinned = source.make(version=version)
    pinned.initialize()
    assert get_bundle_tracking_file(bundle_name=source.name, version=version).is_file()
    assert kinds_in(pinned.path) == {"only"}
    with pytest.raises(BundlesExtError, match="pinned"):
        pinned.refresh()
