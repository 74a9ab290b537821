"""End to end: the stock ``airflow dag-processor`` on a release-mode bundle follows releases
published by ``airflow-bundle-release`` and a rollback."""

from __future__ import annotations

import pytest

from tests.release.conftest import BUCKET, ROOT, ReleaseRig
from tests.rig.airflow_env import dag_source

pytestmark = pytest.mark.e2e


def test_the_dag_processor_follows_a_new_release_and_a_rollback(s3, tmp_path, airflow_env, start_processor):
    release = ReleaseRig(s3, tmp_path)
    release.write({"hello.py": dag_source("release_hello")})
    v1 = release.publish().out["version"]
    airflow_env.extra_env.update(s3.client_env())
    kwargs = {
        "bucket_name": BUCKET,
        "prefix": "etls/project-a/dags",
        "release_mode": True,
        "refresh_interval": 1,
    }
    airflow_env.set_bundles(
        [{"name": "rel", "classpath": "airflow_bundles_ext.bundles.s3.S3DagBundle", "kwargs": kwargs}]
    )
    proc = start_processor(airflow_env)

    def dag():
        return airflow_env.dags("rel").get("release_hello")

    proc.wait_for(lambda: dag() and dag().bundle_version == v1, timeout=120, what="release_hello at v1")
    release.write({"hello.py": dag_source("release_hello", tasks=2)})
    v2 = release.publish("--expect-current", v1).out["version"]
    proc.wait_for(lambda: dag().bundle_version == v2, timeout=90, what="release_hello at v2")
    assert airflow_env.bundles()["rel"].version == v2

    assert release.run("rollback", ROOT, v1, "--expect-current", v2).code == 0
    proc.wait_for(
        lambda: airflow_env.bundles()["rel"].version == v1, timeout=90, what="the bundle back at v1"
    )
    assert (airflow_env.storage_path / "rel" / "versions" / v1 / "hello.py").is_file()
