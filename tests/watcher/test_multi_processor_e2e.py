"""Two stock DAG processors with different watched directories on one PostgreSQL DB never
deactivate each other's bundles (apache/airflow #69963); a processor deactivates a bundle of its
own directory that was deleted while it was down."""

from __future__ import annotations

import pytest

from airflow_bundles_ext.watcher.demo import (
    LOCAL_BUNDLE,
    activation_env,
    remove_bundle_file,
    write_bundle_file,
)
from tests.rig.airflow_env import write_dag

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def _live(env, bundle):
    return {d for d, row in env.dags(bundle).items() if not row.is_stale}


def test_processors_with_different_directories_only_deactivate_their_own(
    pg_airflow_env, start_processor, tmp_path
):
    env = pg_airflow_env
    dir_a, dir_b = tmp_path / "conf-a", tmp_path / "conf-b"
    for name in ("a1", "a2", "b1"):
        write_dag(tmp_path / f"dags-{name}", f"dag_{name}")
        write_bundle_file(
            dir_a if name.startswith("a") else dir_b, name, kwargs={"path": str(tmp_path / f"dags-{name}")}
        )
    env.set_bundles([])
    env.extra_env["AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS"] = LOCAL_BUNDLE  # the platform allows it

    proc_a = start_processor(env, log_name="proc-a.log", **activation_env(dir_a))
    proc_a.wait_for(lambda: {"dag_a1", "dag_a2"} <= set(env.dags()), timeout=120, what="A's DAGs")
    # B starts after A: the stock start-up sync would deactivate every bundle B does not know.
    proc_b = start_processor(env, log_name="proc-b.log", **activation_env(dir_b))
    proc_b.wait_for(lambda: "dag_b1" in _live(env, "b1"), timeout=120, what="B's DAG")
    assert {n: r.active for n, r in env.bundles().items()} == {"a1": True, "a2": True, "b1": True}

    # A file deleted in B's directory: B deactivates its bundle; A's stay.
    remove_bundle_file(dir_b, "b1")
    proc_b.wait_for(lambda: not env.bundles()["b1"].active, timeout=60, what="b1 inactive")
    proc_b.wait_for(lambda: not _live(env, "b1"), timeout=60, what="b1 DAGs stale")
    assert env.bundles()["a1"].active and env.bundles()["a2"].active

    # A file deleted while A is down: A deactivates that bundle when it starts again.
    proc_a.stop()
    remove_bundle_file(dir_a, "a2")
    proc_a = start_processor(env, log_name="proc-a-again.log", **activation_env(dir_a))
    proc_a.wait_for(lambda: not env.bundles()["a2"].active, timeout=120, what="a2 inactive after restart")
    assert not _live(env, "a2")
    assert env.bundles()["a1"].active and _live(env, "a1") == {"dag_a1"}
    assert proc_b.alive()
