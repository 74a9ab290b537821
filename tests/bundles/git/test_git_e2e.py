"""End to end: the stock ``airflow dag-processor`` parses a git bundle from the static config list."""

from __future__ import annotations

import pytest

from tests.rig.git import git
from tests.rig.git_demo import make_demo_git_bundle, push_demo_change


@pytest.mark.e2e
def test_stock_dag_processor_parses_git_bundle_and_follows_new_commits(
    airflow_env, start_processor, tmp_path
):
    root = tmp_path / "demo-remote"
    entry = make_demo_git_bundle(root, name="gitdemo", dag_ids=("git_e2e_a",))
    first = git("rev-parse", "HEAD", cwd=root / "gitdemo-work")
    airflow_env.set_bundles([entry])
    proc = start_processor(airflow_env)
    dag = proc.wait_for(
        lambda: airflow_env.dags("gitdemo").get("git_e2e_a"), timeout=120, what="DAG git_e2e_a"
    )
    assert (dag.bundle_version, dag.relative_fileloc) == (first, "git_e2e_a.py")
    second = push_demo_change(root, "git_e2e_b", name="gitdemo")
    dag_b = proc.wait_for(
        lambda: airflow_env.dags("gitdemo").get("git_e2e_b"), timeout=90, what="DAG git_e2e_b"
    )
    assert dag_b.bundle_version == second
    assert airflow_env.bundles()["gitdemo"].version == second
    assert (airflow_env.storage_path / "gitdemo" / "current").resolve().name == second
    proc.stop()
