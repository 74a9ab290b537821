"""SIGKILL during clone, fetch and checkout (in a subprocess); the next refresh heals.

The HTTP server stalls a chosen fetch request half-way through its response, so the kill lands
while git is writing into the object store, deterministically.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from airflow_bundles_ext.bundles.git import GitDagBundle
from tests.bundles.git.conftest import tree

_CHILD = """
import json, sys
from airflow_bundles_ext.bundles.git import GitDagBundle
kwargs = json.loads(sys.argv[1])
b = GitDagBundle(**kwargs)
b.initialize()
b.refresh()
"""


def kwargs_for(server, conn_id) -> dict:
    return {
        "name": "kb",
        "tracking_ref": "main",
        "subdir": "dags",
        "git_conn_id": conn_id,
        "repo_url": server.url("repo.git"),
    }


def run_and_kill(server, kwargs: dict) -> None:
    """Start a refresh in a child process, wait until the stalled fetch is mid-transfer, SIGKILL it."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps(kwargs)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=os.getcwd(),
    )
    try:
        assert server.stalled.wait(120), "the child never reached the stalled fetch"
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(30)
        server.release()


def test_sigkill_during_clone_then_next_initialize_heals(bundle_storage, http_remote, http_conn):
    server, remote = http_remote()
    sha = remote.commit({"dags/a.py": "a\n"})
    kwargs = kwargs_for(server, http_conn())
    server.stall_fetch(1)
    run_and_kill(server, kwargs)
    assert not (bundle_storage / "kb" / "current").exists()
    b = GitDagBundle(**kwargs)
    b.initialize()
    assert (b.get_current_version().version, tree(b.path)) == (sha, {"a.py": "a\n"})
    assert list((b.base_dir / ".staging").iterdir()) == []


@pytest.mark.parametrize("stalled_fetch", [1, 2], ids=["during-fetch", "during-checkout-blob-fetch"])
def test_sigkill_during_refresh_keeps_published_tree_and_next_refresh_heals(
    bundle_storage, http_remote, http_conn, stalled_fetch
):
    server, remote = http_remote()
    first = remote.commit({"dags/a.py": "a\n"})
    kwargs = kwargs_for(server, http_conn())
    b = GitDagBundle(**kwargs)
    b.initialize()
    second = remote.commit({"dags/a.py": "b\n", "dags/new.py": "n\n"})
    server.stall_fetch(stalled_fetch)
    run_and_kill(server, kwargs)
    assert (b.get_current_version().version, tree(b.path)) == (first, {"a.py": "a\n"})
    assert not (b.versions_dir / second).exists()
    if stalled_fetch == 2:  # killed inside the checkout: a half-built staging tree is left behind
        assert list((b.base_dir / ".staging").iterdir())
    b.refresh()
    assert (b.get_current_version().version, tree(b.path)) == (second, {"a.py": "b\n", "new.py": "n\n"})
    assert list((b.base_dir / ".staging").iterdir()) == []
