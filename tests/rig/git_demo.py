"""Demo hook: a small local git remote with DAGs, and the bundle config entry that tracks it.

``entry = make_demo_git_bundle(Path("/tmp/demo"))`` builds ``/tmp/demo/git-demo.git`` (a bare
repository with ``dags/`` and some non-DAG ``etl/`` code, served as ``file://``) and returns the
``dag_bundle_config_list`` entry. ``push_demo_change(root, dag_id)`` adds a DAG and returns
the new commit SHA, to show a refresh publishing a new version.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

_ENV = {
    "GIT_AUTHOR_NAME": "demo",
    "GIT_AUTHOR_EMAIL": "demo@example.invalid",
    "GIT_COMMITTER_NAME": "demo",
    "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}

_DAG = (
    "from airflow.sdk import DAG\n"
    "from airflow.providers.standard.operators.empty import EmptyOperator\n\n"
    "with DAG(dag_id={dag_id!r}, schedule=None):\n    EmptyOperator(task_id='hello')\n"
)


def _git(*args: str, cwd: Path) -> str:
    env = {**os.environ, **_ENV, "HOME": str(cwd)}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout.strip()


def make_demo_git_bundle(
    root: Path, name: str = "git-demo", dag_ids: tuple[str, ...] = ("git_demo_hello",)
) -> dict[str, Any]:
    """Create the demo remote under ``root`` and return its bundle config entry."""
    bare, work = root / f"{name}.git", root / f"{name}-work"
    root.mkdir(parents=True, exist_ok=True)
    _git("init", "-q", "--bare", "-b", "main", str(bare), cwd=root)
    _git("config", "uploadpack.allowFilter", "true", cwd=bare)
    _git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=bare)
    _git("init", "-q", "-b", "main", str(work), cwd=root)
    for dag_id in dag_ids:
        (work / "dags").mkdir(exist_ok=True)
        (work / "dags" / f"{dag_id}.py").write_text(_DAG.format(dag_id=dag_id))
    (work / "etl").mkdir(exist_ok=True)
    (work / "etl" / "transform.py").write_text("def transform(rows):\n    return rows\n")
    _commit(work, "initial DAGs")
    return {
        "name": name,
        "classpath": "airflow_bundles_ext.bundles.git.GitDagBundle",
        "kwargs": {"repo_url": f"file://{bare}", "tracking_ref": "main", "subdir": "dags"},
    }


def push_demo_change(root: Path, dag_id: str, name: str = "git-demo") -> str:
    """Add a DAG to the demo remote; return the new commit SHA (the next bundle version)."""
    work = root / f"{name}-work"
    (work / "dags" / f"{dag_id}.py").write_text(_DAG.format(dag_id=dag_id))
    return _commit(work, f"add {dag_id}")


def _commit(work: Path, message: str) -> str:
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", message, cwd=work)
    _git(
        "push",
        "-q",
        str(work.parent / f"{work.name.removesuffix('-work')}.git"),
        "HEAD:refs/heads/main",
        cwd=work,
    )
    return _git("rev-parse", "HEAD", cwd=work)
