"""Activation through the ``airflow_local_settings.py`` line, and a directory-only bundle's task
run by ``airflow dags test`` in a separate process."""

from __future__ import annotations

import textwrap

import pytest

from airflow_bundles_ext.watcher.demo import LOCAL_BUNDLE, write_bundle_file

pytestmark = pytest.mark.e2e


def _task_dag(dag_id: str, marker) -> str:
    return textwrap.dedent(
        f"""
        from airflow.sdk import DAG, task

        with DAG(dag_id={dag_id!r}, schedule=None):
            @task
            def mark():
                open({str(marker)!r}, "w").write("ran")

            mark()
        """
    )


def test_local_settings_line_activates_and_dags_test_runs_directory_bundle_task(
    airflow_env, start_processor, tmp_path
):
    env = airflow_env
    watch_dir, dags, marker = tmp_path / "conf", tmp_path / "dags-b", tmp_path / "marker"
    watch_dir.mkdir()
    dags.mkdir()
    (dags / "job.py").write_text(_task_dag("team_b_job", marker))
    # The option is set only inside local settings: the policy entry point (loaded earlier) sees
    # nothing, so only the documented one-line import can switch the watcher on here.
    config = env.home / "config"
    config.mkdir()
    (config / "airflow_local_settings.py").write_text(
        "import os\n"
        f"os.environ['AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_PATH'] = {str(watch_dir)!r}\n"
        "import airflow_bundles_ext.activate  # noqa: F401\n"
    )
    assert "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_PATH" not in env.env()
    env.extra_env["AIRFLOW__BUNDLES_EXT__ALLOWED_CLASSPATHS"] = LOCAL_BUNDLE  # the platform allows it

    proc = start_processor(env)
    write_bundle_file(watch_dir, "team-b", kwargs={"path": str(dags)})
    proc.wait_for(lambda: "team_b_job" in env.dags("team-b"), timeout=120, what="team_b_job parsed")

    env.airflow("dags", "test", "team_b_job", timeout=180)

    assert marker.read_text() == "ran"
    runs = env.query("select state from dag_run where dag_id = 'team_b_job'")
    assert [r.state for r in runs] == ["success"]
    # `dags test` synced bundles to the DB: it must not have switched the directory bundle off.
    assert env.bundles()["team-b"].active
    assert not env.dags("team-b")["team_b_job"].is_stale
