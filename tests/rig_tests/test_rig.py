"""The rig itself: the stock DAG processor parses a LocalDagBundle into a real metadata DB."""

from __future__ import annotations

import pytest

from tests.rig.airflow_env import write_dag


def _run_local_bundle(env, start_processor) -> None:
    dags = env.home / "local-dags"
    write_dag(dags, "rig_smoke")
    env.set_bundles(
        [
            {
                "name": "local",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(dags)},
            }
        ]
    )
    proc = start_processor(env)
    proc.wait_for(lambda: "rig_smoke" in env.dags("local"), timeout=90, what="DAG rig_smoke in the DB")
    assert env.bundles()["local"].active
    (dags / "rig_smoke.py").unlink()
    proc.wait_for(lambda: env.dags("local")["rig_smoke"].is_stale, timeout=60, what="DAG rig_smoke stale")
    proc.stop()
    assert not proc.alive()


@pytest.mark.e2e
def test_stock_dag_processor_parses_local_bundle_into_sqlite(airflow_env, start_processor):
    _run_local_bundle(airflow_env, start_processor)


@pytest.mark.e2e
@pytest.mark.postgres
def test_stock_dag_processor_parses_local_bundle_into_postgres(pg_airflow_env, start_processor):
    _run_local_bundle(pg_airflow_env, start_processor)


def test_moto_rig_counts_requests_and_injects_faults(s3):
    from botocore.exceptions import ClientError

    client = s3.boto3_client()
    client.create_bucket(Bucket="rig-bucket")
    client.put_object(Bucket="rig-bucket", Key="a/b.py", Body=b"x" * 10)
    s3.reset_counts()
    s3.add_faults({"op": "GetObject", "action": "status", "status": 503, "code": "SlowDown"})
    with pytest.raises(ClientError) as err:
        client.get_object(Bucket="rig-bucket", Key="a/b.py")
    assert err.value.response["Error"]["Code"] == "SlowDown"
    assert client.get_object(Bucket="rig-bucket", Key="a/b.py")["Body"].read() == b"x" * 10
    counts = s3.counts()
    assert counts.op("GetObject") == 2
    assert counts.op("ListObjectsV2") == 0


def test_git_remote_commits_and_tags(git_remote):
    from tests.rig.git import git

    remote = git_remote()
    first = remote.commit({"dags/a.py": "x = 1\n"})
    remote.tag("v1.0.0")
    second = remote.commit({"dags/a.py": "x = 2\n"})
    refs = git("ls-remote", remote.url)
    assert f"{second}\trefs/heads/main" in refs
    assert f"{first}\trefs/tags/v1.0.0" in refs
