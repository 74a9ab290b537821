"""Readers during a refresh, and refreshes killed with SIGKILL at several points."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from tests.bundles.s3.conftest import start_bundle, tree, tree_digest
from tests.rig.airflow_env import wait_for

N = 200


def test_reader_sees_the_old_or_the_new_tree_never_a_mix(bucket, make_bundle):
    old = {f"d/{i:03}.py": f"old = {i}\n" for i in range(N)}
    new = {f"d/{i:03}.py": f"new = {i}\n" for i in range(N)}
    bucket.put(old)
    bundle = make_bundle(max_workers=4)
    bundle.initialize()
    bucket.put(new)
    seen: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            snapshot = tree(bundle.path)  # resolves `current` once, then reads every file
            kinds = {data.split(b" ")[0] for data in snapshot.values()}
            if len(snapshot) != N or len(kinds) != 1:
                errors.append(f"{len(snapshot)} files, kinds {kinds}")
            seen.append(kinds.pop().decode() if len(kinds) == 1 else "mixed")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        wait_for(lambda: seen, timeout=30, what="a first read")
        bundle.refresh()
        wait_for(lambda: seen[-1] == "new", timeout=30, what="a read of the new tree")
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert seen[0] == "old"


KILL_POINTS = {
    # name: (fault that stalls the refresh there, how to tell the runner is stalled there)
    "listing": ({"op": "ListObjectsV2"}, lambda c: c.op("ListObjectsV2") >= 1),
    "mid-download": ({"op": "GetObject", "key": r"d/05\.py$"}, lambda c: c.op("GetObject") >= 12),
    "manifest-upload": ({"op": "PutObject", "key": "manifests"}, lambda c: c.op("PutObject") >= 1),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_during_refresh_keeps_a_complete_version_and_the_next_refresh_recovers(
    s3, bucket, make_bundle, point
):
    old = {f"d/{i:02}.py": f"old = {i}\n" for i in range(12)}
    bucket.put(old)
    bundle = make_bundle()
    bundle.initialize()
    before = bundle.get_current_version().version
    old_digest = tree_digest(bundle.path)
    bucket.put({f"d/{i:02}.py": f"new = {i}\n" for i in range(12)})

    fault, stalled = KILL_POINTS[point]
    s3.reset_counts()
    s3.add_faults({**fault, "action": "delay", "seconds": 30, "times": 1})
    proc = start_bundle("--name", "s3dags", "--bucket", "dag-bucket", "--max-workers", "4")
    try:
        wait_for(
            lambda: stalled(s3.counts()) or proc.poll() is not None, timeout=90, what=f"stall at {point}"
        )
        assert proc.poll() is None, "the refresh finished before it could be killed"
        if point != "listing":
            assert list((bundle.base_dir / ".staging").iterdir()), "the kill must land while a tree is staged"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()

    # `current` still serves the complete old version.
    assert bundle.get_current_version().version == before
    assert tree_digest(bundle.path) == old_digest
    # The next refresh sweeps the debris and publishes the new content.
    s3.clear_faults()
    bundle.refresh()
    assert set(tree(bundle.path).values()) == {f"new = {i}\n".encode() for i in range(12)}
    assert list((bundle.base_dir / ".staging").iterdir()) == []
