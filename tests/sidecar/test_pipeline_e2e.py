"""The blog's pipeline end to end: a bundle JSON uploaded to S3 -> sidecar -> watcher -> DAGs.

The real console script syncs from the moto server into the directory the stock
``airflow dag-processor`` watches (switched on by the env var alone); the DAGs appear in
the metadata DB, and go stale when the object is deleted.
"""

from __future__ import annotations

import pytest

from airflow_bundles_ext.watcher.demo import activation_env
from tests.rig.airflow_env import write_dag
from tests.sidecar.conftest import LOCAL_CLASSPATH, WITH_LOCAL, bundle_json

pytestmark = pytest.mark.e2e


def test_uploaded_bundle_json_reaches_the_processor_and_its_deletion_retires_the_dags(
    rig, airflow_env, start_processor, tmp_path
):
    env = airflow_env
    dags, other = tmp_path / "team-a-dags", tmp_path / "team-b-dags"
    write_dag(dags, "team_a_pipeline")
    write_dag(other, "team_b_pipeline")
    rig.dir.mkdir()
    # The platform lets its files use LocalDagBundle here, so the processor parses real DAG files.
    allow = {"AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS": WITH_LOCAL}
    env.extra_env.update({**activation_env(rig.dir), **allow})
    sidecar = rig.start(interval=0.5, **allow)
    proc = start_processor(env)

    rig.put("team-b.json", bundle_json("team-b", path=str(other), classpath=LOCAL_CLASSPATH))
    rig.put("team-a.json", bundle_json("team-a", path=str(dags), classpath=LOCAL_CLASSPATH))  # what CI does
    proc.wait_for(
        lambda: (
            "team_a_pipeline" in env.dags("team-a") and not env.dags("team-a")["team_a_pipeline"].is_stale
        ),
        timeout=120,
        what="team_a_pipeline visible",
    )
    assert env.bundles()["team-a"].active
    assert sidecar.health()["files"] == 2

    # Retire one pipeline with one S3 delete (deleting the last one would need ALLOW_EMPTY=true).
    rig.delete("team-a.json")
    sidecar.wait_for(lambda: not (rig.dir / "team-a.json").exists(), what="team-a.json removed")
    proc.wait_for(
        lambda: env.dags("team-a")["team_a_pipeline"].is_stale, timeout=90, what="team_a_pipeline stale"
    )
    assert not env.bundles()["team-a"].active
    assert env.bundles()["team-b"].active and not env.dags("team-b")["team_b_pipeline"].is_stale
    assert sidecar.stop() == 0
