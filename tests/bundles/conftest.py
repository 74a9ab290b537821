"""The sources every bundle of this package is tested against through one contract
(tests/bundles/test_contract.py): S3 on the moto server, git over HTTP on 127.0.0.1.

A :class:`SourceRig` makes the processor's bundle, changes the source's content, stalls the next
build (to kill it), breaks the source, and gives the ``dag_bundle_config_list`` entry and the
environment a fresh process needs to resolve the same bundle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bundles.s3.conftest import Bucket
from tests.rig.git import GitRemote
from tests.rig.git_http import GitHttpServer
from tests.rig.moto import REPO_ROOT, MotoServer

S3_CLASS = "airflow_bundles_ext.bundles.s3.S3DagBundle"
GIT_CLASS = "airflow_bundles_ext.bundles.git.GitDagBundle"


class SourceRig:
    name = "cb"
    classpath: str
    subdir: str = ""  # where files land in the source relative to the bundle's root

    def kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    def publish(self, files: dict[str, str | None]) -> None:
        raise NotImplementedError

    def go_back(self, files: dict[str, str | None], version: str) -> None:
        """Make the source's latest version ``version`` again (whose content is ``files``)."""
        raise NotImplementedError

    def stall_next_build(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def break_source(self) -> None:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    def make(self, **overrides: Any) -> Any:
        from airflow_bundles_ext.integration.bundles import import_string

        return import_string(self.classpath)(name=self.name, **{**self.kwargs(), **overrides})

    def resolve_in_fresh_process(self, storage: Path, version: str | None) -> dict[str, Any]:
        """``DagBundlesManager().get_bundle(name, version).initialize()`` in a new process."""
        entry = {"name": self.name, "classpath": self.classpath, "kwargs": self.kwargs()}
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__DAG_PROCESSOR__")},
            **self.env(),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([entry]),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(storage),
            "ABX_CONTRACT": json.dumps({"name": self.name, "version": version}),
            "PYTHONPATH": str(REPO_ROOT),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "tests.bundles.contract_runner"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            cwd=REPO_ROOT,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        assert lines, f"no answer from the fresh process:\n{proc.stderr[-3000:]}"
        return json.loads(lines[-1])

    def start_refresh_process(self, storage: Path) -> subprocess.Popen[str]:
        entry = {"name": self.name, "classpath": self.classpath, "kwargs": self.kwargs()}
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__DAG_PROCESSOR__")},
            **self.env(),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps([entry]),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(storage),
            "ABX_CONTRACT": json.dumps({"name": self.name}),
            "PYTHONPATH": str(REPO_ROOT),
        }
        return subprocess.Popen(
            [sys.executable, "-m", "tests.bundles.contract_runner"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=REPO_ROOT,
        )


class S3Rig(SourceRig):
    classpath = S3_CLASS

    def __init__(self, server: MotoServer, bucket: Bucket) -> None:
        self.server, self.bucket = server, bucket

    def kwargs(self) -> dict[str, Any]:
        return {"bucket_name": self.bucket.name, "prefix": "dags", "max_attempts": 2, "max_workers": 4}

    def publish(self, files: dict[str, str | None]) -> None:
        self.bucket.put(dict(files))

    def go_back(self, files: dict[str, str | None], version: str) -> None:
        self.publish(files)  # same content, same version

    def stall_next_build(self) -> None:
        self.server.add_faults({"op": "GetObject", "action": "delay", "seconds": 30, "times": 1})

    def release(self) -> None:
        self.server.clear_faults()

    def break_source(self) -> None:
        self.server.add_faults({"op": "ListObjectsV2", "status": 500, "code": "InternalError", "times": -1})

    def env(self) -> dict[str, str]:
        return self.server.client_env()


class GitRig(SourceRig):
    classpath = GIT_CLASS
    subdir = "dags/"

    def __init__(self, server: GitHttpServer, remote: GitRemote) -> None:
        self.server, self.remote = server, remote

    def kwargs(self) -> dict[str, Any]:
        return {"tracking_ref": "main", "subdir": "dags", "repo_url": self.server.url("repo.git")}

    def publish(self, files: dict[str, str | None]) -> None:
        self.remote.commit({f"dags/{k}": v for k, v in files.items()})

    def go_back(self, files: dict[str, str | None], version: str) -> None:
        self.remote.reset_branch(version)  # the branch force-pushed back to that commit

    def stall_next_build(self) -> None:
        # ls-remote, then the fetch of commits and trees, then the batch of blobs while checking out.
        self.server.stall_fetch(2)

    def release(self) -> None:
        self.server.release()

    def break_source(self) -> None:
        self.server.fail_fetch_status = 502
        self.server.hang = True


@pytest.fixture(params=["s3", "git"])
def source(request, tmp_path, bundle_storage, monkeypatch) -> Iterator[SourceRig]:
    """Each contract test runs once per source."""
    if request.param == "s3":
        server: MotoServer = request.getfixturevalue("s3")
        yield S3Rig(server, Bucket(server, versioned=True))  # old versions stay rebuildable
        return
    root = tmp_path / "git-source"
    root.mkdir()
    remote = GitRemote(root, name="repo")
    server = GitHttpServer(root, username=None, password=None).start()
    try:
        yield GitRig(server, remote)
    finally:
        server.release()
        server.stop()
