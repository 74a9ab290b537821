"""The ``airflow-bundle-release`` console script against the moto server: a release root, a tree
to publish, and a runner that returns the JSON the script printed (and its exit code)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.rig.moto import MotoServer
from tests.rig.sidecar import console_script

BUCKET = "release-bucket"
ROOT = f"s3://{BUCKET}/etls/project-a/dags"


@dataclass
class Run:
    code: int
    out: dict[str, Any]
    stderr: str


class ReleaseRig:
    def __init__(self, s3: MotoServer, tmp_path: Path) -> None:
        self.s3 = s3
        self.client = s3.boto3_client()
        self.client.create_bucket(Bucket=BUCKET)
        self.tree = tmp_path / "workspace" / "dags"
        self.tree.mkdir(parents=True)

    def write(self, files: dict[str, str | None]) -> None:
        for rel, body in files.items():
            path = self.tree / rel
            if body is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(body)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
        return {**env, **{k: v for k, v in self.s3.client_env().items() if k.startswith("AWS_")}}

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [console_script("airflow-bundle-release"), *args],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str) -> Run:
        proc = subprocess.run(
            [console_script("airflow-bundle-release"), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        out = json.loads(proc.stdout) if proc.stdout.strip() else {}
        return Run(proc.returncode, out, proc.stderr)

    def publish(self, *extra: str) -> Run:
        return self.run("publish", str(self.tree), ROOT, *extra)

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", ())]


@pytest.fixture
def release(s3, tmp_path) -> ReleaseRig:
    return ReleaseRig(s3, tmp_path)
