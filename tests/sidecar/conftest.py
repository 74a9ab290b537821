"""Fixtures for the sidecar tests: a config bucket on the moto server and the real console script.

Every sidecar subprocess runs with an ``airflow`` package first on ``PYTHONPATH`` that
records its import and raises, so each test also proves the sidecar never imports Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.rig.moto import MotoServer
from tests.rig.sidecar import Sidecar, run_sync, sidecar_env

BUCKET = "bundle-config"
PREFIX = "airflow/dag-bundles/"
LOCAL_CLASSPATH = "airflow.dag_processing.bundles.local.LocalDagBundle"
S3_CLASSPATH = "airflow_bundles_ext.bundles.s3.S3DagBundle"
WITH_LOCAL = f"{S3_CLASSPATH},{LOCAL_CLASSPATH}"
"""An allow-list that lets the platform's files use LocalDagBundle (the e2e test parses real DAGs)."""

_BLOCKER = """
import os
open(os.environ["AIRFLOW_IMPORT_MARKER"], "a").write("imported\\n")
raise ImportError("the sidecar must not import airflow")
"""


def bundle_json(name: str, path: str = "/dags", classpath: str = S3_CLASSPATH) -> bytes:
    """A bundle file: our S3 bundle on prefix ``path`` (or, with ``LOCAL_CLASSPATH``, that local path)."""
    kwargs = (
        {"path": path} if classpath == LOCAL_CLASSPATH else {"bucket_name": "dags", "prefix": path.strip("/")}
    )
    return json.dumps({"name": name, "classpath": classpath, "kwargs": kwargs}, indent=1).encode()


class SyncRig:
    """A bucket, a watched directory and a health file, and ways to run the sidecar on them."""

    def __init__(self, s3: MotoServer, root: Path) -> None:
        self.s3 = s3
        self.client = s3.boto3_client()
        self.client.create_bucket(Bucket=BUCKET)
        self.root = root
        self.dir = root / "dag-bundles-conf"
        self.health_file = root / "sync-health"
        self.marker = root / "airflow-imported"
        blocker = root / "blocker" / "airflow"
        blocker.mkdir(parents=True)
        (blocker / "__init__.py").write_text(_BLOCKER)
        self.sidecars: list[Sidecar] = []

    def put(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=BUCKET, Key=PREFIX + name, Body=data)

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=BUCKET, Key=PREFIX + name)

    def env(self, mode: str = "once", interval: float = 0.2, **extra: str) -> dict[str, str]:
        env = sidecar_env(
            self.s3.endpoint,
            BUCKET,
            PREFIX,
            self.dir,
            health_file=self.health_file,
            mode=mode,
            interval=interval,
        )
        env.update(
            {"PYTHONPATH": str(self.root / "blocker"), "AIRFLOW_IMPORT_MARKER": str(self.marker), **extra}
        )
        return env

    def once(self, *args: str, **extra: str) -> Any:
        return run_sync(self.env("once", **extra), *args)

    def start(self, interval: float = 0.2, **extra: str) -> Sidecar:
        sidecar = Sidecar(
            self.env("sidecar", interval, **extra), self.root / f"sidecar-{len(self.sidecars)}.log"
        )
        self.sidecars.append(sidecar)
        return sidecar

    def files(self) -> dict[str, bytes]:
        """Every entry of the watched directory except the hidden state file."""
        return {
            p.name: p.read_bytes()
            for p in sorted(self.dir.iterdir())
            if p.name != ".airflow-bundle-sync.state"
        }

    def stamps(self) -> dict[str, tuple[int, int]]:
        """(inode, mtime_ns) of each bundle file: both change when a file is rewritten."""
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in self.dir.glob("*.json")}

    def health(self) -> dict[str, Any]:
        return json.loads(self.health_file.read_text())


@pytest.fixture
def rig(s3: MotoServer, tmp_path: Path) -> Iterator[SyncRig]:
    rig = SyncRig(s3, tmp_path)
    try:
        yield rig
    finally:
        for sidecar in rig.sidecars:
            sidecar.stop()
    assert not rig.marker.exists(), "the sidecar imported airflow"
