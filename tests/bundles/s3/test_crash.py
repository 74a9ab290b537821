"""Readers during a refresh, and refreshes killed with SIGKILL at several points."""

from __future__ import annotations

import os
import signal

import pytest

from tests.bundles.s3.conftest import start_bundle, tree, tree_digest
from tests.rig.airflow_env import wait_for

N = 200


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
