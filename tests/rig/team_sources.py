"""Where a team's DAG code lives, and the bundle file that points at it.

- :class:`S3Source`: ``s3://<bucket>/<bundle>/`` on a moto server; the bundle uses the default
  ``aws_default`` connection (``MotoServer.client_env()`` points it at moto).
- :class:`ReleaseSource`: a release root ``s3://<bucket>/<bundle>/`` written by the
  ``airflow-bundle-release`` console script (what a CI pipeline runs); the bundle has
  ``release_mode=True``.
- :class:`GitSource`: a repository served anonymously over HTTP on 127.0.0.1
  (``GitHttpServer.anonymous``), DAGs under ``dags/`` next to non-DAG code; no connection.

Both write the probe DAG file (:mod:`tests.rig.probe_dags`) at a code version with
:meth:`publish`, and give the entry of ``<bundle>.json`` with :meth:`bundle_kwargs`. Bundle
files name only this package's classes, with the bundle name equal to the file stem.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Protocol

from airflow_bundles_ext.watcher.demo import write_bundle_file
from tests.rig.git import GitRemote
from tests.rig.git_http import GitHttpServer
from tests.rig.moto import MotoServer
from tests.rig.probe_dags import PROBE_FILE, probe_source
from tests.rig.sidecar import console_script

S3_CLASSPATH = "airflow_bundles_ext.bundles.s3.S3DagBundle"
GIT_CLASSPATH = "airflow_bundles_ext.bundles.git.GitDagBundle"


class TeamSource(Protocol):
    bundle: str
    classpath: str

    def publish(self, code: str) -> None: ...

    def bundle_kwargs(self) -> dict[str, Any]: ...


def _ensure_bucket(moto: MotoServer, bucket: str, *, versioned: bool) -> None:
    client = moto.boto3_client()
    if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=bucket)
        if versioned:
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


class S3Source:
    classpath = S3_CLASSPATH

    def __init__(self, moto: MotoServer, bucket: str, bundle: str, *, refresh_interval: int = 2) -> None:
        self.moto, self.bucket, self.bundle = moto, bucket, bundle
        self.refresh_interval = refresh_interval
        # Old versions stay rebuildable on a fresh worker only in a versioned bucket.
        _ensure_bucket(moto, bucket, versioned=True)

    def publish(self, code: str) -> None:
        client = self.moto.boto3_client()
        client.put_object(
            Bucket=self.bucket,
            Key=f"{self.bundle}/{PROBE_FILE}",
            Body=probe_source(self.bundle, code).encode(),
        )
        client.put_object(Bucket=self.bucket, Key=f"{self.bundle}/sql/report.sql", Body=b"select 1;\n")

    def bundle_kwargs(self) -> dict[str, Any]:
        return {"bucket_name": self.bucket, "prefix": self.bundle, "refresh_interval": self.refresh_interval}


class ReleaseSource:
    classpath = S3_CLASSPATH

    def __init__(self, moto: MotoServer, bucket: str, bundle: str, *, refresh_interval: int = 2) -> None:
        self.moto, self.bucket, self.bundle = moto, bucket, bundle
        self.refresh_interval = refresh_interval
        _ensure_bucket(moto, bucket, versioned=False)  # releases are content-addressed

    def publish(self, code: str) -> None:
        """``airflow-bundle-release publish`` of a tree holding the probe DAG at ``code``."""
        with tempfile.TemporaryDirectory(prefix="release-tree-") as tree:
            (Path(tree) / PROBE_FILE).write_text(probe_source(self.bundle, code))
            (Path(tree) / "sql").mkdir()
            (Path(tree) / "sql" / "report.sql").write_text("select 1;\n")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
            env.update({k: v for k, v in self.moto.client_env().items() if k.startswith("AWS_")})
            root = f"s3://{self.bucket}/{self.bundle}"
            proc = subprocess.run(
                [console_script("airflow-bundle-release"), "publish", tree, root],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if proc.returncode != 0:
                raise AssertionError(f"airflow-bundle-release publish: exit {proc.returncode}: {proc.stderr}")

    def bundle_kwargs(self) -> dict[str, Any]:
        return {
            "bucket_name": self.bucket,
            "prefix": self.bundle,
            "release_mode": True,
            "refresh_interval": self.refresh_interval,
        }


class GitSource:
    classpath = GIT_CLASSPATH

    def __init__(self, server: GitHttpServer, bundle: str, *, refresh_interval: int = 2) -> None:
        self.server, self.bundle = server, bundle
        self.refresh_interval = refresh_interval
        self.remote = GitRemote(server.project_root, name=bundle)

    def publish(self, code: str) -> None:
        self.remote.commit(
            {f"dags/{PROBE_FILE}": probe_source(self.bundle, code), "etl/transform.py": "ROWS = []\n"},
            message=f"probe code {code}",
        )

    @property
    def head(self) -> str:
        return self.remote.head()

    def bundle_kwargs(self) -> dict[str, Any]:
        return {
            "repo_url": self.server.url(f"{self.bundle}.git"),
            "tracking_ref": "main",
            "subdir": "dags",
            "refresh_interval": self.refresh_interval,
        }


def write_team_file(directory: Path, source: TeamSource) -> Path:
    """Write ``<directory>/<bundle>.json`` for ``source`` (atomically)."""
    return write_bundle_file(directory, source.bundle, source.classpath, source.bundle_kwargs())
