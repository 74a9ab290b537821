"""Fixtures of the security suite: attack files, a fresh Airflow process that resolves them, and
the real ``validate`` CLI. Each attack of issue 9 is one behaviour-named test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.bundles.s3.conftest import bucket, make_bundle  # noqa: F401 - fixtures reused here
from tests.rig.airflow_env import AirflowEnv
from tests.rig.moto import REPO_ROOT
from tests.sidecar.conftest import rig  # noqa: F401 - fixture reused here

S3 = "airflow_bundles_ext.bundles.s3.S3DagBundle"
GIT = "airflow_bundles_ext.bundles.git.GitDagBundle"
LOCAL = "airflow.dag_processing.bundles.local.LocalDagBundle"
SECRET = "s3cr3t-T0KEN-do-not-leak"


def bundle(name: str, classpath: str = S3, **kwargs: Any) -> dict[str, Any]:
    if classpath == S3:
        kwargs = {"bucket_name": "workspace", "prefix": f"etls/{name}/dags", **kwargs}
    return {"name": name, "classpath": classpath, "kwargs": kwargs}


def write(directory: Path, file: str, content: dict[str, Any] | bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    (directory / file).write_bytes(data)


def resolve(env: AirflowEnv, *, initialize: bool = False, **extra: str) -> tuple[dict[str, Any], str]:
    """Resolve bundles in a fresh Airflow process; returns its answer and everything it printed."""
    args = [sys.executable, "-m", "tests.security.resolver"] + (["--initialize"] if initialize else [])
    proc = subprocess.run(
        args,
        env={**env.env(**extra), "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"the fresh process failed:\n{output[-4000:]}"
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESOLVER-JSON "))
    return json.loads(line[len("RESOLVER-JSON ") :]), output


def validate(env: AirflowEnv, directory: Path, **extra: str) -> tuple[dict[str, dict[str, str]], str]:
    """``airflow bundles-ext validate DIR -o json`` through the real CLI: rows by file, and the output."""
    proc = env.airflow("bundles-ext", "validate", str(directory), "-o", "json", check=False, **extra)
    out = proc.stdout
    start = 0 if out.startswith("[") else out.index("\n[") + 1
    return {r["file"]: r for r in json.loads(out[start:])}, proc.stdout + proc.stderr
