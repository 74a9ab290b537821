"""A task of a file-defined S3 bundle runs through the stock scheduler and the LocalExecutor.

The whole path a real deployment takes, on one host: the DAG processor loads the bundle from
the watched directory and parses the DAG at a bundle version; ``airflow dags trigger`` creates
a run; the scheduler queues the task on the LocalExecutor, whose worker process resolves the
bundle by name and the run's version (``DagBundlesManager().get_bundle(name, version)`` in the
task runner, patched in that process too) and talks to the Execution API of a stock
``airflow api-server``. Cheaper alternatives prove less: ``airflow dags test`` runs the task
in-process without an executor, and ``dags test --use-executor`` only knows the
``dags-folder`` bundle. Runs on both Airflow lines in CI.
"""

from __future__ import annotations

import textwrap
import urllib.request

import pytest

from airflow_bundles_ext.watcher.demo import write_bundle_file
from tests.bundles.s3.conftest import Bucket
from tests.rig.moto import free_port

pytestmark = pytest.mark.e2e

S3_BUNDLE = "airflow_bundles_ext.bundles.s3.S3DagBundle"


def _dag(marker) -> str:
    return textwrap.dedent(
        f"""
        from airflow.sdk import DAG, task

        with DAG(dag_id="team_l_job", schedule=None):
            @task
            def where_am_i():
                # The file the worker loaded: it names the bundle version tree it ran from.
                open({str(marker)!r}, "w").write(__file__)

            where_am_i()
        """
    )


def _healthy(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def test_local_executor_runs_a_file_defined_bundle_task_at_the_run_bundle_version(
    airflow_env, watch_dir, s3, start_processor, start_airflow, tmp_path
):
    env = airflow_env
    assert env.env()["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    marker = tmp_path / "marker"
    Bucket(s3).put({"team_l/job.py": _dag(marker)})
    port = free_port()
    env.extra_env.update(
        {
            **s3.client_env(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS": S3_BUNDLE,
        }
    )
    write_bundle_file(watch_dir, "team-l", S3_BUNDLE, {"bucket_name": "dag-bucket", "prefix": "dags"})

    api = start_airflow(env, "api-server", "--apps", "execution", "--host", "127.0.0.1", "--port", str(port))
    processor = start_processor(env)
    scheduler = start_airflow(env, "scheduler")
    dag = processor.wait_for(
        lambda: env.dags("team-l").get("team_l_job"), timeout=120, what="team_l_job parsed"
    )
    api.wait_for(lambda: _healthy(f"http://127.0.0.1:{port}/execution/health"), timeout=90, what="api-server")

    env.airflow("dags", "trigger", "team_l_job")

    def finished():
        rows = env.query("select state, bundle_version from dag_run where dag_id = 'team_l_job'")
        return rows if rows and rows[0].state in ("success", "failed") else None

    [run] = scheduler.wait_for(finished, timeout=150, what="team_l_job run finished")
    [ti] = env.query(
        "select ti.state, j.job_type from task_instance ti "
        "join job j on j.id = ti.queued_by_job_id where ti.dag_id = 'team_l_job'"
    )
    assert (run.state, ti.state) == ("success", "success"), scheduler.log_tail()
    assert ti.job_type == "SchedulerJob"  # queued by the scheduler's executor, not run in-process
    assert run.bundle_version == dag.bundle_version == env.bundles()["team-l"].version
    ran_from = env.storage_path / "team-l" / "versions" / run.bundle_version / "team_l" / "job.py"
    assert marker.read_text() == str(ran_from)
