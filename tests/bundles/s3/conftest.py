"""Fixtures for the S3 bundle tests: a bucket on the session's moto server, bundle factory, tree helpers."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.rig.moto import REPO_ROOT, MotoServer

BUCKET = "dag-bucket"


class Bucket:
    """A bucket on the moto server, written through a plain boto3 client (no retries)."""

    def __init__(self, server: MotoServer, name: str = BUCKET, *, versioned: bool = False) -> None:
        self.server = server
        self.name = name
        self.client = server.boto3_client()
        self.client.create_bucket(Bucket=name)
        if versioned:
            self.client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})

    def put(self, files: dict[str, str | bytes | None], prefix: str = "dags/") -> None:
        """Upload (str/bytes) or delete (None) keys under ``prefix``."""
        for rel, body in files.items():
            if body is None:
                self.client.delete_object(Bucket=self.name, Key=prefix + rel)
            else:
                data = body.encode() if isinstance(body, str) else body
                self.client.put_object(Bucket=self.name, Key=prefix + rel, Body=data)

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", ())]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (symlinks followed at the root only) by relative path."""
    base = Path(os.path.realpath(root))
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for rel, data in tree(root).items():
        digest.update(rel.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


@pytest.fixture
def bucket(s3: MotoServer) -> Bucket:
    return Bucket(s3)


@pytest.fixture
def make_bundle(bundle_storage: Path) -> Callable[..., Any]:
    """``make_bundle(name="s3dags", prefix="dags", **kwargs)`` -> S3DagBundle on the test's storage root."""
    from airflow_bundles_ext.bundles.s3 import S3DagBundle

    def make(name: str = "s3dags", **kwargs: Any) -> S3DagBundle:
        kwargs.setdefault("bucket_name", BUCKET)
        kwargs.setdefault("prefix", "dags")
        kwargs.setdefault("max_attempts", 2)  # keeps botocore's backoff short in fault tests
        return S3DagBundle(name=name, **kwargs)

    return make


def run_bundle(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> dict[str, Any]:
    """Run :mod:`tests.bundles.s3.runner` in a subprocess and return its JSON answer."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bundles.s3.runner", *args],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"runner printed no answer (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1])


def start_bundle(*args: str) -> subprocess.Popen[str]:
    """Start the runner without waiting (for kill tests). The caller kills and reaps it."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.bundles.s3.runner", *args],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.fixture
def fresh_root(tmp_path, monkeypatch):
    """Switch to an empty storage root, as on a fresh worker pod."""

    def switch(name: str = "worker"):
        import airflow.dag_processing.bundles.base as base

        root = tmp_path / name
        root.mkdir()
        monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH", str(root))
        monkeypatch.setattr(base, "STALE_BUNDLE_TRACKING_FOLDER", root / "_tracking")
        return root

    return switch
