"""The stock ``airflow dag-processor`` with attack files in its watched directory: it starts, keeps
running, parses the good team's DAGs, and writes no secret to its state or its log."""

from __future__ import annotations

import pytest

from airflow_bundles_ext.watcher.demo import activation_env
from tests.rig.airflow_env import dag_source
from tests.security.conftest import GIT, SECRET, bundle, write

pytestmark = pytest.mark.e2e


def test_attack_files_never_stop_the_processor_nor_reach_its_state(
    s3, bucket, airflow_env, start_processor, tmp_path
):
    bucket.put({"hello.py": dag_source("good_team_hello")}, prefix="etls/good/dags/")
    conf = tmp_path / "conf"
    write(conf, "a-nested.json", b"[" * 200_000)  # sorts before the good file
    write(conf, "a-bigint.json", b'{"n": ' + b"1" * 5000 + b"}")
    write(
        conf,
        "a-token.json",
        bundle("a-token", GIT, repo_url=f"https://u:{SECRET}@github.com/a/r.git", tracking_ref="m"),
    )
    write(
        conf,
        "good.json",
        bundle("good", bucket_name="dag-bucket", prefix="etls/good/dags", refresh_interval=2),
    )
    state = tmp_path / "state"
    airflow_env.extra_env.update({**s3.client_env(), **activation_env(conf, state_path=state)})

    proc = start_processor(airflow_env)

    proc.wait_for(lambda: "good_team_hello" in airflow_env.dags("good"), timeout=120, what="the good DAG")
    assert proc.alive()
    assert set(airflow_env.bundles()) == {"good"}
    [last_good] = list(state.rglob("last_good.json"))
    assert '"good.json"' in last_good.read_text() and "a-token" not in last_good.read_text()
    for path in state.rglob("*"):
        assert not path.is_file() or SECRET not in path.read_text()
    assert SECRET not in proc.log_path.read_text()
