"""End to end: the stock `airflow dag-processor` with the S3 bundle in dag_bundle_config_list."""

from __future__ import annotations

import pytest

from tests.rig.airflow_env import dag_source


@pytest.mark.e2e
def test_dag_processor_sees_dag_appear_change_and_disappear(s3, bucket, airflow_env, start_processor):
    bucket.put({"team/hello.py": dag_source("s3_hello")})
    airflow_env.extra_env.update(s3.client_env())
    airflow_env.set_bundles(
        [
            {
                "name": "s3dags",
                "classpath": "airflow_bundles_ext.bundles.s3.S3DagBundle",
                "kwargs": {"bucket_name": "dag-bucket", "prefix": "dags/", "refresh_interval": 2},
            }
        ]
    )
    proc = start_processor(airflow_env)

    def dag():
        return airflow_env.dags("s3dags").get("s3_hello")

    first = proc.wait_for(lambda: dag() and dag().bundle_version, timeout=120, what="DAG s3_hello parsed")
    assert airflow_env.bundles()["s3dags"].version == first
    assert dag().relative_fileloc == "team/hello.py"
    assert (airflow_env.storage_path / "s3dags" / "versions" / first / "team/hello.py").is_file()

    bucket.put({"team/hello.py": dag_source("s3_hello", tasks=2)})
    second = proc.wait_for(
        lambda: dag().bundle_version if dag().bundle_version != first else None,
        timeout=90,
        what="a new bundle_version for s3_hello",
    )
    assert airflow_env.bundles()["s3dags"].version == second

    bucket.put({"team/hello.py": None, "other.txt": "keeps the bundle non-empty\n"})
    proc.wait_for(lambda: dag().is_stale, timeout=90, what="DAG s3_hello stale")
    assert airflow_env.bundles()["s3dags"].active
